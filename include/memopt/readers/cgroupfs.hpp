#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"

// The memory controller of the process's own cgroup, on v1, v2 and hybrid hosts.
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

/// Finds the process's cgroup (`<procfs>/self/cgroup`) under `<sysfs>/fs/cgroup`. Absent, with
/// a note, when no memory controller is mounted or enabled for it.
[[nodiscard]] std::optional<CgroupLocation> locate_cgroup(const sys::Roots& roots,
                                                          std::vector<model::Note>& notes);

/// Reads the memory controller of the cgroup at `location`; the limit is the smallest among
/// the cgroup and its ancestors up to the mount. Throws Error when a required file (usage,
/// memory.stat) is missing or any file is malformed.
[[nodiscard]] model::CgroupMemory read_cgroup_at(const CgroupLocation& location,
                                                 std::vector<model::Note>& notes);

/// The few counters a monitor reads many times a second.
struct CgroupCounters {
  std::uint64_t usage_bytes = 0;
  std::uint64_t working_set_bytes = 0;  ///< usage - inactive_file, clamped at 0
  std::optional<std::uint64_t> oom_kill_events;
};

/// Reads usage, memory.stat's inactive file cache and the OOM-kill counter, nothing else.
/// Throws Error when usage or memory.stat is missing or malformed.
[[nodiscard]] CgroupCounters read_cgroup_counters(const CgroupLocation& location);

/// Finds the process's cgroup (`<procfs>/self/cgroup`) under `<sysfs>/fs/cgroup` and reads
/// its memory controller. Absent, with a note, when no memory controller is mounted or
/// enabled. Throws Error when a file that must be there is malformed.
[[nodiscard]] std::optional<model::CgroupMemory> read_cgroup(const sys::Roots& roots,
                                                             std::vector<model::Note>& notes);

}  // namespace memopt::readers
