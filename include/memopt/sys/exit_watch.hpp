#pragma once

#include <cstddef>
#include <memory>
#include <unordered_set>

// Which of a set of processes have exited, asked of the kernel in one poll(2) over their pidfds
// (Linux 5.3+) instead of reading each one's /proc/PID/stat: what a monitor caches about a
// process (its parent, its start time) holds exactly as long as that process has not exited.
namespace memopt::sys {

/// A watch on processes' exits. A pid watched and not reported exited by the last poll() still
/// names the process it named when watch() was called: a pid is not reused while its process
/// exists (a zombie counts as exited).
class ExitWatch {
 public:
  virtual ~ExitWatch() = default;
  /// Starts watching the process `pid` (a thread-group leader) names now; true when it is
  /// watched (already, or from now on), false when it cannot be: it has exited, pidfds are not
  /// supported, or the watch's descriptor budget is spent.
  virtual bool watch(int pid) = 0;
  /// Whether `pid` is watched and its process had not exited at the last poll().
  [[nodiscard]] virtual bool watching(int pid) const = 0;
  /// Asks which watched processes have exited; those are no longer watched.
  virtual void poll() = 0;
  /// Stops watching every pid not in `pids`.
  virtual void keep_only(const std::unordered_set<int>& pids) = 0;
  /// How many processes are watched.
  [[nodiscard]] virtual std::size_t size() const = 0;
};

/// An ExitWatch holding one pidfd per process, at most `max_descriptors` of them; the default
/// is descriptor_budget(kPidfdBudgetDivisor), half the soft RLIMIT_NOFILE, so that the rest of
/// the monitor keeps its descriptors.
/// Only meaningful for the live procfs of this pid namespace (sys::is_live_procfs).
[[nodiscard]] std::unique_ptr<ExitWatch> make_pidfd_exit_watch(std::size_t max_descriptors = 0);

}  // namespace memopt::sys
