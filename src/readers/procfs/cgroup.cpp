#include <fmt/format.h>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "readers/text.hpp"

// <procfs>/self/cgroup (and <pid>/cgroup): the cgroups a process belongs to.
namespace memopt::readers {

using detail::Lines;
using detail::to_u64;
using detail::trim;

std::vector<CgroupLine> parse_proc_cgroup(std::string_view text, std::string_view source) {
  std::vector<CgroupLine> result;
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    const auto first = line->find(':');
    const auto second = first == std::string_view::npos ? first : line->find(':', first + 1);
    if (second == std::string_view::npos) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'ID:controllers:path', got '{}'", *line));
    }
    const auto id = to_u64(line->substr(0, first));
    const std::string_view path = line->substr(second + 1);
    if (!id || *id > 1'000'000 || path.empty() || path.front() != '/') {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'ID:controllers:/path', got '{}'", *line));
    }
    CgroupLine entry;
    entry.hierarchy_id = static_cast<int>(*id);
    entry.path = std::string(path);
    std::string_view controllers = line->substr(first + 1, second - first - 1);
    while (!controllers.empty()) {
      const auto comma = controllers.find(',');
      entry.controllers.emplace_back(controllers.substr(0, comma));
      controllers =
          comma == std::string_view::npos ? std::string_view{} : controllers.substr(comma + 1);
    }
    result.push_back(std::move(entry));
  }
  if (result.empty()) throw parse_error(source, 0, "no cgroup lines");
  return result;
}

}  // namespace memopt::readers
