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
  std::string kubernetes;               ///< a `resources:` YAML snippet
};

/// Docker's size syntax: whole GiB as "3g", else whole MiB as "768m" (rounded up).
[[nodiscard]] std::string docker_size(std::uint64_t bytes);

/// Kubernetes' quantity syntax, always in Mi (rounded up): "3072Mi", "768Mi".
[[nodiscard]] std::string kubernetes_size(std::uint64_t bytes);

/// The recommendation for a container of exactly `memory_bytes`.
[[nodiscard]] Recommendation recommend_limit(std::uint64_t memory_bytes);

/// The smallest multiple of `step` (256 MiB) that keeps `peak_bytes` at or below
/// `target_percent` (the seed's 60%) of the limit.
[[nodiscard]] Recommendation recommend_for_peak(std::uint64_t peak_bytes,
                                                double target_percent = 60.0,
                                                std::uint64_t step = 256ull << 20);

/// One measurement of a command under `memopt run`.
struct RunSample {
  std::chrono::milliseconds at{0};              ///< since the command started
  std::uint64_t working_set_bytes = 0;          ///< the sandbox cgroup's working set
  std::uint64_t usage_bytes = 0;                ///< its usage (page cache included)
  std::uint64_t tree_rss_bytes = 0;             ///< RSS summed over its processes
  std::optional<std::uint64_t> tree_pss_bytes;  ///< PSS summed, where readable
  std::optional<std::uint64_t> gpu_bytes;       ///< GPU memory of its processes
};

/// What a series of samples says.
struct RunSummary {
  std::chrono::milliseconds duration{0};
  std::uint64_t peak_working_set_bytes = 0;
  std::uint64_t peak_rss_bytes = 0;
  std::optional<std::uint64_t> peak_pss_bytes;
  std::optional<std::uint64_t> peak_gpu_bytes;
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
  /// Absent after an OOM kill: the true peak is then unknown.
  std::optional<Recommendation> recommendation;
};

}  // namespace memopt::analysis
