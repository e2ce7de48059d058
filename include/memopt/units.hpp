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

/// Parses a size such as `512M`, `1.5G`, `2g`, `256MiB`, Kubernetes' `512Mi`, `1Gi`, `1Ki`,
/// `1Ti`, or `1048576` (bytes). Units are binary whatever the spelling (1K = 1Ki = 1024,
/// 1G = 1Gi = 2^30, as Docker reads `--memory=1g`); K, M, G, T, P, E with an optional B, iB or i,
/// any case. Throws Error(kUsage) naming `what` (e.g. "--limit") on anything else, on negative
/// values and on values that overflow 64 bits. This is the one size parser: flags, the config
/// file and Python's memopt.parse_size all use it.
[[nodiscard]] std::uint64_t parse_size(std::string_view text, std::string_view what);

/// The smallest memory limit accepted: Docker refuses `--memory` below 6 MiB, and a smaller
/// value is almost always a missing unit (`--limit 10`).
inline constexpr std::uint64_t kMinimumLimitBytes = 6 * kMiB;

/// parse_size() for a memory limit: also refuses 0 and anything below kMinimumLimitBytes with
/// a message that suggests the unit that was probably meant.
[[nodiscard]] std::uint64_t parse_limit(std::string_view text, std::string_view what);

/// Formats bytes for people: "512 B", "1.5 KiB", "870 MiB", "1.00 GiB" (3 significant digits).
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

/// Memory moves while a cleanup runs (other processes allocate, the page cache refills): a
/// release smaller than this is "nothing".
inline constexpr std::int64_t kReleaseNoiseBytes = std::int64_t{1} << 20;

/// What a cleanup released, for people, never as a negative figure: "1.20 GiB" from 1 MiB up,
/// "nothing" within kReleaseNoiseBytes either way, and a growth as
/// "nothing ({what_grew} grew by 3.00 MiB meanwhile)". JSON keeps the signed bytes.
[[nodiscard]] std::string format_released(std::int64_t bytes, std::string_view what_grew);

}  // namespace memopt
