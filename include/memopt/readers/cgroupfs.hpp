#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/model/target.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/kept_file.hpp"

// The memory controller of the target's cgroup, on v1, v2 and hybrid hosts.
namespace memopt::readers {

/// Parses a single-value cgroup file: a decimal number, or "max" (returns std::nullopt).
/// Throws Error on anything else (negative, non-numeric, empty).
[[nodiscard]] std::optional<std::uint64_t> parse_cgroup_limit(std::string_view text,
                                                              std::string_view source);

/// Parses a single decimal counter (memory.current, memory.usage_in_bytes, ...).
[[nodiscard]] std::uint64_t parse_cgroup_counter(std::string_view text, std::string_view source);

/// The fields memopt uses from memory.stat, for either version; absent when the key is.
struct CgroupStat {
  std::optional<std::uint64_t> inactive_file;  ///< v2 inactive_file; v1 total_inactive_file
  std::optional<std::uint64_t> active_file;    ///< v2 active_file; v1 total_active_file
  std::optional<std::uint64_t> anon;           ///< v2 anon; v1 total_rss
  std::optional<std::uint64_t> file;           ///< v2 file; v1 total_cache
  std::optional<std::uint64_t> shmem;          ///< v2 shmem; v1 total_shmem
  std::optional<std::uint64_t> hierarchical_memory_limit;  ///< v1 only
  std::optional<std::uint64_t> hierarchical_memsw_limit;   ///< v1 only
};

/// Parses memory.stat of cgroup `version` (1 or 2). Throws Error on a malformed line.
[[nodiscard]] CgroupStat parse_cgroup_stat(std::string_view text, int version,
                                           std::string_view source);

/// The OOM counters of v2 memory.events or v1 memory.oom_control.
struct OomCounters {
  std::optional<std::uint64_t> oom;       ///< v2 "oom"
  std::optional<std::uint64_t> oom_kill;  ///< v2 "oom_kill"; v1 "oom_kill" (4.13+)
  std::optional<bool> under_oom;          ///< v1 "under_oom"
};

/// Parses v2 memory.events or v1 memory.oom_control ("key value" lines).
[[nodiscard]] OomCounters parse_oom_counters(std::string_view text, std::string_view source);

/// v1 limits at or above this (2^62) mean "no limit": the kernel's unlimited value is
/// PAGE_COUNTER_MAX * PAGE_SIZE, just under 2^63, and rounds differently per architecture.
inline constexpr std::uint64_t kV1Unlimited = std::uint64_t{1} << 62;

/// Where a memory cgroup lives on this host.
struct CgroupLocation {
  int version = 0;    ///< 1 (v1 memory hierarchy, also on hybrid hosts) or 2
  std::string mount;  ///< the hierarchy's mount, e.g. "<sysfs>/fs/cgroup/memory"
  std::string dir;    ///< the cgroup's directory under `mount`
  std::string path;   ///< the cgroup path as `<procfs>/self/cgroup` names it
  /// The v2 directory whose memory.pressure belongs to this cgroup (v2; hybrid when the v2
  /// cgroup has the same path), if any.
  std::optional<std::string> pressure_dir;
};

/// Where the target's memory cgroup is, or why it cannot be read.
struct TargetCgroup {
  /// Absent for the host target, where no memory controller applies (host scope), and when
  /// `unreadable` says why.
  std::optional<CgroupLocation> location;
  /// Set when the target names a memory cgroup that cannot be found or read (no such pid or
  /// cgroup, the memory hierarchy not mounted under `<sysfs>`): the report is then *unknown*,
  /// never the host's figures presented as the container's.
  std::optional<std::string> unreadable;
  /// With `unreadable`: the target is gone — its process exited (or is a zombie, whose cgroup
  /// file reads "/" on v1), or its cgroup was removed — rather than never found.
  bool gone = false;
};

/// Finds the target's memory cgroup under `<sysfs>/fs/cgroup`: memopt's own or a process's
/// (`<procfs>/{self,PID}/cgroup`, remapped when a container sees only its own subtree), or a
/// cgroup named by path (exactly; a directory under the mount or a path as /proc writes it).
/// A process whose cgroup has no memory controller enabled is host scope, with a note.
/// Never the root cgroup by fallback: a process's cgroup that is not under the mount (removed,
/// or another tree), a process that exited or is a zombie (its cgroup file reads "/" on v1),
/// is unknown with what was looked for; only the host target (`--cgroup /`) is the host.
[[nodiscard]] TargetCgroup locate_target(const Roots& roots, const model::Target& target,
                                         std::vector<model::Note>& notes);

/// locate_target() for memopt's own cgroup, without the reason when it cannot be read.
[[nodiscard]] std::optional<CgroupLocation> locate_cgroup(const Roots& roots,
                                                          std::vector<model::Note>& notes);

/// Which processes belong to a cgroup's subtree, judged by `<procfs>/<pid>/cgroup`.
class CgroupMembership {
 public:
  /// Members of the cgroup at `location` and its descendants.
  explicit CgroupMembership(const CgroupLocation& location);

