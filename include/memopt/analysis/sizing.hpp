#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/report.hpp"

// Container sizing: from the seed's table, or from a measured run.
namespace memopt::analysis {

/// What to ask the container runtime for.
struct Recommendation {
  std::uint64_t memory_bytes = 0;
  std::uint64_t memory_swap_bytes = 0;  ///< the seed's form: twice the memory
  std::string docker_flags;             ///< "--memory=768m --memory-swap=1536m"
  std::string docker_update;  ///< "docker update --memory=768m --memory-swap=1536m CONTAINER"
  std::string kubernetes;     ///< a `resources:` YAML snippet, in Mi
};

/// Docker's size syntax: whole GiB as "3g", else whole MiB as "768m" (rounded up).
[[nodiscard]] std::string docker_size(std::uint64_t bytes);

/// Kubernetes' quantity syntax, always in Mi (rounded up): "3072Mi", "768Mi".
[[nodiscard]] std::string kubernetes_size(std::uint64_t bytes);

/// A memory cgroup around memopt (its own, or an ancestor), as the room check sees it.
struct EnclosingCgroup {
  std::string path;                          ///< e.g. "/kubepods/pod1/ctr"
  std::string dir;                           ///< its directory under the cgroup mount
  std::optional<std::uint64_t> limit_bytes;  ///< absent: no limit at this level
  std::uint64_t usage_bytes = 0;
  std::uint64_t inactive_file_bytes = 0;
};

/// The room a new command has before memopt's container (or the host) runs out.
struct Room {
  std::uint64_t available_bytes = 0;
  std::string limited_by;  ///< "cgroup /a (limit 488 MiB, working set 305 MiB)" or the host
};

/// The least room among `enclosing` (limit - working set, for each level with a limit) and the
/// host's `host_available_bytes` (MemAvailable).
[[nodiscard]] Room room_for_command(const std::vector<EnclosingCgroup>& enclosing,
                                    std::uint64_t host_available_bytes);

/// The recommendation for a container of exactly `memory_bytes`.
[[nodiscard]] Recommendation recommend_limit(std::uint64_t memory_bytes);

/// The smallest multiple of `step` (256 MiB) that keeps `peak_bytes` at or below
/// `target_percent` (the seed's 60%) of the limit.
[[nodiscard]] Recommendation recommend_for_peak(std::uint64_t peak_bytes,
                                                double target_percent = 60.0,
                                                std::uint64_t step = 256ull << 20);

/// A command's GPU memory on one device.
struct DeviceGpuBytes {
  unsigned index = 0;
  std::string name;               ///< NVML's name, e.g. "NVIDIA H200"
  std::uint64_t total_bytes = 0;  ///< the device's memory
  std::uint64_t used_bytes = 0;   ///< the command's processes' (NVML's per-process figure)
};

/// One measurement of a command under `memopt run`.
struct RunSample {
  std::chrono::milliseconds at{0};              ///< since the command started
  std::uint64_t working_set_bytes = 0;          ///< the sandbox cgroup's working set
  std::uint64_t usage_bytes = 0;                ///< its usage (page cache included)
  std::uint64_t tree_rss_bytes = 0;             ///< RSS summed over its processes
  std::optional<std::uint64_t> tree_pss_bytes;  ///< PSS summed, where readable
  std::optional<std::uint64_t> gpu_bytes;       ///< GPU memory of its processes
  std::uint64_t inactive_file_bytes = 0;        ///< its inactive page cache (memory.stat)
  /// The kernel's usage peak since the previous sample (v1 memory.max_usage_in_bytes, reset
  /// after each read; v2 memory.peak, the run's peak so far, as a plain write cannot reset
  /// it): nothing between two samples escapes it. Absent without a sandbox cgroup.
  std::optional<std::uint64_t> interval_peak_usage_bytes;
  /// gpu_bytes per device, for the devices where it is known (their process list was readable).
  std::vector<DeviceGpuBytes> gpu_devices;
};

/// The working-set peak of a run, from the kernel's usage peaks when there are any.
struct PeakEstimate {
  std::uint64_t working_set_bytes = 0;  ///< what sizing uses
  /// The kernel's usage peak over the run (page cache included); absent when sampled only.
  std::optional<std::uint64_t> usage_bytes;
  /// The page cache set aside from the usage peak to get `working_set_bytes` (0 when none).
  std::uint64_t cache_bytes = 0;
  std::uint64_t sampled_working_set_bytes = 0;  ///< the highest sampled working set
  bool from_kernel = false;  ///< false: only samples, a spike between two may be missed
};

/// The working-set peak of `samples`. With the kernel's per-interval usage peaks: for each
/// interval, its usage peak minus the inactive page cache present at *both* of its ends (the
/// cache that was demonstrably there and reclaimable throughout; a fresh cgroup starts with
/// none), never below a sampled working set. So a 0.1 s spike between two samples still counts
/// in full, and a file read after it cannot hide it. Without them: the highest sampled working
/// set (from_kernel false).
[[nodiscard]] PeakEstimate estimate_peak(const std::vector<RunSample>& samples);

/// What a series of samples says.
struct RunSummary {
  std::chrono::milliseconds duration{0};
  std::uint64_t peak_working_set_bytes = 0;  ///< the highest *sampled* working set
  std::uint64_t peak_rss_bytes = 0;
  std::optional<std::uint64_t> peak_pss_bytes;
  std::optional<std::uint64_t> peak_gpu_bytes;
  /// The peak on each device (used_bytes: the highest sample there), by index.
  std::vector<DeviceGpuBytes> peak_gpu_devices;
  /// Time spent at each level (indexed by Level), judged against `limit_bytes`.
  std::array<std::chrono::milliseconds, 5> time_at_level{};
};

/// Summarizes `samples` (in time order). Each sample's level holds until the next sample.
/// `limit_bytes` is the limit the command ran under (the host's memory when none).
[[nodiscard]] RunSummary summarize_run(const std::vector<RunSample>& samples,
                                       std::chrono::milliseconds duration,
                                       std::uint64_t limit_bytes, const Thresholds& thresholds);

/// Everything `memopt run` learned about one command.
struct RunReport {
  std::vector<std::string> command;
  std::optional<std::uint64_t> limit_bytes;  ///< --limit, when given
  std::optional<std::uint64_t> swap_bytes;   ///< --swap, when given
  /// False when no cgroup could be made: the command ran unconstrained (see why_unconstrained).
  bool limit_applied = false;
  std::string why_unconstrained;
  std::uint64_t level_limit_bytes = 0;  ///< what levels were judged against (limit, or MemTotal)
  int exit_code = 0;
  std::optional<int> signal;
  std::uint64_t oom_kills = 0;
  std::optional<std::uint64_t> kernel_peak_usage_bytes;  ///< memory.peak / max_usage_in_bytes
  std::chrono::milliseconds sample_interval{100};
  std::vector<RunSample> samples;
  RunSummary summary;
  PeakEstimate peak;  ///< what the recommendation sizes from

  /// Memory the command could use before a cgroup around memopt (or the host) ran out, when
  /// it started: the least of (limit - working set) over memopt's cgroup and its ancestors,
  /// and the host's MemAvailable. Absent when nothing could be read.
  std::optional<std::uint64_t> room_bytes;
  std::string room_limited_by;  ///< which cgroup (or the host) sets room_bytes, in words
  bool forced = false;          ///< --force: run although --limit exceeded room_bytes
  /// OOM kills of processes *outside* the command during the run, in the enclosing container
  /// (the outermost limited cgroup around memopt; the host when none). Absent when unknown.
  std::optional<std::uint64_t> other_oom_kills;
  std::string other_oom_kills_scope;  ///< where they were counted, e.g. "cgroup /a/b"
  /// The command ignored SIGTERM/SIGINT for the grace period and was killed with SIGKILL.
  bool stop_escalated = false;
  /// Absent after an OOM kill: the true peak is then unknown.
  std::optional<Recommendation> recommendation;
};

}  // namespace memopt::analysis
