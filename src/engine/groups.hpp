#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/process_tree.hpp"

// Worker groups (a parent and its forked workers) between full samples. A DataLoader's workers
// copy their parent's memory in seconds, and the monitor's full samples may be a minute
// apart: a group whose shape is not yet known, or that copies, is read again every second
// (the target's processes only, from the process cache; its candidates' smaps_rollup afresh),
// and so is the target once its working set grew since its processes were last read (a new
// group's workers being forked). workers_copy and its updates do not wait for the interval.
namespace memopt::engine {

using SteadyTime = std::chrono::steady_clock::time_point;

/// A closer look at the groups at most this often (the workers' curve is fitted per sample).
inline constexpr std::chrono::milliseconds kGroupsEvery{1000};
/// Growth of the working set since the processes were last read that calls for a look: the
/// larger of this and kGroupsGrowthFraction of the limit (quick readings' noise stays under).
inline constexpr std::uint64_t kGroupsGrowthBytes = 16ull << 20;
inline constexpr double kGroupsGrowthFraction = 0.02;
/// A group is looked at closely for this long at most: a copy slower than that is seen well
/// enough by the full samples (three of them judge its shape).
inline constexpr std::chrono::minutes kGroupsWatchFor{5};

class GroupTracker {
 public:
  explicit GroupTracker(const Roots& roots)
      : roots_(roots), tree_cache_(readers::ProcessTreeCache::for_roots(roots)) {}

  /// A full sample's processes: their groups (`found`, for the sinks) judged; the events.
  [[nodiscard]] std::vector<analysis::Event> observe_sample(
      const model::Sample& sample, const analysis::EffectiveMemory& memory, analysis::Level level,
      SteadyTime now, std::vector<analysis::ProcessGroup>& found);

  /// Whether to look again at `now`, between full samples, given the latest quick reading:
  /// a second after the last look, while a group is unjudged or copying, or the working set
  /// grew (see kGroupsGrowthBytes).
  [[nodiscard]] bool due(SteadyTime now, const analysis::EffectiveMemory& memory) const;

  /// The look: the target's processes read again (`collect` names the target and the process
  /// cache), grouped and judged against `memory`, the latest quick reading.
  [[nodiscard]] std::vector<analysis::Event> observe_again(const readers::CollectOptions& collect,
                                                           analysis::TimePoint at,
                                                           const analysis::EffectiveMemory& memory,
                                                           analysis::Level level, SteadyTime now);

  /// The usage at which a calm engine must be woken to look (`usage_bytes` now, under a
  /// limit of `limit_bytes`): growth past it may be a new group's workers. None unless both
  /// are known.
  [[nodiscard]] static std::optional<std::uint64_t> growth_mark(
      std::optional<std::uint64_t> usage_bytes, std::optional<std::uint64_t> limit_bytes);

  /// A group is unjudged or copying: the engine must not sleep until the next full sample.
  [[nodiscard]] bool watching() const { return watching_; }

  /// The groups of the last look, with their shapes (protection prefers a copying worker).
  [[nodiscard]] const std::vector<analysis::GroupAssessment>& assessments() const {
    return groups_.assessments();
  }

 private:
  std::vector<analysis::Event> judge(const std::vector<model::ProcessMemory>& processes,
                                     analysis::TimePoint at,
                                     const analysis::EffectiveMemory& memory, analysis::Level level,
                                     SteadyTime now, std::vector<analysis::ProcessGroup>& found);

  Roots roots_;
  /// Parents and start times, kept while pidfds vouch for them (not on a captured tree).
  readers::ProcessTreeCache tree_cache_;
  analysis::GroupWatcher groups_;
  bool host_wide_ = false;  ///< the last full sample listed every process (host scope)
  /// When each worker group (by its parent: pid, start ticks) was first seen.
  std::map<std::pair<int, std::uint64_t>, SteadyTime> first_seen_;
  bool watching_ = false;
  SteadyTime last_look_{};
  std::optional<std::uint64_t> used_at_last_look_;
};

}  // namespace memopt::engine
