#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "memopt/model/process_tree.hpp"
#include "memopt/sys/exit_watch.hpp"
#include "memopt/sys/fs.hpp"

// The target's process tree: parents, start times, executables and torch.distributed ranks.
namespace memopt::readers {

/// RANK, LOCAL_RANK and WORLD_SIZE of NUL-separated `<procfs>/PID/environ` text; a variable
/// that is absent or not a small non-negative number is absent. Nothing else is kept.
struct RankEnvironment {
  std::optional<int> rank;
  std::optional<int> local_rank;
  std::optional<int> world_size;
};
[[nodiscard]] RankEnvironment parse_rank_environment(std::string_view environ);

/// The Anonymous line of `<procfs>/PID/smaps_rollup` text, in bytes; absent when the line is
/// missing (kernels before 4.14 have no smaps_rollup) or malformed.
[[nodiscard]] std::optional<std::uint64_t> parse_rollup_anonymous(std::string_view smaps_rollup);

/// What a monitor remembers of each process's place in the tree between samples: its parent and
/// start time, which `<procfs>/PID/stat` gives and which cannot change while the process and
/// its parent live (a child is reparented only when its parent exits; exec keeps both). An
/// ExitWatch vouches for that: an entry is used only while its process and its parent are
/// watched and have not exited, so a pid reused by another process is read again. The
/// executable can change without an exit (exec): it is kept only while the process's figures
/// (name, RSS, PSS, USS, swap) are the very ones it had when the executable was looked at —
/// exec replaces the address space and the name, so they move — and examined again otherwise.
/// A group candidate's smaps_rollup and environment are read every sample.
class ProcessTreeCache {
 public:
  /// Without a watch (a captured tree, the /proc of another pid namespace) nothing is cached.
  explicit ProcessTreeCache(std::unique_ptr<sys::ExitWatch> watch = nullptr)
      : watch_(std::move(watch)) {}

  /// A cache for `roots`: pidfds when its procfs is this pid namespace's live one, else none.
  [[nodiscard]] static ProcessTreeCache for_roots(const Roots& roots);

  /// stat files the last read_process_nodes saved (hits) and read (misses).
  [[nodiscard]] std::size_t hits() const { return hits_; }
  [[nodiscard]] std::size_t misses() const { return misses_; }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }

 private:
  friend std::vector<model::ProcessNode> read_process_nodes(
      const Roots&, const std::vector<model::ProcessMemory>&, ProcessTreeCache*);
  struct Entry {
    int ppid = 0;
    std::uint64_t start_ticks = 0;
    /// The executable, looked at when the process had the figures `exe_seen_with`.
    std::optional<model::ExecutableId> exe;
    std::optional<model::ProcessMemory> exe_seen_with;
  };
  std::unique_ptr<sys::ExitWatch> watch_;
  std::unordered_map<int, Entry> entries_;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
};

/// The nodes of `processes` (one sample's, already read): each one's stat and executable, and
/// for processes that share their executable with their parent or a child (the only ones that
/// can be workers or ranks), fresh smaps_rollup figures (a cached figure can hide a worker
/// copying its parent's pages: its RSS does not move), the rank variables of their environment,
/// and for a parent of such children, its anonymous memory. A process that exits
/// while it is read is left out; one whose exe link cannot be followed (another user's) has
/// no executable and is never grouped. With a cache, the stat of a process whose entry still
/// holds (see ProcessTreeCache) is not read again.
[[nodiscard]] std::vector<model::ProcessNode> read_process_nodes(
    const Roots& roots, const std::vector<model::ProcessMemory>& processes,
    ProcessTreeCache* cache = nullptr);

}  // namespace memopt::readers
