#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"

// GPU memory through NVML, loaded at run time (no build-time CUDA dependency).
namespace memopt::readers {

/// Reads every GPU's memory and its processes (compute, graphics and MPS clients; the newest
/// list version that answers). Loads `$MEMOPT_NVML_LIBRARY` when set, else libnvidia-ml.so.1,
/// then libnvidia-ml.so. Never throws for NVML's sake: no library, no GPU or an NVML error
/// gives what could be read (possibly nothing) and a note naming the cause. A GPU whose handle
/// NVML refuses (NO_PERMISSION: not given to this container) is left out with a
/// "gpu_not_ours" note; MIG instances are listed even when their parent's memory cannot be
/// read (the parent is then kept with `memory_known` false); a process list NVML cannot give
/// makes `processes_known` false. An NVML pid is matched directly (`attributed_by` kPid, name
/// from `<procfs>/<pid>/comm`) only when `<procfs>` is of the initial pid namespace, where
/// NVML's pids live; others are left to attribute_gpu_processes().
[[nodiscard]] std::vector<model::GpuDevice> read_gpus(const Roots& roots,
                                                      std::vector<model::Note>& notes);

/// Replaces the "gpu_processes_not_visible" note in `notes` with one that counts, names (by
/// NVML pid) and sums the entries of `gpus` that no process here was matched to
/// (`attributed_by` none); no note when every entry is matched.
void note_unattributed_gpu_processes(const Roots& roots, const std::vector<model::GpuDevice>& gpus,
                                     std::vector<model::Note>& notes);

/// The GPU memory NVML attributes to `pids`, summed over `gpus`: an entry counts for its
/// `local_pid` when it was matched, else for its NVML pid only when `procfs` is of the initial
/// pid namespace. Absent without GPUs, when a GPU's process list is unknown (`processes_known`
/// false), and when
/// NVML lists none of `pids` outside the initial pid namespace (see `<procfs>/self/ns/pid`):
/// NVML gives host pids, which a container's own pids cannot be matched with, so "none of
/// ours" is unknown there rather than 0.
[[nodiscard]] std::optional<std::uint64_t> gpu_bytes_of(const std::vector<model::GpuDevice>& gpus,
                                                        const std::set<int>& pids,
                                                        const std::string& procfs);

}  // namespace memopt::readers
