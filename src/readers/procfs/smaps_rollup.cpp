#include <fmt/format.h>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "readers/procfs/fields.hpp"
#include "readers/text.hpp"

// <procfs>/<pid>/smaps_rollup: a process's RSS, PSS, USS and swap.
namespace memopt::readers {

using detail::kb_value;
using detail::Lines;
using detail::split_key;
using detail::trim;

std::optional<SmapsRollup> parse_smaps_rollup(std::string_view text, std::string_view source) {
  if (trim(text).empty()) return std::nullopt;
  std::optional<std::uint64_t> rss, pss, private_clean, private_dirty, swap;
  Lines lines(text);
  while (const auto line = lines.next()) {
    const auto kv = split_key(*line);
    // The header line is a VMA range ("5555-7fff ---p 0 00:00 0 [rollup]"): no "Key:" shape.
    if (!kv || kv->first.find(' ') != std::string_view::npos) continue;
    std::optional<std::uint64_t>* target = nullptr;
    if (kv->first == "Rss")
      target = &rss;
    else if (kv->first == "Pss")
      target = &pss;
    else if (kv->first == "Private_Clean")
      target = &private_clean;
    else if (kv->first == "Private_Dirty")
      target = &private_dirty;
    else if (kv->first == "Swap")
      target = &swap;
    else
      continue;
    *target = kb_value(kv->second, true);
    if (!*target) {
      throw parse_error(
          source, lines.number(),
          fmt::format("expected a number of kB for {}, got '{}'", kv->first, trim(kv->second)));
    }
  }
  if (!rss || !pss || !private_clean || !private_dirty) {
    throw parse_error(source, 0, "expected Rss, Pss, Private_Clean and Private_Dirty lines");
  }
  return SmapsRollup{*rss, *pss, saturating_add(*private_clean, *private_dirty), swap.value_or(0)};
}

}  // namespace memopt::readers
