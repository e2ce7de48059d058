#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "memopt/analysis/watch.hpp"
#include "memopt/model/process_tree.hpp"

// Process groups: a parent and the children it forked running the same executable (DataLoader
// workers, multiprocessing pools, gunicorn/uvicorn workers), and torch.distributed ranks; and
// the shape of their growth over a monitor's samples. Pure: nodes and time come in.
namespace memopt::analysis {

/// What kind of group.
enum class GroupKind {
  kWorkers,  ///< a parent and its forked children of the same executable
  kRanks     ///< torch.distributed ranks (RANK/WORLD_SIZE), siblings under one launcher
};

/// One child of a group, with what it holds.
struct GroupMember {
  model::ProcessNode node;
  /// USS: the pages only this child maps (for a forked worker: what it copied from the parent
  /// or allocated itself). Absent when smaps_rollup was unreadable.
  std::optional<std::uint64_t> private_bytes;
  /// RSS - USS: resident pages it maps together with others, mostly the parent's pages not yet
  /// copied (an approximation: libraries count too).
  std::optional<std::uint64_t> shared_bytes;
  /// The anonymous part of shared_bytes: the worker's smaps_rollup Anonymous less its USS (its
  /// private pages taken as anonymous: a forked worker maps few file pages alone), at most
  /// shared_bytes. What it can still copy from the parent: unlike the parent's whole anonymous
  /// size, it leaves out what the parent allocated after the fork. Absent when the worker's
  /// Anonymous or USS is unknown.
  std::optional<std::uint64_t> shared_anon_bytes;
};

/// A group as one sample shows it.
struct ProcessGroup {
  GroupKind kind = GroupKind::kWorkers;
  /// kWorkers: the parent. kRanks: the launcher when it is visible in the target.
  std::optional<model::ProcessNode> parent;
  std::vector<GroupMember> members;  ///< workers or ranks, by pid
  /// Sum of PSS over the parent and members (RSS where PSS is unknown): the group's share of
  /// memory, each shared page counted once.
  std::uint64_t total_bytes = 0;
  /// The parent's anonymous memory (smaps_rollup Anonymous): what a worker can copy at most.
  std::optional<std::uint64_t> parent_anon_bytes;
};

/// Finds the groups among one sample's nodes. A child belongs to its parent's worker group
/// only when both executables are known and the same, and the child started no earlier than
/// the parent (a parent pid reused by a newer process is not the child's parent). A child with
/// RANK set whose parent has none (or another) is a rank, not a worker. Ranks under one
/// launcher with one WORLD_SIZE form a rank group when there are at least two. Groups are
/// ordered by total, largest first.
[[nodiscard]] std::vector<ProcessGroup> group_processes(
    const std::vector<model::ProcessNode>& nodes);

/// The shape of a group's growth over the samples seen.
enum class GroupShape {
  kUnknown,     ///< too few samples yet
  kStable,      ///< the workers' private memory does not grow
  kCopyOnRead,  ///< the workers' private memory rises towards the parent's anonymous size
  kLeak,        ///< growth past that ceiling, or the parent growing with its workers
  kSawtooth     ///< workers replaced by new pids (a new epoch forks the copies again)
};

[[nodiscard]] const char* to_string(GroupShape shape) noexcept;

/// Tuning of the classification.
struct GroupParams {
  std::size_t min_points = 3;  ///< samples of one worker set before a shape is said
  /// Growth of the workers' mean private memory over the window that counts as rising: the
  /// larger of this and `min_growth_fraction` of the parent's anonymous memory.
  std::uint64_t min_growth_bytes = 16ull << 20;
  double min_growth_fraction = 0.05;
  /// A worker's private memory may exceed the parent's anonymous size by this much (its own
  /// allocations: batches, interpreter state) and still be a copy.
  double ceiling_fraction = 0.15;
  std::uint64_t ceiling_slack_bytes = 64ull << 20;
  /// The share of the limit a projection must stay under to fit (the severe level's 90%).
  double fit_fraction = 0.9;
  std::size_t max_points = 240;  ///< samples kept per group
  /// A fitted asymptote has settled when this many consecutive samples' fits each stay within
  /// settle_fraction of the one before; then workers_copy is said again (an update) if its
  /// max_workers changed or its projection moved by more than update_fraction. Two fits
  /// within 10%: a DataLoader under a limit is killed a few seconds after its curve bends
  /// (12-14 s after the first batch on the dev VM), and the fit over rate and level moves
  /// by a few percent a sample once it has bent.
  std::size_t settle_points = 2;
  double settle_fraction = 0.10;
  double update_fraction = 0.10;
  /// The most updates said per group: no event storm from a curve that keeps moving.
  std::size_t max_updates = 2;
  /// The curve bends when its latest rate has fallen under this share of its fastest; only
  /// then, and with min_fit_samples in the window, is an asymptote fitted.
  double bend_fraction = 0.75;
  std::size_t min_fit_samples = 5;
};

/// A group with its shape and, for copy-on-read, the projection.
struct GroupAssessment {
  ProcessGroup group;
  GroupShape shape = GroupShape::kUnknown;
  /// Mean growth of one worker's private memory, bytes per second, over the window.
  std::optional<double> rate_bytes_per_second;
  /// kCopyOnRead: what a worker's private memory converges to, the mean over the workers. Each
  /// worker's: its USS now plus the share of what it still shares with the parent
  /// (shared_anon_bytes; the parent's anonymous size less its USS where that is unknown) that
  /// the fitted curve says it will copy; all of it before the curve bends.
  std::optional<std::uint64_t> converged_private_bytes;
  /// kCopyOnRead: the target's used memory when every worker has converged.
  std::optional<std::uint64_t> projected_bytes;
  /// kCopyOnRead, projection over the limit: seconds until the limit at the current rate.
  std::optional<double> seconds_to_limit;
  /// kCopyOnRead: the most workers whose converged copies fit under fit_fraction of the limit.
  std::optional<unsigned> max_workers;
  /// kCopyOnRead: converged_private_bytes comes from the fitted asymptote (the curve bends),
  /// not from all the workers still share with the parent.
  bool fitted = false;
  /// kCopyOnRead: the fitted asymptote has settled (GroupParams::settle_points fits agree):
  /// later samples refine what was said by little.
  bool settled = false;
};

/// Follows worker groups across full samples, classifies them, and raises `workers_copy` once
/// per group while it copies towards a projection over fit_fraction of the limit; then again,
/// marked as an update (at most max_updates times), when the fitted asymptote has settled and
/// changes what was said (max_workers, or the projection by more than update_fraction).
class GroupWatcher {
 public:
  explicit GroupWatcher(GroupParams params = {}) : params_(params) {}

