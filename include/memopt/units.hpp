#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace memopt {

inline constexpr std::uint64_t kKiB = 1024;
inline constexpr std::uint64_t kMiB = 1024 * kKiB;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

/// a + b, or UINT64_MAX when the sum does not fit: sizes read from a hostile or broken tree
/// (2^64 - 1024 bytes beside 3.5 MiB) never wrap around to a small, believable number.
[[nodiscard]] constexpr std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/// Parses a size such as `512M`, `1.5G`, `2g`, `256MiB`, `1048576` (bytes) with binary units
/// (1K = 1024). Throws Error(kUsage) naming `what` (e.g. "--limit") on anything else, on
/// negative values and on values that overflow 64 bits.
[[nodiscard]] std::uint64_t parse_size(std::string_view text, std::string_view what);

/// Formats bytes for people: "512 B", "1.5 KiB", "870 MiB", "1.00 GiB" (3 significant digits).
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

}  // namespace memopt
