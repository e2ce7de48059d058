#pragma once

#include <chrono>
#include <functional>

#include "memopt/model/sample.hpp"
#include "memopt/model/target.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::readers {

/// What to read into a Sample. The cheap sources (meminfo, cgroup, PSI) are always read.
struct CollectOptions {
  model::Target target;       ///< what to watch (memopt's own cgroup by default)
  bool containers = false;    ///< list every limited leaf cgroup under the target
  bool processes = true;      ///< scan every process's smaps_rollup (the costly part)
  bool gpus = true;           ///< load NVML and read every GPU
  bool fragmentation = true;  ///< read buddyinfo
  /// Read the target's /dev/shm ledger (read_shm_ledger): its files, their owners and
  /// holders (every process's fds and maps are scanned).
  bool shm = true;
  /// A session kept open across samples (monitor); a one-off load and init when null.
  NvmlSession* nvml = nullptr;
  /// Processes remembered across samples (monitor): unchanged ones are not walked again.
  ProcessCache* process_cache = nullptr;
  /// The clock that stamps the sample; the wall clock when empty.
  std::function<std::chrono::system_clock::time_point()> clock;
};

/// Reads one Sample of `options.target` under `roots`. Processes are those of the target's
/// cgroup subtree, or every process when the target is the host (or memopt's own cgroup has
/// no limit: host scope). Throws Error when a required source (meminfo, the procfs root) is
/// missing or malformed. An optional source that is absent, unreadable or malformed (PSI,
/// buddyinfo, memory.stat, ...) nulls only its own fields, with a note naming the file and
/// line; a target cgroup that cannot be found, or whose usage or limit cannot be read, is
/// `cgroup_unreadable`, not an error; with `containers`, an unreadable container is a note
/// and every other one is listed.
[[nodiscard]] model::Sample collect(const Roots& roots, const CollectOptions& options = {});

/// The target's processes alone, as collect() lists them in sample.processes (`host_wide`:
/// every process, as a sample whose processes_host_wide was set): a closer look between
/// samples, without the host's, the cgroup's, the GPUs' or /dev/shm's figures. None when the
/// target cannot be located; throws Error as collect() does when procfs cannot be listed.
[[nodiscard]] std::vector<model::ProcessMemory> collect_processes(const Roots& roots,
                                                                  const CollectOptions& options,
                                                                  bool host_wide,
                                                                  std::vector<model::Note>& notes);

}  // namespace memopt::readers
