#include <fmt/format.h>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "readers/procfs/fields.hpp"
#include "readers/text.hpp"

// <procfs>/<pid>/status: a process's thread count.
namespace memopt::readers {

using detail::Lines;
using detail::split_key;
using detail::to_u64;
using detail::trim;

unsigned parse_status_threads(std::string_view text, std::string_view source) {
  Lines lines(text);
  while (const auto line = lines.next()) {
    const auto kv = split_key(*line);
    if (!kv || kv->first != "Threads") continue;
    const auto value = to_u64(trim(kv->second));
    if (!value || *value > 0xffffffffu) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected a thread count, got '{}'", trim(kv->second)));
    }
    return static_cast<unsigned>(*value);
  }
  throw parse_error(source, 0, "Threads is missing");
}

std::optional<unsigned> read_thread_count(const Roots& roots, int pid) {
  const std::string path = fmt::format("{}/{}/status", roots.procfs, pid);
  std::string text;
  if (sys::read_into(path, text) != 0) return std::nullopt;
  return parse_status_threads(text, path);
}

}  // namespace memopt::readers
