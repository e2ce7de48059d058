#include "engine/groups.hpp"

#include <algorithm>

#include "memopt/error.hpp"

namespace memopt::engine {

namespace {

/// A parent with workers whose figures can be read: a shape can be judged from its curve.
bool worth_watching(const analysis::GroupAssessment& a) {
  const auto& g = a.group;
  return g.kind == analysis::GroupKind::kWorkers && g.parent && g.parent_anon_bytes &&
         std::any_of(g.members.begin(), g.members.end(),
                     [](const analysis::GroupMember& m) { return m.private_bytes.has_value(); });
}

}  // namespace

std::vector<analysis::Event> GroupTracker::observe_sample(
    const model::Sample& sample, const analysis::EffectiveMemory& memory, analysis::Level level,
    SteadyTime now, std::vector<analysis::ProcessGroup>& found) {
  host_wide_ = sample.processes_host_wide;
  return judge(sample.processes, sample.timestamp, memory, level, now, found);
}

namespace {

std::uint64_t growth_that_calls_for_a_look(std::uint64_t limit_bytes) {
  return std::max<std::uint64_t>(
      kGroupsGrowthBytes,
      static_cast<std::uint64_t>(kGroupsGrowthFraction * static_cast<double>(limit_bytes)));
}

}  // namespace

std::optional<std::uint64_t> GroupTracker::growth_mark(std::optional<std::uint64_t> usage_bytes,
                                                       std::optional<std::uint64_t> limit_bytes) {
  if (!usage_bytes || !limit_bytes) return std::nullopt;
  return *usage_bytes + growth_that_calls_for_a_look(*limit_bytes);
}

bool GroupTracker::due(SteadyTime now, const analysis::EffectiveMemory& memory) const {
  if (now - last_look_ < kGroupsEvery) return false;
  if (watching_) return true;
  if (memory.scope == analysis::Scope::kUnknown || !used_at_last_look_) return false;
  return memory.used_bytes > *used_at_last_look_ + growth_that_calls_for_a_look(memory.limit_bytes);
}

std::vector<analysis::Event> GroupTracker::observe_again(const readers::CollectOptions& collect,
                                                         analysis::TimePoint at,
                                                         const analysis::EffectiveMemory& memory,
                                                         analysis::Level level, SteadyTime now) {
  std::vector<model::Note> notes;  // said by the full samples; a closer look adds nothing
  std::vector<model::ProcessMemory> processes;
  try {
    processes = readers::collect_processes(roots_, collect, host_wide_, notes);
  } catch (const Error&) {
    // procfs could not be listed: the next full sample says why; no look until then.
    last_look_ = now;
    return {};
  }
  std::vector<analysis::ProcessGroup> found;
  return judge(processes, at, memory, level, now, found);
}

std::vector<analysis::Event> GroupTracker::judge(const std::vector<model::ProcessMemory>& processes,
                                                 analysis::TimePoint at,
                                                 const analysis::EffectiveMemory& memory,
                                                 analysis::Level level, SteadyTime now,
                                                 std::vector<analysis::ProcessGroup>& found) {
  found = analysis::group_processes(readers::read_process_nodes(roots_, processes, &tree_cache_));
  auto events = groups_.observe(at, found, memory, level);
  watching_ = false;
  std::map<std::pair<int, std::uint64_t>, SteadyTime> seen;
  for (const auto& a : groups_.assessments()) {
    if (!worth_watching(a)) continue;
    const std::pair key{a.group.parent->memory.pid, a.group.parent->start_ticks};
    const auto it = first_seen_.find(key);
    const auto since = it == first_seen_.end() ? now : it->second;
    seen.emplace(key, since);
    if (a.shape == analysis::GroupShape::kUnknown ||
        (a.shape == analysis::GroupShape::kCopyOnRead && !a.settled)) {
      watching_ = watching_ || now - since < kGroupsWatchFor;
    }
  }
  first_seen_ = std::move(seen);
  last_look_ = now;
  if (memory.scope != analysis::Scope::kUnknown) used_at_last_look_ = memory.used_bytes;
  return events;
}

}  // namespace memopt::engine
