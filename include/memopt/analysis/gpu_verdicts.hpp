#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"

// Verdicts on the processes NVML lists: GPU memory held for the dead, and contexts on the wrong
// GPU. Pure functions of a Sample; nothing is ever killed on a verdict alone.
namespace memopt::analysis {

/// What is wrong with a GPU process.
enum class GpuVerdictKind {
  /// Its memory is held for a process that is gone, a zombie, or a worker reparented after
  /// the process that started it died.
  kOrphan,
  /// It has contexts on more than one GPU, or on a GPU other than its LOCAL_RANK's.
  kWrongDevice
};

/// "gpu_orphan" or "gpu_wrong_device": the finding's, the event's and the JSON's name.
[[nodiscard]] std::string_view to_string(GpuVerdictKind kind);

/// Why a process is a gpu_orphan.
enum class OrphanReason {
  kGone,        ///< no such pid (memopt sees NVML's pid namespace, or the entry was matched)
  kZombie,      ///< exited, not reaped (state Z); its device files are held by whoever inherited
  kReparented,  ///< see gpu_verdicts()
};

/// "gone", "zombie" or "reparented".
[[nodiscard]] std::string_view to_string(OrphanReason reason);

/// One verdict on one process (all of its NVML entries together).
struct GpuVerdict {
  GpuVerdictKind kind = GpuVerdictKind::kOrphan;
  std::uint32_t pid = 0;         ///< NVML's pid (the host's)
  std::optional<int> local_pid;  ///< the pid in memopt's `<procfs>`, when matched
  std::optional<std::string> name;
  std::optional<OrphanReason> reason;  ///< kOrphan only
  /// The GPU memory NVML counts for the process, summed over its GPUs; absent when NVML
  /// gives none of its figures.
  std::optional<std::uint64_t> bytes;
  std::vector<unsigned> gpus;     ///< NVML indices of the GPUs it has contexts on, ascending
  std::optional<int> local_rank;  ///< kWrongDevice: its LOCAL_RANK, when set
  /// kWrongDevice: the NVML index LOCAL_RANK names (through CUDA_VISIBLE_DEVICES when set).
  std::optional<unsigned> expected_gpu;
  /// kOrphan: who holds those GPUs' /dev/nvidiaN open now (absent: not read or not readable).
  std::optional<std::vector<model::GpuFileHolder>> holders;
  std::string message;  ///< one sentence for people, with the numbers
  std::string fix;      ///< what to do, in the user's words
};

/// The verdicts on `sample.gpus`, orphans first, then by pid. Rules:
/// - gpu_orphan: the entry's process is known (GpuProcess::life set) and (a) gone, (b) a
///   zombie, or (c) reparented: it does not lead its process group, the group's starter is
///   gone, and its parent is the init of a pid namespace or sits in another session — a worker
///   (DataLoader, torch.multiprocessing, a torchrun rank) whose parent died and which was handed
///   to a reaper (pid 1, a container's init, a subreaper such as systemd --user). A process
///   started directly by an init (a container's main process) leads its own group or shares
///   a living starter's, and is not one. An entry whose pid cannot be looked up (another pid
///   namespace, not matched) gets no verdict: it is "not visible", never "dead".
/// - gpu_wrong_device: a live process with contexts on more than one GPU; or with LOCAL_RANK
///   set whose context is on a GPU other than the one LOCAL_RANK names (the LOCAL_RANK-th
///   entry of CUDA_VISIBLE_DEVICES when that lists several devices; NVML's index LOCAL_RANK
///   when unset; no check when it lists one device or cannot be mapped).
[[nodiscard]] std::vector<GpuVerdict> gpu_verdicts(const model::Sample& sample);

/// The GPU memory of the gpu_orphan verdicts, summed (0 when none).
[[nodiscard]] std::uint64_t orphaned_gpu_bytes(const std::vector<GpuVerdict>& verdicts);

}  // namespace memopt::analysis
