#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "memopt/units.hpp"

// The post-mortem's units in words, shared by the analysis (its descriptions and reasons) and
// the text and HTML views, so that all of them say a figure the same way.
namespace memopt::record::detail {

inline constexpr double kPostmortemMiB = 1024.0 * 1024.0;

/// Bytes as format_bytes says them; a negative figure is shown as 0.
inline std::string mib(double bytes) {
  return format_bytes(static_cast<std::uint64_t>(std::max(0.0, bytes)));
}

/// A growth rate in the unit that suits it: 100 MiB/s, not 6,000 MiB/min.
inline std::string rate(double bytes_per_second) {
  const double per_s = bytes_per_second / kPostmortemMiB;
  if (std::fabs(per_s) >= 1.0) return fmt::format("{:.1f} MiB/s", per_s);
  if (std::fabs(per_s * 60) >= 1.0) return fmt::format("{:.1f} MiB/min", per_s * 60);
  return fmt::format("{:.2f} MiB/h", per_s * 3600);
}

/// A duration in the unit that suits it.
inline std::string how_long(double seconds) {
  if (seconds < 120) return fmt::format("{:.0f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

}  // namespace memopt::record::detail
