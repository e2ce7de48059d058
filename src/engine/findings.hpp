#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/fs.hpp"

// Events the engine raises from what a full sample found beside the level: GPU verdicts, and
// the kernel log's victims of an OOM kill.
namespace memopt::engine {

/// gpu_orphan / gpu_wrong_device, once per process while its verdict holds (a sample without
/// GPUs, NVML failing for a moment, forgets none). Nothing is killed on a verdict.
class GpuVerdictEvents {
 public:
  /// The new verdicts of `report` as events at `level`.
  [[nodiscard]] std::vector<analysis::Event> observe(const analysis::Report& report,
                                                     analysis::Level level);

 private:
  /// (verdict, NVML pid) already raised as an event.
  std::set<std::pair<std::string, std::uint32_t>> raised_;
};

/// The kernel log's OOM kills, each told once: an oom_kill event names its victims.
class KernelLogVictims {
 public:
  explicit KernelLogVictims(Roots roots) : roots_(std::move(roots)) {}
  /// The kills logged before the engine started are not its events' victims.
  void start();
  /// Adds the kills newer than the last ones seen, in `location`'s cgroup, to `event`.
  void add_victims(analysis::Event& event, const std::optional<readers::CgroupLocation>& location);

 private:
  Roots roots_;
  std::optional<double> seen_;  ///< uptime of the latest kill seen
};

}  // namespace memopt::engine
