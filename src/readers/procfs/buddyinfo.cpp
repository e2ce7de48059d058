#include <fmt/format.h>

#include <bit>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "readers/text.hpp"

// <procfs>/buddyinfo: free pages per order, and how fragmented they are.
namespace memopt::readers {

using detail::Lines;
using detail::next_field;
using detail::to_u64;
using detail::trim;

model::Fragmentation parse_buddyinfo(std::string_view text, std::uint64_t page_size,
                                     std::string_view source) {
  model::Fragmentation result;
  Lines lines(text);
  bool any = false;
  // More free pages than 2^64 bytes hold cannot be real; the cap also keeps the sums from wrapping.
  constexpr std::uint64_t kMaxFreePages = std::uint64_t{1} << 52;
  std::uint64_t all_pages = 0;
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    // "Node 0, zone   Normal    527    487 ..."
    std::string_view rest = *line;
    const std::string_view node = next_field(rest);
    const std::string_view node_id = next_field(rest);
    const std::string_view zone = next_field(rest);
    const std::string_view zone_name = next_field(rest);
    if (node != "Node" || node_id.empty() || node_id.back() != ',' || zone != "zone" ||
        zone_name.empty()) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'Node N, zone NAME counts...', got '{}'", *line));
    }
    std::size_t order = 0;
    for (std::string_view field = next_field(rest); !field.empty();
         field = next_field(rest), ++order) {
      const auto blocks = to_u64(field);
      if (!blocks || order >= 32 || *blocks > (kMaxFreePages - all_pages) >> order) {
        throw parse_error(source, lines.number(), fmt::format("bad free-block count '{}'", field));
      }
      if (result.free_pages_by_order.size() <= order) result.free_pages_by_order.resize(order + 1);
      result.free_pages_by_order[order] += *blocks << order;
      all_pages += *blocks << order;
    }
    if (order == 0) throw parse_error(source, lines.number(), "no free-block counts");
    any = true;
  }
  if (!any) throw parse_error(source, 0, "no zones listed");

  // The order whose blocks are 2 MiB: 9 with 4 KiB pages, 5 with 64 KiB pages.
  const std::size_t huge_order =
      page_size >= 2 * kMiB ? 0 : static_cast<std::size_t>(std::countr_zero(2 * kMiB / page_size));
  std::uint64_t total = 0;
  std::uint64_t unusable = 0;
  for (std::size_t k = 0; k < result.free_pages_by_order.size(); ++k) {
    total += result.free_pages_by_order[k];
    if (k < huge_order) unusable += result.free_pages_by_order[k];
  }
  result.unusable_free_percent_order9 =
      total == 0 ? 0.0 : 100.0 * (static_cast<double>(unusable) / static_cast<double>(total));
  return result;
}

std::optional<model::Fragmentation> read_fragmentation(const Roots& roots,
                                                       std::vector<model::Note>& notes) {
  const std::string path = roots.procfs + "/buddyinfo";
  try {
    const auto text = sys::read_optional(path);
    if (!text) {
      notes.push_back({"no_buddyinfo", fmt::format("fragmentation unknown: {} is absent", path)});
      return std::nullopt;
    }
    return parse_buddyinfo(*text, roots.page_size_bytes, path);
  } catch (const Error& e) {
    // buddyinfo only feeds the fragmentation figures: the rest of the report stands.
    notes.push_back({"buddyinfo_unreadable", fmt::format("fragmentation unknown: {}", e.what())});
    return std::nullopt;
  }
}

}  // namespace memopt::readers
