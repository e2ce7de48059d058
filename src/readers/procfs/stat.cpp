#include <fmt/format.h>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "readers/text.hpp"

// <procfs>/<pid>/stat: a process's state, parent and start time; the process tree.
namespace memopt::readers {

using detail::next_field;
using detail::to_u64;
using detail::trim;

ProcStat parse_proc_stat(std::string_view text, std::string_view source) {
  text = trim(text);  // a line cut short ends in its newline
  const auto close = text.rfind(')');
  std::string_view rest =
      close == std::string_view::npos ? std::string_view{} : text.substr(close + 1);
  auto pid = [](std::string_view field) -> std::optional<int> {
    const auto n = to_u64(field);
    if (!n || *n > 0x7fffffff) return std::nullopt;
    return static_cast<int>(*n);
  };
  const std::string_view state = next_field(rest);
  const auto ppid = pid(next_field(rest));
  const bool letter = state.size() == 1 && ((state[0] >= 'A' && state[0] <= 'Z') ||
                                            (state[0] >= 'a' && state[0] <= 'z'));
  if (!letter || !ppid) throw parse_error(source, 1, "expected 'pid (comm) state ppid ...'");
  ProcStat stat;
  stat.state = state.front();
  stat.ppid = *ppid;
  stat.pgrp = pid(next_field(rest));
  stat.session = pid(next_field(rest));
  next_field(rest);  // 7: tty_nr
  next_field(rest);  // 8: tpgid, -1 without a terminal
  stat.flags = to_u64(next_field(rest));
  for (int field = 10; field < 22; ++field) next_field(rest);
  stat.start_ticks = to_u64(next_field(rest));
  return stat;
}

std::vector<int> read_process_tree(const Roots& roots, int root) {
  std::vector<std::pair<int, int>> parent_of;  // (pid, ppid)
  std::string text;
  for (const int pid : sys::list_pids(roots.procfs)) {
    const std::string path = fmt::format("{}/{}/stat", roots.procfs, pid);
    if (sys::read_into(path, text) != 0) continue;
    parent_of.emplace_back(pid, parse_proc_stat(text, path).ppid);
  }
  std::vector<int> tree{root};
  // Breadth first over the parent links; trees are small, a quadratic walk is fine.
  for (std::size_t i = 0; i < tree.size(); ++i) {
    for (const auto& [pid, ppid] : parent_of) {
      if (ppid == tree[i]) tree.push_back(pid);
    }
  }
  return tree;
}

}  // namespace memopt::readers
