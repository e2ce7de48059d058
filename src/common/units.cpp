#include "memopt/units.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "memopt/error.hpp"

namespace memopt {

namespace {

std::uint64_t unit_multiplier(std::string_view suffix) {
  std::string lower;
  for (const char c : suffix)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  // Accept K, KB, KiB and Kubernetes' Ki (all binary: the seed and Docker use 1g = 2^30, and
  // `recommend` prints Kubernetes quantities such as 1536Mi that must paste back into --limit).
  if (lower.empty() || lower == "b") return 1;
  constexpr std::string_view kPrefixes = "kmgtpe";
  const auto pos = kPrefixes.find(lower[0]);
  if (pos == std::string_view::npos) return 0;
  const std::string_view rest = std::string_view(lower).substr(1);
  if (!rest.empty() && rest != "b" && rest != "i" && rest != "ib") return 0;
  std::uint64_t m = 1;
  for (std::size_t i = 0; i <= pos; ++i) m *= 1024;
  return m;
}

}  // namespace

std::uint64_t parse_size(std::string_view text, std::string_view what) {
  const auto bad = [&](std::string_view why) {
    return Error(
        fmt::format("{}: invalid size '{}': {} (examples: 512M, 1.5G, 2g, 512Mi, 1Gi, 1048576)",
                    what, text, why),
        Error::Kind::kUsage);
  };
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) != 0 || text[end] == '.'))
    ++end;
  const std::string_view number = text.substr(0, end);
  const std::string_view suffix = text.substr(end);
  if (text.empty()) throw bad("empty (give a size, or leave the flag out)");
  if (number.empty()) throw bad("expected a number");
  const std::uint64_t multiplier = unit_multiplier(suffix);
  if (multiplier == 0) throw bad("unknown unit");

  if (number.find('.') == std::string_view::npos) {
    std::uint64_t value = 0;
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc() || ptr != number.data() + number.size()) throw bad("too large");
    if (value > UINT64_MAX / multiplier) throw bad("too large");
    return value * multiplier;
  }
  double value = 0;
  const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (ec != std::errc() || ptr != number.data() + number.size()) throw bad("expected a number");
  const double bytes = std::round(value * static_cast<double>(multiplier));
  if (!(bytes < 18446744073709551616.0)) throw bad("too large");
  return static_cast<std::uint64_t>(bytes);
}

std::uint64_t parse_limit(std::string_view text, std::string_view what) {
  const std::uint64_t bytes = parse_size(text, what);
  if (bytes == 0) {
    throw Error(fmt::format("{}: a limit of 0 bytes would stop the command before it starts; give "
                            "a size such as 512M or 2Gi",
                            what),
                Error::Kind::kUsage);
  }
  if (bytes < kMinimumLimitBytes) {
    // Only a bare number can be missing its unit: `5M` has one and is just too small.
    const bool bare = text.find_first_not_of("0123456789.") == std::string_view::npos;
    throw Error(fmt::format("{}: '{}' is {} bytes, below the {} MiB minimum Docker accepts ({})",
                            what, text, bytes, kMinimumLimitBytes / kMiB,
                            bare ? fmt::format("a unit missing? e.g. {}M or {}Gi", text, text)
                                 : fmt::format("give at least {}M", kMinimumLimitBytes / kMiB)),
                Error::Kind::kUsage);
  }
  return bytes;
}

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < kKiB) return fmt::format("{} B", bytes);
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  if (value >= 100) return fmt::format("{:.0f} {}", value, kUnits[unit]);
  if (value >= 10) return fmt::format("{:.1f} {}", value, kUnits[unit]);
  return fmt::format("{:.2f} {}", value, kUnits[unit]);
}

std::string format_released(std::int64_t bytes, std::string_view what_grew) {
  if (bytes >= kReleaseNoiseBytes) return format_bytes(static_cast<std::uint64_t>(bytes));
  if (bytes > -kReleaseNoiseBytes) return "nothing";
  return fmt::format("nothing ({} grew by {} meanwhile)", what_grew,
                     format_bytes(std::uint64_t{0} - static_cast<std::uint64_t>(bytes)));
}

}  // namespace memopt
