#include "memopt/analysis/sizing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "memopt/units.hpp"

namespace memopt::analysis {

std::string docker_size(std::uint64_t bytes) {
  if (bytes % kGiB == 0) return fmt::format("{}g", bytes / kGiB);
  return fmt::format("{}m", (bytes + kMiB - 1) / kMiB);
}

std::string kubernetes_size(std::uint64_t bytes) {
  // Always Mi: one unit in every snippet, so sizes compare at a glance (3072Mi vs 1536Mi).
  return fmt::format("{}Mi", (bytes + kMiB - 1) / kMiB);
}

Recommendation recommend_limit(std::uint64_t memory_bytes) {
  Recommendation r;
  r.memory_bytes = memory_bytes;
  r.memory_swap_bytes = 2 * memory_bytes;
  r.docker_flags = fmt::format("--memory={} --memory-swap={}", docker_size(r.memory_bytes),
                               docker_size(r.memory_swap_bytes));
  r.docker_update = fmt::format("docker update {} CONTAINER", r.docker_flags);
  // Requests equal to limits: the pod is charged what it may use, so the scheduler does
  // not place it where the OOM killer will find it.
  r.kubernetes =
      fmt::format("resources:\n  requests:\n    memory: {0}\n  limits:\n    memory: {0}\n",
                  kubernetes_size(r.memory_bytes));
  return r;
}

Recommendation recommend_for_peak(std::uint64_t peak_bytes, double target_percent,
                                  std::uint64_t step) {
  const double needed = static_cast<double>(peak_bytes) * 100.0 / target_percent;
  const auto steps = static_cast<std::uint64_t>(std::ceil(needed / static_cast<double>(step)));
  return recommend_limit(std::max<std::uint64_t>(steps, 1) * step);
}

PeakEstimate estimate_peak(const std::vector<RunSample>& samples) {
  PeakEstimate peak;
  std::uint64_t previous_inactive = 0;  // a fresh cgroup starts without page cache
  for (const auto& s : samples) {
    peak.sampled_working_set_bytes = std::max(peak.sampled_working_set_bytes, s.working_set_bytes);
    if (s.interval_peak_usage_bytes) {
      const std::uint64_t usage = *s.interval_peak_usage_bytes;
      const std::uint64_t cache = std::min({previous_inactive, s.inactive_file_bytes, usage});
      peak.from_kernel = true;
      peak.usage_bytes = std::max(peak.usage_bytes.value_or(0), usage);
      if (usage - cache > peak.working_set_bytes) {
        peak.working_set_bytes = usage - cache;
        peak.cache_bytes = cache;
      }
    }
    previous_inactive = s.inactive_file_bytes;
  }
  if (peak.sampled_working_set_bytes > peak.working_set_bytes) {
    // A sample can only exceed the kernel's interval peaks by a read race; trust the larger.
    peak.working_set_bytes = peak.sampled_working_set_bytes;
    peak.cache_bytes = 0;
  }
  return peak;
}

Room room_for_command(const std::vector<EnclosingCgroup>& enclosing,
                      std::uint64_t host_available_bytes) {
  Room room{host_available_bytes,
            fmt::format("the host (MemAvailable {})", format_bytes(host_available_bytes))};
  for (const auto& level : enclosing) {
    if (!level.limit_bytes) continue;
    const std::uint64_t working_set =
        level.usage_bytes - std::min(level.usage_bytes, level.inactive_file_bytes);
    const std::uint64_t left = *level.limit_bytes - std::min(*level.limit_bytes, working_set);
    if (left < room.available_bytes) {
      room.available_bytes = left;
      room.limited_by = fmt::format("cgroup {} (limit {}, working set {})", level.path,
                                    format_bytes(*level.limit_bytes), format_bytes(working_set));
    }
  }
  return room;
}

RunSummary summarize_run(const std::vector<RunSample>& samples, std::chrono::milliseconds duration,
                         std::uint64_t limit_bytes, const Thresholds& thresholds) {
  RunSummary summary;
  summary.duration = duration;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto& s = samples[i];
    summary.peak_working_set_bytes = std::max(summary.peak_working_set_bytes, s.working_set_bytes);
    summary.peak_rss_bytes = std::max(summary.peak_rss_bytes, s.tree_rss_bytes);
    if (s.tree_pss_bytes)
      summary.peak_pss_bytes = std::max(summary.peak_pss_bytes.value_or(0), *s.tree_pss_bytes);
    if (s.gpu_bytes)
      summary.peak_gpu_bytes = std::max(summary.peak_gpu_bytes.value_or(0), *s.gpu_bytes);
    for (const auto& device : s.gpu_devices) {
      const auto it =
          std::find_if(summary.peak_gpu_devices.begin(), summary.peak_gpu_devices.end(),
                       [&](const DeviceGpuBytes& peak) { return peak.index == device.index; });
      if (it == summary.peak_gpu_devices.end()) {
        summary.peak_gpu_devices.push_back(device);
      } else {
        it->used_bytes = std::max(it->used_bytes, device.used_bytes);
      }
    }

    EffectiveMemory m;
    m.scope = Scope::kContainer;
    m.limit_bytes = limit_bytes;
    m.used_bytes = s.working_set_bytes;
    m.available_bytes = limit_bytes - std::min(limit_bytes, s.working_set_bytes);
    m.used_percent = limit_bytes == 0 ? 100.0
                                      : 100.0 * static_cast<double>(s.working_set_bytes) /
                                            static_cast<double>(limit_bytes);
    const auto until = i + 1 < samples.size() ? samples[i + 1].at : std::max(duration, s.at);
    summary.time_at_level[static_cast<std::size_t>(assess(m, thresholds).level)] += until - s.at;
  }
  std::sort(summary.peak_gpu_devices.begin(), summary.peak_gpu_devices.end(),
            [](const DeviceGpuBytes& a, const DeviceGpuBytes& b) { return a.index < b.index; });
  return summary;
}

}  // namespace memopt::analysis
