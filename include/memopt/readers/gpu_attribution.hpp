#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/open_files.hpp"

// Which local process each NVML process entry belongs to, inside a container's PID namespace
// where NVML's (host) pids match nothing. read_gpus() makes the direct matches (kPid); these
// functions add the other two ways, each recorded in GpuProcess::attributed_by.
namespace memopt::readers {

/// The major number of the NVIDIA GPU character devices (/dev/nvidiaN; nvidiactl is its 255).
inline constexpr unsigned kNvidiaMajor = 195;
/// Minors from here up are the driver's control files (nvidia-modeset 254, nvidiactl 255).
inline constexpr unsigned kNvidiaFirstControlMinor = 254;

/// A self-report's context size when the process gives none: CUDA's primary context, cuBLAS
/// and kernels loaded outside torch's caching allocator, which NVML counts and torch does not.
inline constexpr std::uint64_t kDefaultContextBytes = 512ull << 20;
/// How far an NVML entry may lie from reserved + context and still fit a self-report: this
/// much, plus kSelfReportSlackPercent of reserved + context. The entry must also be at least
/// the reserved bytes (NVML counts every cudaMalloc the allocator made).
inline constexpr std::uint64_t kSelfReportSlackBytes = 512ull << 20;
inline constexpr unsigned kSelfReportSlackPercent = 5;

/// The N of /dev/nvidiaN a process's open file is: a character device of major 195 (minor
/// below 254), or a link to a path /dev/nvidia<digits>. Absent for anything else (nvidiactl,
/// nvidia-uvm, nvidia-caps, other files).
[[nodiscard]] std::optional<unsigned> nvidia_device_minor(const sys::OpenFile& file);

/// Local pid -> the N of each /dev/nvidiaN it holds open.
using DeviceFileHolders = std::map<int, std::set<unsigned>>;

/// The processes under `<procfs>` that hold a /dev/nvidiaN open, `exclude_pid` (memopt itself:
/// its NVML session holds every device file) left out. Processes whose fds may not be read are
/// absent and counted in `*unreadable` when given.
[[nodiscard]] DeviceFileHolders read_nvidia_device_holders(const Roots& roots, int exclude_pid,
                                                           std::size_t* unreadable = nullptr);

/// Pure: matches the entries of `gpus` not matched yet (attributed_by kNone, bytes known), in
/// this order:
/// 1. self-report: a device of a report (processes whose pid is already matched are skipped)
///    fits an entry when entry >= reserved and |entry - (reserved + context)| <= 512 MiB + 5%
///    of (reserved + context); on the GPU of the same UUID when the report gives one, else on
///    any. A fit is taken only when that report device fits no other entry and the entry no
///    other report device.
/// 2. elimination: per device file (minor number; MIG slices share their parent's), when
///    exactly one entry is left unmatched and exactly one holder of that file is not matched on
///    it already. Not for a device whose list is unknown or whose minor number is not known.
/// Sets attributed_by and local_pid; names are left to the caller.
void match_gpu_processes(std::vector<model::GpuDevice>& gpus,
                         const std::vector<model::ProcessStats>& reports,
                         const DeviceFileHolders& holders);

/// match_gpu_processes() with the device files held open under `<procfs>` (read only when an
/// entry is left after the self-reports), then names the matched processes from
/// `<procfs>/<pid>/comm` and rewrites the "gpu_processes_not_visible" note to name what
/// stays unmatched, with a "gpu_attribution_limited" note for devices whose minor number NVML
/// does not give.
void attribute_gpu_processes(const Roots& roots, std::vector<model::GpuDevice>& gpus,
                             const std::vector<model::ProcessStats>& reports,
                             std::vector<model::Note>& notes);

/// Pure: the last (innermost namespace's) pid of status's "NSpid:" line (Linux 4.1+); absent
/// without the line.
[[nodiscard]] std::optional<int> parse_innermost_nspid(std::string_view status);

/// Pure: LOCAL_RANK of an environ block (NUL-separated) as a non-negative number; absent when
/// unset or not a number.
[[nodiscard]] std::optional<int> parse_local_rank(std::string_view environ);

/// Pure: CUDA_VISIBLE_DEVICES of an environ block split at commas, spaces trimmed; absent when
/// unset.
[[nodiscard]] std::optional<std::vector<std::string>> parse_cuda_visible_devices(
    std::string_view environ);

/// Fills GpuProcess::life for every entry of `gpus` whose pid means a process here (matched,
/// or `<procfs>` of the initial pid namespace), then GpuDevice::file_holders for the GPUs
/// where an entry looks orphaned. Reads stat, status and environ (LOCAL_RANK and
/// CUDA_VISIBLE_DEVICES only) of those processes and of their parents.
void read_gpu_process_lives(const Roots& roots, std::vector<model::GpuDevice>& gpus);

}  // namespace memopt::readers