  /// One full sample: its groups, the target's used memory and limit (the effective view).
  [[nodiscard]] std::vector<Event> observe(TimePoint at, const std::vector<ProcessGroup>& groups,
                                           const EffectiveMemory& memory, Level level);

  /// The last sample's groups with their shapes, largest first.
  [[nodiscard]] const std::vector<GroupAssessment>& assessments() const { return last_; }

 private:
  using Key = std::pair<int, std::uint64_t>;  ///< pid, start ticks: one process, never reused
  struct Point {
    TimePoint at;
    std::uint64_t parent_anon = 0;
    std::map<Key, std::uint64_t> private_bytes;  ///< per worker
  };
  struct Series {
    std::vector<Point> points;
    std::size_t replacements = 0;  ///< samples where workers left and new ones came
    bool fired = false;
    /// The update logic: the last fitted asymptote, how many consecutive fits agreed with the
    /// one before, the updates said, and what the last event said.
    std::optional<double> last_fit;
    std::size_t agreeing = 0;
    std::size_t updates = 0;
    std::optional<unsigned> said_max_workers;
    std::uint64_t said_projected = 0;
  };
  GroupAssessment assess(TimePoint at, const ProcessGroup& group, Series& series,
                         const EffectiveMemory& memory) const;

  GroupParams params_;
  std::map<Key, Series> series_;  ///< by parent
  std::vector<GroupAssessment> last_;
};

/// The one-line form `report` and `workers_copy` use:
/// "python3 (pid 42) + 4 workers: 3.1 GiB, 610 MiB private each, copying".
[[nodiscard]] std::string describe_group(const ProcessGroup& group,
                                         GroupShape shape = GroupShape::kUnknown);

}  // namespace memopt::analysis
