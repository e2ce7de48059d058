#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "memopt/model/target.hpp"

// Raw values at one instant, as read from the kernel and NVML. Sizes are bytes throughout.
// An absent optional means "unknown or not applicable" and is never replaced by a made-up 0.
namespace memopt::model {

/// The host's memory from `<procfs>/meminfo` (any kernel; MemAvailable since 3.14).
struct HostMemory {
  std::uint64_t total_bytes = 0;      ///< MemTotal
  std::uint64_t free_bytes = 0;       ///< MemFree
  std::uint64_t available_bytes = 0;  ///< MemAvailable, or the estimate below
  /// True when MemAvailable was absent and MemFree + Buffers + Cached - Shmem stands in.
  bool available_estimated = false;
  std::optional<std::uint64_t> buffers_bytes;     ///< Buffers
  std::optional<std::uint64_t> cached_bytes;      ///< Cached
  std::optional<std::uint64_t> shmem_bytes;       ///< Shmem (since 2.6.32)
  std::optional<std::uint64_t> swap_total_bytes;  ///< SwapTotal
  std::optional<std::uint64_t> swap_free_bytes;   ///< SwapFree
};

/// Pressure stall information for memory (`memory.pressure`, `<procfs>/pressure/memory`;
/// Linux 4.20+). Values are the kernel's percentages of wall time (0-100).
struct Pressure {
  double some_avg10 = 0;
  double some_avg60 = 0;
  double some_avg300 = 0;
  double full_avg10 = 0;
  double full_avg60 = 0;
  double full_avg300 = 0;
};

/// The memory controller's view of the process's own cgroup.
struct CgroupMemory {
  int version = 0;   ///< 1 (v1 memory controller, also on hybrid hosts) or 2
  std::string path;  ///< the cgroup path as in `<procfs>/self/cgroup`, e.g. "/kubepods/pod1/ctr"
  /// The effective limit: the smallest among the cgroup and its visible ancestors; absent when
  /// none is set (v2 "max"; v1 values near 2^63).
  std::optional<std::uint64_t> limit_bytes;
  std::uint64_t usage_bytes = 0;  ///< v2 memory.current; v1 memory.usage_in_bytes
  /// usage - inactive_file, clamped at 0; the whole usage when memory.stat is unreadable.
  std::uint64_t working_set_bytes = 0;
  std::optional<std::uint64_t> inactive_file_bytes;  ///< absent when memory.stat is unreadable
  std::optional<std::uint64_t> active_file_bytes;
  std::optional<std::uint64_t> anon_bytes;   ///< v2 anon; v1 total_rss
  std::optional<std::uint64_t> file_bytes;   ///< v2 file; v1 total_cache
  std::optional<std::uint64_t> shmem_bytes;  ///< v2 shmem; v1 total_shmem
  /// v2 memory.swap.max (smallest among ancestors); v1 memsw limit - memory limit.
  /// Absent when unlimited or when swap accounting is off (see swap_accounting).
  std::optional<std::uint64_t> swap_limit_bytes;
  std::optional<std::uint64_t> swap_usage_bytes;  ///< v2 memory.swap.current; v1 memsw - usage
  bool swap_accounting = false;                   ///< the swap files exist
  std::optional<std::uint64_t> peak_bytes;        ///< v2 memory.peak (5.19+); v1 max_usage
  std::optional<std::uint64_t> oom_events;        ///< v2 memory.events "oom"
  std::optional<std::uint64_t> oom_kill_events;   ///< v2 "oom_kill"; v1 oom_control (4.13+)
  std::optional<bool> under_oom;                  ///< v1 oom_control under_oom
  std::optional<Pressure> pressure;               ///< the cgroup's memory.pressure (v2 tree)
};

/// One process's memory. RSS counts shared pages in full for every process that maps them;
/// PSS divides them among the sharers; USS is what would come back if the process exited.
struct ProcessMemory {
  int pid = 0;
  std::string name;  ///< `comm`; command lines are never read (they carry secrets)
  std::uint64_t rss_bytes = 0;
  std::optional<std::uint64_t> pss_bytes;   ///< smaps_rollup Pss (4.14+)
  std::optional<std::uint64_t> uss_bytes;   ///< Private_Clean + Private_Dirty
  std::optional<std::uint64_t> swap_bytes;  ///< smaps_rollup Swap
};

/// Free memory by buddy-allocator order from `<procfs>/buddyinfo`, summed over zones.
struct Fragmentation {
  /// free_pages_by_order[k]: pages free in blocks of order k (blocks * 2^k).
  std::vector<std::uint64_t> free_pages_by_order;
  /// Share of free pages that sit in blocks too small for an order-9 (2 MiB) request, 0-100.
  double unusable_free_percent_order9 = 0;
};

/// How an NVML process entry was matched to a process visible in `<procfs>`.
enum class GpuAttribution {
  kNone,        ///< not matched: the process's GPU memory counts in the unattributed total
  kPid,         ///< NVML's pid is visible and memopt's procfs is in the namespace NVML reports
  kSelfReport,  ///< a process embedding memopt reported torch memory that fits the entry's bytes
  kElimination  ///< the only candidate left holding the device file open, for the only entry left
};

/// What `<procfs>` showed of the process behind an NVML entry, for the GPU verdicts
/// (analysis/gpu_verdicts.hpp). Read only where NVML's pid means a process here: the entry was
/// matched (`local_pid`), or `<procfs>` is of the initial pid namespace, where NVML's pids live.
struct GpuProcessLife {
  /// False: no `<procfs>/<pid>` (the process is gone; its context outlived it).
  bool exists = false;
  char state = 0;  ///< stat's state letter ('Z': a zombie, exited, not reaped)
  int ppid = 0;    ///< stat's ppid
  int pgid = 0;    ///< stat's process group
  int sid = 0;     ///< stat's session
  /// No process `pgid` exists any more (the process that started the group exited); false
  /// when the process leads its group itself.
  bool group_leader_gone = false;
  /// The parent is the init of a pid namespace (its innermost NSpid is 1): where orphans go.
  bool parent_is_init = false;
  std::optional<int> parent_sid;  ///< the parent's session, when readable
  /// LOCAL_RANK from `<procfs>/<pid>/environ` (torchrun, torch.distributed.launch); no other
  /// variable is kept but CUDA_VISIBLE_DEVICES below, and neither is ever printed.
  std::optional<int> local_rank;
  /// CUDA_VISIBLE_DEVICES split at commas (indices or UUIDs), to map the rank's CUDA ordinal to
  /// a GPU; absent when the variable is unset or the environ unreadable.
  std::optional<std::vector<std::string>> cuda_visible_devices;
};

/// A process using a GPU, from NVML's running-process lists.
struct GpuProcess {
  std::uint32_t pid = 0;                    ///< as NVML reports it: a pid of the host
  std::optional<std::string> name;          ///< comm of `local_pid` when it is known
  std::optional<std::uint64_t> used_bytes;  ///< absent when NVML reports "not available"
  GpuAttribution attributed_by = GpuAttribution::kNone;
  std::optional<int> local_pid;  ///< the process in `<procfs>` the entry belongs to, when matched
  /// Absent when NVML's pid cannot be looked up here (another pid namespace, not matched).
  std::optional<GpuProcessLife> life;
};

/// A process holding a GPU's device file /dev/nvidiaN open (`<procfs>/PID/fd`).
struct GpuFileHolder {
  int pid = 0;
  std::optional<std::string> name;  ///< comm
};

/// One GPU's memory from NVML.
struct GpuDevice {
  unsigned index = 0;
  std::string name;
  std::string uuid;
  std::uint64_t total_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t free_bytes = 0;
  std::optional<std::uint64_t> reserved_bytes;  ///< nvmlDeviceGetMemoryInfo_v2 only
  /// False when NVML refuses the memory query (a MIG parent seen from a container given one of
  /// its slices): the byte fields above are then 0 and mean nothing.
  bool memory_known = true;
  std::vector<GpuProcess> processes;
  /// False when NVML could not list the processes (NOT_SUPPORTED on MIG under vGPU, errors):
  /// `processes` is then incomplete and no process's GPU memory can be taken as 0.
  bool processes_known = true;
  /// N of the device file /dev/nvidiaN (nvmlDeviceGetMinorNumber; for a MIG instance, its
  /// parent's). Not NVML's index. Absent when NVML does not say.
  std::optional<unsigned> minor_number;
  /// The processes here holding /dev/nvidia<minor_number> open, memopt left out: read only when
  /// an entry of this GPU looks orphaned (gone, a zombie, its group's starter gone), as the
  /// `fuser -v /dev/nvidia*` a user would run. Absent when not read or not readable.
  std::optional<std::vector<GpuFileHolder>> file_holders;
  /// With file_holders: the processes whose open files memopt may not read (another user's,
  /// without root), so one of them may be the holder.
  std::size_t file_holders_unreadable = 0;
};

/// One CUDA device's caching allocator in a process that embeds memopt, as it reported it.
struct TorchDeviceMemory {
  unsigned device = 0;                ///< the CUDA ordinal in that process (not NVML's index)
  std::optional<std::string> uuid;    ///< the device's UUID as torch gives it, when it does
  std::uint64_t allocated_bytes = 0;  ///< torch.cuda.memory_allocated
  std::uint64_t reserved_bytes = 0;   ///< torch.cuda.memory_reserved
  std::optional<std::uint64_t> peak_allocated_bytes;    ///< torch.cuda.max_memory_allocated
  std::optional<std::uint64_t> context_bytes_estimate;  ///< the process's guess of its context
  bool operator==(const TorchDeviceMemory&) const = default;
};

/// A model a ModelCache in that process holds.
struct HeldModel {
  std::string name;
  std::optional<std::uint64_t> bytes;  ///< the cost charged to the cache's budget
  std::optional<double> idle_seconds;  ///< since its last use
  bool operator==(const HeldModel&) const = default;
};

/// A loop forecast a process that embeds memopt said (memopt.forecast, memopt::LoopForecast), as
/// its `stats` answer carries it ("forecasts", docs/report-schema.md).
struct LoopForecastReport {
  /// 1, 2, ... within that process: with `at_unix_seconds`, what makes each forecast one.
  std::uint64_t sequence = 0;
  double at_unix_seconds = 0;          ///< when it was said (that process's wall clock)
  double bytes_per_item = 0;           ///< the fitted growth per item (> 0)
  std::uint64_t item = 0;              ///< the items done when it was said
  std::uint64_t limit_item = 0;        ///< the item after which the limit is reached (>= item)
  std::optional<std::uint64_t> total;  ///< the loop's items, when known
  std::optional<double> seconds_left;  ///< until limit_item at the pace then, when known
  std::optional<std::uint64_t> limit_bytes;  ///< the memory figure the loop meets
  std::string message;  ///< the process's own sentence (made printable), with the fix
  bool operator==(const LoopForecastReport&) const = default;
};

/// What a process that embeds memopt said about itself over its cleanup socket (`stats`).
struct ProcessStats {
  int pid = 0;
  std::optional<std::string> name;   ///< comm
  std::optional<std::string> error;  ///< why there is no answer (then nothing else is set)
  std::vector<TorchDeviceMemory> torch;
  std::vector<HeldModel> models;
  /// The latest loop forecasts it said, oldest first; entries that are not whole are left out
  /// and said in `forecasts_note`.
  std::vector<LoopForecastReport> forecasts;
  std::optional<std::string> forecasts_note;
};

/// A remark about a source that is absent or partly readable ("no PSI: ... absent").
struct Note {
  std::string id;       ///< stable identifier, e.g. "no_psi"
  std::string message;  ///< one sentence for people, naming the source
};

/// One entry of the target's /dev/shm.
struct ShmFile {
  std::string name;              ///< the entry's name in the directory (printable() before output)
  std::string type;              ///< "regular", "symlink", "directory" or "other"
  std::uint64_t size_bytes = 0;  ///< st_size
  std::uint64_t allocated_bytes = 0;  ///< st_blocks * 512: the memory tmpfs holds for it
  std::uint64_t inode = 0;
  bool other_filesystem = false;  ///< its st_dev is not the directory's (a mount on top)
  /// The pid in its name: `torch_<pid>_...` (torch's file_system sharing), `pym-<pid>-...`
  /// (multiprocessing's heap arenas). Absent for other names (`pymp-*`, `psm_*`, `sem.*`).
  std::optional<int> owner_pid;
  /// Whether the owner is alive; absent when there is no owner or its liveness cannot be
  /// judged (memopt sees another pid namespace than the one the owner's pid belongs to).
  std::optional<bool> owner_alive;
  /// Processes that hold it open (`<procfs>/*/fd`) or mapped (`<procfs>/*/maps`), ascending.
  std::vector<int> holders;
  /// A regular file on that tmpfs whose owner is dead and that no process holds: memory that
  /// nothing will ever free but an unlink (`memopt cleanup` sweeps these).
  bool orphan = false;
};

/// The target's /dev/shm: its size and use, and its files by owner.
struct ShmLedger {
  std::string path;            ///< the directory read: "/dev/shm" or "/proc/PID/root/dev/shm"
  std::optional<int> via_pid;  ///< the process whose mount namespace it was reached through
  bool tmpfs = false;          ///< statfs says tmpfs (else nothing in it is swept)
  unsigned device_major = 0;   ///< the directory's st_dev, as /proc/PID/maps writes it
  unsigned device_minor = 0;
  std::uint64_t size_bytes = 0;  ///< the file system's size (tmpfs size=, else half of RAM)
  std::uint64_t used_bytes = 0;  ///< its used blocks: every file's pages, held or not
  std::uint64_t file_count = 0;  ///< every entry, also those past the listed ones
  std::uint64_t files_allocated_bytes = 0;  ///< summed allocated_bytes of the listed files
  std::uint64_t orphan_bytes = 0;           ///< allocated bytes of the orphans
  std::uint64_t orphan_files = 0;
  /// Whether owners' liveness could be judged (memopt in the pid namespace of the process the
  /// directory was reached through); when false no file is an orphan.
  bool owners_judged = false;
  /// Files by allocated bytes, largest first; at most kMaxShmFiles.
  std::vector<ShmFile> files;
  bool files_truncated = false;  ///< more entries than were stat'ed (file_count says how many)
};

/// Everything one report needs, read at one instant.
struct Sample {
  std::chrono::system_clock::time_point timestamp;
  Target target;  ///< what was watched
  HostMemory host;
  std::optional<Pressure> host_pressure;  ///< `<procfs>/pressure/memory`: the whole host's
  std::optional<CgroupMemory> cgroup;     ///< absent: host scope, or unknown (below)
  /// Why the target's memory cgroup could not be read when the target names one: the level is
  /// then unknown and no memory figure is shown as the container's.
  std::optional<std::string> cgroup_unreadable;
  std::vector<ProcessMemory> processes;  ///< sorted by PSS (RSS where unknown), largest first
  /// True when `processes` lists every visible process (the host target, or memopt's own
  /// cgroup without a limit: host scope); false when only the target cgroup's subtree.
  bool processes_host_wide = true;
  /// `report --containers`: each leaf memory cgroup under the target with a limit.
  std::vector<CgroupMemory> containers;
  std::vector<GpuDevice> gpus;
  /// `report`: the processes of the target serving a cleanup socket, asked for their `stats`.
  std::vector<ProcessStats> process_stats;
  std::optional<Fragmentation> fragmentation;
  std::vector<Note> notes;
  /// The target's /dev/shm ledger; absent when not read (or not mounted, with a note).
  std::optional<ShmLedger> shm;
};

}  // namespace memopt::model