  /// Whether `cgroup_file` (the text of /proc/PID/cgroup) puts the process in the subtree;
  /// absent when its path lies outside this cgroup namespace ("/../ctr").
  [[nodiscard]] std::optional<bool> contains(std::string_view cgroup_file) const;

  /// Whether process `pid` is in the subtree; absent when its cgroup file cannot be read
  /// (it exited, or the tree has none). A process outside memopt's cgroup namespace is looked
  /// up in the subtree's cgroup.procs files instead.
  [[nodiscard]] std::optional<bool> contains_pid(const std::string& procfs, int pid) const;

 private:
  int version_;
  std::string path_;
  std::string dir_;
  mutable std::string buffer_;
  mutable std::optional<std::vector<int>> listed_;  ///< the subtree's cgroup.procs, read once
};

/// The pids that the cgroup.procs files of the cgroup at `location` and of every cgroup below
/// it list (as this pid namespace sees them), sorted; absent when one of them cannot be read
/// (a cgroup removed while it was walked, a tree without the files). One read per cgroup
/// where CgroupMembership reads one file per process.
[[nodiscard]] std::optional<std::vector<int>> read_member_pids(const CgroupLocation& location);

/// Every leaf memory cgroup (a cgroup without child cgroups) at or below `under`'s directory,
/// or in the whole memory hierarchy under `<sysfs>` when `under` is absent (the host), found
/// without reading any memory file: the caller reads each (read_cgroup_at) and keeps those
/// with a limit. Directories that vanish while walking are skipped; at most `max_leaves`.
[[nodiscard]] std::vector<CgroupLocation> list_leaf_cgroups(
    const Roots& roots, const std::optional<CgroupLocation>& under, std::vector<model::Note>& notes,
    std::size_t max_leaves = 4096);

/// Reads the memory controller of the cgroup at `location`; the limit is the smallest among
/// the cgroup and its ancestors up to the mount. Throws Error only when the usage or a limit
/// file is missing, unreadable or malformed: every other file (memory.stat, swap, peak, OOM
/// counts, memory.pressure) that is unreadable or malformed leaves its fields absent, with a
/// note naming the file and line; without memory.stat the working set is the whole usage.
[[nodiscard]] model::CgroupMemory read_cgroup_at(const CgroupLocation& location,
                                                 std::vector<model::Note>& notes);

/// The few counters a monitor reads many times a second.
struct CgroupCounters {
  std::uint64_t usage_bytes = 0;
  std::uint64_t working_set_bytes = 0;  ///< usage - inactive_file, clamped at 0
  std::optional<std::uint64_t> oom_kill_events;
};

/// Reads usage, memory.stat's inactive file cache and the OOM-kill counter, nothing else.
/// Throws Error when the usage is missing or malformed; an unreadable memory.stat makes the
/// working set the whole usage, unreadable OOM counts leave them absent (as read_cgroup_at).
/// With `kept`, the files stay open between calls (a monitor's quick readings).
[[nodiscard]] CgroupCounters read_cgroup_counters(const CgroupLocation& location,
                                                  sys::KeptFiles* kept = nullptr);

/// Finds the process's cgroup (`<procfs>/self/cgroup`) under `<sysfs>/fs/cgroup` and reads
/// its memory controller. Absent, with a note, when no memory controller is mounted or
/// enabled. Throws Error when a file that must be there is malformed.
[[nodiscard]] std::optional<model::CgroupMemory> read_cgroup(const Roots& roots,
                                                             std::vector<model::Note>& notes);

}  // namespace memopt::readers
