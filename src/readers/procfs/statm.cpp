#include <fmt/format.h>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "readers/text.hpp"

// <procfs>/<pid>/statm: a process's resident set, in pages.
namespace memopt::readers {

using detail::next_field;
using detail::to_u64;
using detail::trim;

std::uint64_t parse_statm_rss(std::string_view text, std::uint64_t page_size,
                              std::string_view source) {
  std::string_view rest = trim(text);
  const std::string_view size = next_field(rest);
  const std::string_view resident = next_field(rest);
  const auto pages = to_u64(resident);
  if (!to_u64(size) || !pages || *pages > UINT64_MAX / page_size) {
    throw parse_error(source, 1,
                      fmt::format("expected 'size resident ...' in pages, got '{}'", trim(text)));
  }
  return *pages * page_size;
}

}  // namespace memopt::readers
