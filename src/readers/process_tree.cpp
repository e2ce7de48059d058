#include "memopt/readers/process_tree.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "memopt/error.hpp"
#include "memopt/readers/facts.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/pidfd.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

using detail::next_field;
using detail::to_u64;

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

namespace {

/// The parent and start time of `pid` from its stat; absent when it exited or cannot be placed
/// in the tree (no parent, no start time to tell a reused parent pid).
std::optional<std::pair<int, std::uint64_t>> read_place(const Roots& roots, int pid,
                                                        std::string& path, std::string& text) {
  path = fmt::format("{}/{}/stat", roots.procfs, pid);
  if (sys::read_into(path, text) != 0) return std::nullopt;  // exited since its memory was read
  try {
    const auto stat = parse_proc_stat(text, path);
    if (!stat.start_ticks) return std::nullopt;
    return std::pair{stat.ppid, *stat.start_ticks};
  } catch (const Error&) {
    return std::nullopt;
  }
}

/// The file `<procfs>/PID/exe` names, as device and inode; absent when the link cannot be
/// followed (another user's process, one that exited).
std::optional<model::ExecutableId> read_executable(const Roots& roots, int pid) {
  const auto id = sys::file_id(fmt::format("{}/{}/exe", roots.procfs, pid));
  if (!id) return std::nullopt;
  return model::ExecutableId{static_cast<std::uint64_t>(id->device),
                             static_cast<std::uint64_t>(id->inode)};
}

/// Whether a process shows exactly the figures it had before: exec would have changed them.
bool same_figures(const model::ProcessMemory& a, const model::ProcessMemory& b) {
  return a.name == b.name && a.rss_bytes == b.rss_bytes && a.pss_bytes == b.pss_bytes &&
         a.uss_bytes == b.uss_bytes && a.swap_bytes == b.swap_bytes;
}

}  // namespace

ProcessTreeCache ProcessTreeCache::for_roots(const Roots& roots) {
  if (!sys::is_live_procfs(roots.procfs)) return ProcessTreeCache();
  return ProcessTreeCache(sys::make_pidfd_exit_watch());
}

std::vector<model::ProcessNode> read_process_nodes(
    const Roots& roots, const std::vector<model::ProcessMemory>& processes,
    ProcessTreeCache* cache) {
  std::vector<model::ProcessNode> nodes;
  nodes.reserve(processes.size());
  std::string path;
  std::string text;
  sys::ExitWatch* watch = cache != nullptr ? cache->watch_.get() : nullptr;
  if (watch != nullptr) {
    cache->hits_ = 0;
    cache->misses_ = 0;
    // An entry holds while its process and its parent live: exec keeps both, and a child is
    // reparented only when its parent exits.
    watch->poll();
    std::erase_if(cache->entries_, [&](const auto& item) {
      return !watch->watching(item.first) ||
             (item.second.ppid > 0 && !watch->watching(item.second.ppid));
    });
  }
  // A new entry: its executable is looked at below, in the same sample.
  const auto remember = [&](int pid, std::pair<int, std::uint64_t> place) {
    auto& entry = cache->entries_[pid];
    entry = {};
    entry.ppid = place.first;
    entry.start_ticks = place.second;
  };
  for (const auto& p : processes) {
    std::optional<std::pair<int, std::uint64_t>> place;
    if (watch != nullptr) {
      if (const auto it = cache->entries_.find(p.pid); it != cache->entries_.end()) {
        place = std::pair{it->second.ppid, it->second.start_ticks};
        ++cache->hits_;
      } else {
        ++cache->misses_;
        // Watched first: the stat read after it is of the watched process, or of a successor
        // the next poll() reports (the watched one exited).
        const bool watched = watch->watch(p.pid);
        place = read_place(roots, p.pid, path, text);
        if (place && watched && (place->first <= 0 || watch->watching(place->first))) {
          remember(p.pid, *place);
        } else if (place && watched && watch->watch(place->first)) {
          // The parent is watched from now on: if it had already exited (its pid perhaps
          // reused), the child was reparented before, and its stat says so now.
          const auto again = read_place(roots, p.pid, path, text);
          if (again && *again == *place) remember(p.pid, *place);
          place = again;
        }
      }
    } else {
      place = read_place(roots, p.pid, path, text);
    }
    if (!place) continue;
    model::ProcessNode node;
    node.ppid = place->first;
    node.start_ticks = place->second;
    node.memory = p;
    ProcessTreeCache::Entry* entry = nullptr;
    if (watch != nullptr) {
      if (const auto it = cache->entries_.find(p.pid); it != cache->entries_.end()) {
        entry = &it->second;
      }
    }
    if (entry != nullptr && entry->exe_seen_with && same_figures(*entry->exe_seen_with, p)) {
      node.exe = entry->exe;
    } else {
      node.exe = read_executable(roots, p.pid);
      if (entry != nullptr) {
        entry->exe = node.exe;
        entry->exe_seen_with = p;
      }
    }
    nodes.push_back(std::move(node));
  }
  std::unordered_map<int, const model::ProcessNode*> by_pid;
  for (const auto& n : nodes) by_pid.emplace(n.memory.pid, &n);
  std::vector<bool> candidate(nodes.size(), false);
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const auto parent = by_pid.find(nodes[i].ppid);
    if (parent == by_pid.end() || !nodes[i].exe || nodes[i].exe != parent->second->exe) continue;
    candidate[i] = true;
    const auto p = static_cast<std::size_t>(parent->second - nodes.data());
    candidate[p] = true;
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
      // A parent's Anonymous is what its workers can copy at most; a worker's, less its USS,
      // what it still shares with the parent (what the parent allocated after the fork is not
      // in it).
      nodes[i].anon_bytes = parse_rollup_anonymous(text);
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
    // Never onto itself: libstdc++'s string self-move empties a short name.
    if (kept != i) nodes[kept] = std::move(nodes[i]);
    ++kept;
  }
  nodes.resize(kept);
  if (watch != nullptr) {
    // Forget the processes gone from the sample; keep watching the parents of those that stay.
    std::unordered_set<int> keep;
    keep.reserve(processes.size() * 2);
    for (const auto& p : processes) keep.insert(p.pid);
    std::erase_if(cache->entries_, [&](const auto& item) { return !keep.contains(item.first); });
    for (const auto& [pid, entry] : cache->entries_) {
      if (entry.ppid > 0) keep.insert(entry.ppid);
    }
    watch->keep_only(keep);
  }
  return nodes;
}

}  // namespace memopt::readers
