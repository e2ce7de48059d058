#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/actions/actuator.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/model/target.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/sys/fs.hpp"

// `memopt cleanup`: returns memory for real, measures what came back, and says plainly what
// it could not do. It never signals or kills a process.
namespace memopt::actions {

/// What cleanup should do.
struct CleanupOptions {
  model::Target target;     ///< whose cgroup is reclaimed and judged (memopt's own by default)
  bool aggressive = false;  ///< drop_caches "3" instead of "1", and compact_memory
  /// Plan only: nothing is written and no process is asked; steps that could run are
  /// reported as "planned". Pair with a RecordingActuator.
  bool dry_run = false;
  /// Where cooperating processes' sockets are (sys::runtime_directories_to_scan()).
  std::vector<std::string> runtime_dirs;
  /// How long the cooperating processes may take to answer, all together: they are asked in
  /// parallel under this one deadline (connect and read included).
  std::chrono::milliseconds request_timeout{30000};
  /// The request sent on each socket: "cleanup", or "shed" (`monitor --protect`).
  std::string request{protocol::request_name(protocol::Request::kCleanup)};
  /// Remove the orphans of the target's /dev/shm (the "shm_orphans" step).
  bool sweep_shm = true;
  /// The directory to sweep instead of the target's /dev/shm (tests; owners are then judged in
  /// memopt's own pid namespace).
  std::optional<std::string> shm_dir;
  /// Sweep only the orphans named for this pid (protection's sweep after its victim is gone);
  /// every other rule of the step is the same.
  std::optional<int> shm_owner;
};

/// One orphan of the target's /dev/shm: a regular file of that tmpfs whose owner pid (from its
/// name) is dead and that no process holds open or mapped.
struct ShmRemoval {
  std::string name;  ///< printable() already
  std::optional<int> owner_pid;
  std::uint64_t bytes = 0;  ///< allocated bytes: what removing it gives back
  std::string status;       ///< "removed", "planned" (dry run) or "failed"
  std::string reason;       ///< why it failed; empty otherwise
};

/// The memory that cleanup is judged by, at one instant.
struct MemoryState {
  std::optional<std::uint64_t> container_usage_bytes;        ///< the cgroup's usage
  std::optional<std::uint64_t> container_working_set_bytes;  ///< usage - inactive_file
  std::uint64_t host_available_bytes = 0;                    ///< MemAvailable
  std::uint64_t host_used_bytes = 0;                         ///< MemTotal - MemAvailable
};

/// One process that registered with serve_cleanup().
struct CooperatingProcess {
  int pid = 0;
  std::string socket;
  std::optional<std::string> name;  ///< comm
  std::string status;               ///< "done", "skipped", "failed" or "planned"
  std::string reason;
  std::optional<std::uint64_t> rss_before_bytes;   ///< from procfs, before asking
  std::optional<std::uint64_t> rss_after_bytes;    ///< from procfs, after its answer
  std::optional<std::int64_t> released_bytes;      ///< as the process itself measured it
  std::optional<std::int64_t> gpu_released_bytes;  ///< summed over its steps, when known
  /// torch's cached GPU memory before the cleanup (reserved - allocated, over its devices), as
  /// its `stats` answer said: what empty_cache can give back. Absent when it did not say.
  std::optional<std::uint64_t> torch_cache_bytes;
};

/// Reads a cooperating process's one-line JSON answer to `request` ("cleanup", "shed" or
/// "ping") into `process`: its status, reason and what it says it released. An answer that is
/// not JSON, or not possible (more than the RSS the process held, figures that do not fit),
/// makes the process "failed" with the reason; nothing in it is taken then.
void apply_cleanup_answer(std::string_view answer, std::string_view request,
                          CooperatingProcess& process);

/// One step: "cooperative", "cgroup_reclaim", "drop_caches", "compact_memory".
struct CleanupStepReport {
  std::string name;
  std::string status;  ///< "done", "skipped", "failed", or "planned" (dry run)
  std::string reason;  ///< empty when there is nothing to say
  /// The drop of the memory this container is charged for (cgroup usage, else host used)
  /// across the step; negative when it grew. Absent for steps that did not run. Includes the
  /// inactive page cache the step dropped.
  std::optional<std::int64_t> reclaimed_bytes;
  /// The drop of the target's working set (usage - inactive file; host used without a cgroup)
  /// across this step alone: what it released of the memory the level is judged by. Measured
  /// steps never overlap in time (one process-wide lock around each measure-act-measure), so
  /// two steps, or a shed and a concurrent cleanup, never claim the same bytes. Absent for
  /// steps that did not run (a dry run included).
  std::optional<std::int64_t> released_bytes = std::nullopt;
};

/// The process of the target holding the most memory after the cleanup.
struct MemoryHolder {
  int pid = 0;
  std::string name;         ///< comm
  std::uint64_t bytes = 0;  ///< PSS, else RSS
  bool cooperates = false;  ///< it answered (or, dry run, listens for) a cleanup request
};

/// A process holding GPU memory, as NVML lists it, and how to reach that memory.
struct GpuMemoryOwner {
  std::uint32_t pid = 0;               ///< NVML's pid (the host's)
  std::optional<int> local_pid;        ///< the pid here, when known
  std::optional<std::string> name;     ///< comm
  std::optional<std::uint64_t> bytes;  ///< summed over its GPUs; absent when NVML gives none
  bool cooperates = false;             ///< it serves a cleanup socket (the cooperative step)
  std::string how;                     ///< in words: whose the memory is, and how to reach it
};

struct CleanupReport {
  bool dry_run = false;
  std::vector<CleanupStepReport> steps;
  std::vector<CooperatingProcess> processes;
  /// Sockets whose process has exited (left behind without stopping the server): not asked,
  /// not listed in `processes`.
  std::size_t stale_sockets = 0;
  MemoryState before;
  MemoryState after;
  /// before - after of the usage (cgroup usage, else host used): the steps' `reclaimed_bytes`
  /// measure, page cache included. 0 in a dry run.
  std::int64_t reclaimed_bytes = 0;
  /// before - after of the working set (container_working_set_bytes, else host used): the
  /// headline, what the level uses. Absent in a dry run (nothing was released).
  std::optional<std::int64_t> released_bytes;
  /// The inactive page cache dropped between before and after (the usage drop minus the
  /// working-set drop: active page cache is in the working set, so `released_bytes` has it);
  /// absent without a cgroup and in a dry run.
  std::optional<std::int64_t> page_cache_dropped_bytes;
  /// Dry run only: an upper bound on what the cooperative step would release, the summed RSS
  /// of the processes that listen and would be asked; absent when none would be.
  std::optional<std::uint64_t> would_release_estimate_bytes;
  /// The target's largest process (memopt itself left out); absent when none is visible.
  std::optional<MemoryHolder> largest_holder;
  /// Whose GPU memory NVML lists (memopt's own left out), and how that memory can be reached:
  /// a process's CUDA cache is freed only from inside it. Filled by note_gpu_owners().
  std::vector<GpuMemoryOwner> gpu_owners;
  /// The /dev/shm the "shm_orphans" step swept, and each orphan it removed or would remove.
  std::optional<std::string> shm_dir;
  std::vector<ShmRemoval> shm_removals;
};

/// Fills `report.gpu_owners` from `gpus` (NVML, as read after the cleanup): each process's GPU
/// memory is its own CUDA cache, which no other process can free (a new process's
/// torch.cuda.empty_cache() frees only its own): a cooperating process was (or would be) asked
/// through its socket; any other is named with the way to reach it (torch.cuda.empty_cache()
/// in that process, or memopt.serve_cleanup() there); memory held for the dead says whose
/// device files hold it. `self_pid` (memopt) is left out.
void note_gpu_owners(const std::vector<model::GpuDevice>& gpus, int self_pid,
                     CleanupReport& report);

/// A cleanup socket in a runtime directory whose process is alive.
struct CleanupSocket {
  int pid = 0;
  std::string path;       ///< <dir>/<pid>.sock
  uid_t process_uid = 0;  ///< the live process's owner
  uid_t dir_owner = 0;    ///< who the server must run as (SO_PEERCRED)
};

/// The cleanup sockets in `runtime_dirs` that belong to `target`: a named target (a sidecar's
/// --pid/--cgroup) keeps only its own processes, never the neighbours' that share the runtime
/// directory; memopt's own target keeps every socket there. Sockets of exited processes are
/// counted in `stale`, not listed; a process with sockets in two directories is listed once.
[[nodiscard]] std::vector<CleanupSocket> find_cleanup_sockets(
    const Roots& roots, const model::Target& target, const std::vector<std::string>& runtime_dirs,
    std::size_t& stale);

/// Sends the read-only `request` ("leaks", "ping") to process `pid` through its cleanup socket
/// (`<dir>/<pid>.sock` in `runtime_dirs`) and returns the JSON object it answers, re-written
/// with every string in it made printable(). The server must be `pid` running as the
/// directory's owner (SO_PEERCRED). The whole exchange (connect, send, receive) ends within
/// `timeout` and reads at most kMaxAnswerBytes (ask_sockets). Throws Error naming why when no
/// socket of `pid` is there, nobody listens on it, the server is someone else, no complete
/// answer comes within `timeout`, it is too long, or it is not a JSON object.
[[nodiscard]] std::string ask_cooperating_process(const Roots& roots, int pid,
                                                  const std::vector<std::string>& runtime_dirs,
                                                  const std::string& request,
                                                  std::chrono::milliseconds timeout);

/// Reads the memory cleanup is judged by. The cgroup part is absent where there is none.
[[nodiscard]] MemoryState read_memory_state(const Roots& roots, const model::Target& target = {});

/// Only the cooperative step, sending `options.request` ("shed": registered shed hooks run
/// and ModelCaches evict unused models). The report has that one step.
[[nodiscard]] CleanupReport run_cooperative(const Roots& roots, const CleanupOptions& options);

/// The sum of the steps' `released_bytes` (working set, each step alone): what this report
/// itself released, never memory that something else freed between its steps.
[[nodiscard]] std::int64_t steps_released(const CleanupReport& report);

/// The "shm_orphans" step alone: reads the ledger of `options.target`'s /dev/shm and removes
/// (through `actuator`; a dry run lists) each orphan, re-checking right before each removal
/// that its owner is still dead. Never touches a link, a directory, a file on another file
/// system, a file some process holds, or a file whose owner is alive or cannot be judged.
void sweep_shm_orphans(const Roots& roots, Actuator& actuator, const CleanupOptions& options,
                       CleanupReport& report);

/// Runs the cleanup steps in order, each writing only through `actuator`.
/// Throws Error only when host memory cannot be read at all.
[[nodiscard]] CleanupReport run_cleanup(const Roots& roots, Actuator& actuator,
                                        const CleanupOptions& options);

/// `memopt cleanup`: run_cleanup over the cleanup sockets of this user's runtime directories
/// (sys::runtime_directories_to_scan(), in place of `options.runtime_dirs`), each process's
/// torch cache asked (`stats`, within 1 s) before the cleanup empties it, and the GPUs' owners
/// noted after it (note_gpu_owners, memopt itself left out).
[[nodiscard]] CleanupReport run_cleanup_command(const Roots& roots, Actuator& actuator,
                                                CleanupOptions options);

}  // namespace memopt::actions
