#include "memopt/readers/process_tree.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <unordered_map>

#include "memopt/error.hpp"
#include "memopt/readers/facts.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/pidfd.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

using detail::next_field;
using detail::to_u64;

ProcStat parse_proc_stat(std::string_view text, std::string_view source) {
  const auto close = text.rfind(')');
  std::string_view rest =
      close == std::string_view::npos ? std::string_view{} : text.substr(close + 1);
  const std::string_view state = next_field(rest);
  const auto ppid = to_u64(next_field(rest));
  // Fields 5 to 21 (pgrp ... itrealvalue), then starttime.
  for (int i = 5; i <= 21; ++i) next_field(rest);
  const auto start = to_u64(next_field(rest));
  if (state.size() != 1 || !ppid || *ppid > 0x7fffffff || !start) {
    throw parse_error(source, 1, "expected 'pid (comm) state ppid ... starttime ...'");
  }
  return {static_cast<int>(*ppid), *start};
}

RankEnvironment parse_rank_environment(std::string_view environ) {
  auto number = [&](std::string_view name) -> std::optional<int> {
    const auto value = parse_environ_value(environ, name);
    if (!value) return std::nullopt;
    const auto n = to_u64(*value);
    if (!n || *n > 1'000'000) return std::nullopt;
    return static_cast<int>(*n);
  };
  return {number("RANK"), number("LOCAL_RANK"), number("WORLD_SIZE")};
}

std::optional<std::uint64_t> parse_rollup_anonymous(std::string_view smaps_rollup) {
  while (!smaps_rollup.empty()) {
    const auto newline = smaps_rollup.find('\n');
    std::string_view line = smaps_rollup.substr(0, newline);
    if (line.starts_with("Anonymous:")) {
      line.remove_prefix(10);
      const auto kb = to_u64(next_field(line));
      if (!kb || next_field(line) != "kB" || *kb > (UINT64_MAX >> 10)) return std::nullopt;
      return *kb << 10;
    }
    if (newline == std::string_view::npos) break;
    smaps_rollup.remove_prefix(newline + 1);
  }
  return std::nullopt;
}

std::vector<model::ProcessNode> read_process_nodes(
    const sys::Roots& roots, const std::vector<model::ProcessMemory>& processes) {
  std::vector<model::ProcessNode> nodes;
  nodes.reserve(processes.size());
  std::string path;
  std::string text;
  for (const auto& p : processes) {
    path = fmt::format("{}/{}/stat", roots.procfs, p.pid);
    if (sys::read_into(path, text) != 0) continue;  // exited since its memory was read
    model::ProcessNode node;
    try {
      const auto stat = parse_proc_stat(text, path);
      node.ppid = stat.ppid;
      node.start_ticks = stat.start_ticks;
    } catch (const Error&) {
      continue;  // a process that cannot be placed in the tree is left out of every group
    }
    node.memory = p;
    if (const auto id = sys::file_id(fmt::format("{}/{}/exe", roots.procfs, p.pid))) {
      node.exe = model::ExecutableId{static_cast<std::uint64_t>(id->device),
                                     static_cast<std::uint64_t>(id->inode)};
    }
    nodes.push_back(std::move(node));
  }
  std::unordered_map<int, const model::ProcessNode*> by_pid;
  for (const auto& n : nodes) by_pid.emplace(n.memory.pid, &n);
  std::vector<bool> candidate(nodes.size(), false);
  std::vector<bool> parent_of_workers(nodes.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto parent = by_pid.find(nodes[i].ppid);
    if (parent == by_pid.end() || !nodes[i].exe || nodes[i].exe != parent->second->exe) continue;
    candidate[i] = true;
    const auto p = static_cast<std::size_t>(parent->second - nodes.data());
    candidate[p] = true;
    parent_of_workers[p] = true;
  }
  std::vector<bool> gone(nodes.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (!candidate[i]) continue;
    // Fresh figures: a monitor's process cache keeps a process whose statm did not move, and
    // a worker copying its parent's pages keeps the same RSS while its USS climbs.
    path = fmt::format("{}/{}/smaps_rollup", roots.procfs, nodes[i].memory.pid);
    if (const int err = sys::read_into(path, text); err == 0) {
      try {
        if (const auto rollup = parse_smaps_rollup(text, path)) {
          nodes[i].memory.rss_bytes = rollup->rss_bytes;
          nodes[i].memory.pss_bytes = rollup->pss_bytes;
          nodes[i].memory.uss_bytes = rollup->uss_bytes;
          nodes[i].memory.swap_bytes = rollup->swap_bytes;
        } else {
          gone[i] = true;  // exited while it was read: an empty rollup
          continue;
        }
      } catch (const Error&) {
        // Keep the sample's figures: what was read with them stands.
      }
      if (parent_of_workers[i]) nodes[i].anon_bytes = parse_rollup_anonymous(text);
    } else if (err == ESRCH ||
               (sys::is_absent_errno(err) &&
                !sys::exists(fmt::format("{}/{}/stat", roots.procfs, nodes[i].memory.pid)))) {
      // Exited (a kernel before 4.14 has no smaps_rollup but still the process's stat).
      gone[i] = true;
      continue;
    }
    if (sys::read_into(fmt::format("{}/{}/environ", roots.procfs, nodes[i].memory.pid), text) !=
        0) {
      continue;
    }
    const auto env = parse_rank_environment(text);
    nodes[i].rank = env.rank;
    nodes[i].local_rank = env.local_rank;
    nodes[i].world_size = env.world_size;
  }
  std::size_t kept = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    if (gone[i]) continue;
    // Never a self-move: libstdc++ clears a short string moved onto itself (the names).
    if (kept != i) nodes[kept] = std::move(nodes[i]);
    ++kept;
  }
  nodes.resize(kept);
  return nodes;
}

}  // namespace memopt::readers
