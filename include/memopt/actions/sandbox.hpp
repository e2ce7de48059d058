#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/sizing.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/fs.hpp"

// `memopt run`'s local stand-in for `docker run --memory`: a fresh child memory cgroup.
namespace memopt::actions {

/// A child memory cgroup of this process's own cgroup, made for one command and removed
/// (after killing whatever is left in it) when destroyed.
class Sandbox {
 public:
  /// Creates `memopt-run-<pid>` under the memory cgroup `own` (v1 or hybrid: the memory
  /// hierarchy; v2: needs the memory controller delegated to children) and applies `limit`
  /// (memory.limit_in_bytes / memory.max) and `swap` (v1 memsw = limit + swap; v2
  /// memory.swap.max). Throws Error saying why when that is not possible here.
  static std::unique_ptr<Sandbox> create(const readers::CgroupLocation& own,
                                         std::optional<std::uint64_t> limit,
                                         std::optional<std::uint64_t> swap);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  /// Where the cgroup is, for readers::read_cgroup_at.
  [[nodiscard]] const readers::CgroupLocation& location() const { return location_; }
  /// Its `cgroup.procs`, for sys::SpawnOptions::cgroup_procs.
  [[nodiscard]] std::string procs_file() const { return location_.dir + "/cgroup.procs"; }
  /// The processes in it now.
  [[nodiscard]] std::vector<int> pids() const;

  /// Usage, inactive page cache, working set and the kernel's usage peak since the previous
  /// call (v1: memory.max_usage_in_bytes, then reset by writing 0; v2: memory.peak, which
  /// Linux cannot reset through a plain write, so the run's peak so far) into `sample`.
  /// Throws Error when a required file is missing or malformed.
  void read(analysis::RunSample& sample);

  /// SIGKILL to every process in it (v2 cgroup.kill where there is one).
  void kill_all();
  /// Kills every process left in it and removes the directory; true when it is gone.
  bool remove();

 private:
  explicit Sandbox(readers::CgroupLocation location) : location_(std::move(location)) {}
  readers::CgroupLocation location_;
  bool removed_ = false;
};

/// Removes the `memopt-run-<pid>` cgroups under `own` whose memopt is gone (no process
/// `<pid>`, one that is not memopt, or this very pid: a leftover of a killed run), killing
/// what still runs in them. Returns the directories removed; `problems` gets those that could
/// not be.
std::vector<std::string> sweep_orphaned_sandboxes(const readers::CgroupLocation& own,
                                                  const std::string& procfs,
                                                  std::vector<std::string>& problems);

/// `own` and its ancestors up to the hierarchy's root, innermost first, as the room check
/// needs them. Levels whose files cannot be read are left out.
[[nodiscard]] std::vector<analysis::EnclosingCgroup> enclosing_cgroups(
    const readers::CgroupLocation& own);

/// Where OOM kills of the enclosing container are counted: the outermost cgroup around memopt
/// with a limit (v1: the sum of memory.oom_control's oom_kill over its subtree, since v1 counts
/// a kill only in the victim's own cgroup; v2: its hierarchical memory.events), or the host's
/// `<procfs>/vmstat` oom_kill when no cgroup around memopt has a limit.
struct OomScope {
  std::optional<readers::CgroupLocation> cgroup;  ///< absent: the host
  std::string description;                        ///< "cgroup /a/b" or "the host"
};

/// The scope for memopt's own cgroup `own` (absent: the host).
[[nodiscard]] OomScope oom_scope(const std::optional<readers::CgroupLocation>& own);

/// OOM kills counted so far in `scope`; absent when the counter cannot be read.
[[nodiscard]] std::optional<std::uint64_t> count_oom_kills(const OomScope& scope,
                                                           const std::string& procfs);

}  // namespace memopt::actions
