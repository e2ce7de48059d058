#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "memopt/units.hpp"
#include "readers/text.hpp"

// The "Key:   value kB" lines that meminfo, smaps_rollup and status share.
namespace memopt::readers::detail {

/// Parses the value of a "Key:   123 kB" line (the part after the colon) into bytes.
/// Lines without a unit (HugePages_Total) are plain counts and returned as they are, unless
/// `require_kb`: a size that lost its unit (a file cut short) must not pass for bytes.
inline std::optional<std::uint64_t> kb_value(std::string_view rest, bool require_kb) {
  const std::string_view number = next_field(rest);
  const std::string_view unit = next_field(rest);
  if (!trim(rest).empty()) return std::nullopt;
  const auto value = to_u64(number);
  if (!value) return std::nullopt;
  if (unit.empty()) return require_kb ? std::nullopt : value;
  if (unit != "kB" || *value > UINT64_MAX / kKiB) return std::nullopt;
  return *value * kKiB;
}

/// Splits "Key: value" at the colon; std::nullopt when there is none.
inline std::optional<std::pair<std::string_view, std::string_view>> split_key(
    std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  return std::pair{line.substr(0, colon), line.substr(colon + 1)};
}

}  // namespace memopt::readers::detail
