#include "memopt/analysis/process_groups.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {

std::uint64_t share_of(const model::ProcessMemory& m) { return m.pss_bytes.value_or(m.rss_bytes); }

GroupMember member_of(const model::ProcessNode& node) {
  GroupMember member;
  member.node = node;
  member.private_bytes = node.memory.uss_bytes;
  if (node.memory.uss_bytes) {
    const std::uint64_t uss = *node.memory.uss_bytes;
    member.shared_bytes = node.memory.rss_bytes - std::min(node.memory.rss_bytes, uss);
    if (node.anon_bytes) {
      member.shared_anon_bytes =
          std::min(*member.shared_bytes, *node.anon_bytes - std::min(*node.anon_bytes, uss));
    }
  }
  return member;
}

/// A rank: RANK set, and not inherited unchanged from its parent (a rank's own workers carry
/// the rank's environment).
bool is_rank(const model::ProcessNode& node, const model::ProcessNode* parent) {
  if (!node.rank || !node.world_size) return false;
  return parent == nullptr || parent->rank != node.rank;
}

/// Least-squares slope of y over t (seconds); 0 with fewer than two distinct times.
double slope(const std::vector<std::pair<double, double>>& points) {
  if (points.size() < 2) return 0;
  double mt = 0, my = 0;
  for (const auto& [t, y] : points) mt += t, my += y;
  mt /= static_cast<double>(points.size());
  my /= static_cast<double>(points.size());
  double num = 0, den = 0;
  for (const auto& [t, y] : points) {
    num += (t - mt) * (y - my);
    den += (t - mt) * (t - mt);
  }
  return den > 0 ? num / den : 0;
}

/// The level a curve of private memory converges to, from its samples since its rate peaked:
/// a copy of pages read at random slows as fewer pages are left to copy (the rate falls in
/// proportion to what is left, rate = k x (asymptote - level)), so a line fitted to rate over
/// level crosses zero at the asymptote. The samples before the peak (workers starting up)
/// are left out: they would bend the line the other way. Absent until the latest rate has
/// fallen under bend_fraction of the peak with at least three rates since the peak, or when
/// the rate does not fall with the level; never under the last level (a curve that stopped).
std::optional<double> fitted_asymptote(const std::vector<std::pair<double, double>>& means,
                                       double bend_fraction) {
  std::vector<std::pair<double, double>> rates;  // (level, rate) between consecutive samples
  for (std::size_t i = 0; i + 1 < means.size(); ++i) {
    const double dt = means[i + 1].first - means[i].first;
    if (dt <= 0) continue;
    rates.emplace_back((means[i].second + means[i + 1].second) / 2,
                       (means[i + 1].second - means[i].second) / dt);
  }
  if (rates.empty()) return std::nullopt;
  const auto peak = std::max_element(
      rates.begin(), rates.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  if (peak->second <= 0 || std::distance(peak, rates.end()) < 3 ||
      rates.back().second > bend_fraction * peak->second) {
    return std::nullopt;
  }
  const std::vector<std::pair<double, double>> falling(peak, rates.end());
  const double k = slope(falling);  // rate per byte of level: negative when it falls
  if (k >= 0) return std::nullopt;
  double level = 0, rate = 0;
  for (const auto& [l, r] : falling) level += l, rate += r;
  level /= static_cast<double>(falling.size());
  rate /= static_cast<double>(falling.size());
  return std::max(level - rate / k, means.back().second);
}

}  // namespace

const char* to_string(GroupShape shape) noexcept {
  switch (shape) {
    case GroupShape::kStable:
      return "stable";
    case GroupShape::kCopyOnRead:
      return "copying";
    case GroupShape::kLeak:
      return "leak";
    case GroupShape::kSawtooth:
      return "sawtooth";
    case GroupShape::kUnknown:
      break;
  }
  return "unknown";
}

std::vector<ProcessGroup> group_processes(const std::vector<model::ProcessNode>& nodes) {
  std::unordered_map<int, const model::ProcessNode*> by_pid;
  for (const auto& n : nodes) by_pid.emplace(n.memory.pid, &n);
  auto parent_of = [&](const model::ProcessNode& n) -> const model::ProcessNode* {
    const auto it = by_pid.find(n.ppid);
    if (it == by_pid.end() || it->second == &n) return nullptr;
    // A parent that started after its "child" is a reused pid, not the parent.
    if (it->second->start_ticks > n.start_ticks) return nullptr;
    return it->second;
  };

  std::map<int, ProcessGroup> workers;                // by parent pid
  std::map<std::pair<int, int>, ProcessGroup> ranks;  // by (launcher pid, world size)
  for (const auto& n : nodes) {
    const auto* parent = parent_of(n);
    if (is_rank(n, parent)) {
      auto& g = ranks[{n.ppid, *n.world_size}];
      g.kind = GroupKind::kRanks;
      if (parent != nullptr) g.parent = *parent;
      g.members.push_back(member_of(n));
      continue;
    }
    if (parent == nullptr || !n.exe || !parent->exe || *n.exe != *parent->exe) continue;
    auto& g = workers[parent->memory.pid];
    g.kind = GroupKind::kWorkers;
    g.parent = *parent;
    g.parent_anon_bytes = parent->anon_bytes;
    g.members.push_back(member_of(n));
  }

  std::vector<ProcessGroup> groups;
  auto finish = [&](ProcessGroup& g) {
    std::sort(g.members.begin(), g.members.end(),
              [](const auto& a, const auto& b) { return a.node.memory.pid < b.node.memory.pid; });
    g.total_bytes = g.parent ? share_of(g.parent->memory) : 0;
    for (const auto& m : g.members) g.total_bytes += share_of(m.node.memory);
    groups.push_back(std::move(g));
  };
  for (auto& [pid, g] : workers) finish(g);
  for (auto& [key, g] : ranks) {
    if (g.members.size() >= 2) finish(g);
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const auto& a, const auto& b) { return a.total_bytes > b.total_bytes; });
  return groups;
}

std::string describe_group(const ProcessGroup& group, GroupShape shape) {
  std::string out;
  const bool one = group.members.size() == 1;
  const char* noun =
      group.kind == GroupKind::kRanks ? (one ? "rank" : "ranks") : (one ? "worker" : "workers");
  if (group.parent) {
    out = fmt::format("{} (pid {}) + {} {}", group.parent->memory.name, group.parent->memory.pid,
                      group.members.size(), noun);
  } else {
    out = fmt::format(
        "{} {} {}", group.members.size(),
        group.members.empty() ? std::string("?") : group.members.front().node.memory.name, noun);
  }
  out += ": " + format_bytes(group.total_bytes);
  std::uint64_t sum = 0;
  std::size_t known = 0;
  for (const auto& m : group.members) {
    if (m.private_bytes) sum += *m.private_bytes, ++known;
  }
  if (known > 0) out += fmt::format(", {} private each", format_bytes(sum / known));
  if (shape != GroupShape::kUnknown) out += fmt::format(", {}", to_string(shape));
  return out;
}

GroupAssessment GroupWatcher::assess(TimePoint at, const ProcessGroup& group, Series& series,
                                     const EffectiveMemory& memory) const {
  GroupAssessment a;
  a.group = group;
  Point point;
  point.at = at;
  point.parent_anon = group.parent_anon_bytes.value_or(0);
  for (const auto& m : group.members) {
    if (m.private_bytes)
      point.private_bytes[{m.node.memory.pid, m.node.start_ticks}] = *m.private_bytes;
  }
  if (!series.points.empty()) {
    const auto& before = series.points.back().private_bytes;
    const bool left = std::any_of(before.begin(), before.end(), [&](const auto& kv) {
      return !point.private_bytes.contains(kv.first);
    });
    const bool came = std::any_of(point.private_bytes.begin(), point.private_bytes.end(),
                                  [&](const auto& kv) { return !before.contains(kv.first); });
    if (left && came) ++series.replacements;
  }
  series.points.push_back(point);
  if (series.points.size() > params_.max_points) series.points.erase(series.points.begin());
  if (point.private_bytes.empty() || !group.parent_anon_bytes) return a;

  // The window: the trailing samples that saw the same workers.
  auto same_set = [&](const Point& p) {
    if (p.private_bytes.size() != point.private_bytes.size()) return false;
    return std::all_of(p.private_bytes.begin(), p.private_bytes.end(),
                       [&](const auto& kv) { return point.private_bytes.contains(kv.first); });
  };
  std::size_t first = series.points.size() - 1;
  while (first > 0 && same_set(series.points[first - 1])) --first;
  const std::size_t window = series.points.size() - first;
  if (window < params_.min_points) {
    if (series.replacements > 0) a.shape = GroupShape::kSawtooth;
    return a;
  }
  const auto origin = series.points[first].at;
  std::vector<std::pair<double, double>> means;
  for (std::size_t i = first; i < series.points.size(); ++i) {
    const auto& p = series.points[i];
    double sum = 0;
    for (const auto& [key, bytes] : p.private_bytes) sum += static_cast<double>(bytes);
    means.emplace_back(std::chrono::duration<double>(p.at - origin).count(),
                       sum / static_cast<double>(p.private_bytes.size()));
  }
  const double growth = means.back().second - means.front().second;
  const double anon = static_cast<double>(point.parent_anon);
  const double parent_growth = anon - static_cast<double>(series.points[first].parent_anon);
  const double threshold =
      std::max(static_cast<double>(params_.min_growth_bytes), params_.min_growth_fraction * anon);
  const double ceiling =
      anon * (1.0 + params_.ceiling_fraction) + static_cast<double>(params_.ceiling_slack_bytes);
  a.rate_bytes_per_second = slope(means);
  if (growth <= threshold || *a.rate_bytes_per_second <= 0) {
    a.shape = series.replacements > 0 ? GroupShape::kSawtooth : GroupShape::kStable;
    return a;
  }
  if (means.back().second > ceiling || parent_growth > growth / 2) {
    a.shape = GroupShape::kLeak;
    return a;
  }
  a.shape = GroupShape::kCopyOnRead;
  if (memory.scope == Scope::kUnknown || memory.limit_bytes == 0) return a;

  // What each worker can still copy: what it still shares with the parent (anonymous), or,
  // where that is unknown, the parent's anonymous size less what it holds.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> held_and_copyable;  // per worker
  double mean_ceiling = 0;
  for (const auto& m : group.members) {
    if (!m.private_bytes) continue;
    const std::uint64_t held = *m.private_bytes;
    const std::uint64_t copyable =
        m.shared_anon_bytes.value_or(point.parent_anon - std::min(point.parent_anon, held));
    held_and_copyable.emplace_back(held, copyable);
    mean_ceiling += static_cast<double>(held + copyable);
  }
  mean_ceiling /= static_cast<double>(held_and_copyable.size());
  // Before the curve bends, each worker is counted as copying all of it. Once it bends, the
  // fitted asymptote says which share of it the workers copy: a worker never copies the parts
  // of the heap it never reads (interpreter and library heap, objects the loader skips).
  double copied_share = 1.0;
  const double now = means.back().second;
  if (means.size() >= params_.min_fit_samples) {
    const auto asymptote = fitted_asymptote(means, params_.bend_fraction);
    if (asymptote && *asymptote < mean_ceiling) {
      copied_share = mean_ceiling > now ? (*asymptote - now) / (mean_ceiling - now) : 0.0;
      a.fitted = true;
    }
  }
  std::uint64_t remaining = 0;
  std::uint64_t held_sum = 0;
  std::uint64_t converged_sum = 0;
  for (const auto& [held, copyable] : held_and_copyable) {
    const auto more =
        static_cast<std::uint64_t>(std::llround(copied_share * static_cast<double>(copyable)));
    remaining += more;
    held_sum += held;
    converged_sum += held + more;
  }
  const std::uint64_t converged = converged_sum / held_and_copyable.size();
  a.converged_private_bytes = converged;
  a.projected_bytes = memory.used_bytes + remaining;
  const double fit = params_.fit_fraction * static_cast<double>(memory.limit_bytes);
  const double base =
      static_cast<double>(memory.used_bytes - std::min(memory.used_bytes, held_sum));
  a.max_workers =
      converged == 0 || fit <= base
          ? 0u
          : static_cast<unsigned>(std::floor((fit - base) / static_cast<double>(converged)));
  const double total_rate =
      *a.rate_bytes_per_second * static_cast<double>(point.private_bytes.size());
  if (*a.projected_bytes > memory.limit_bytes && total_rate > 0) {
    a.seconds_to_limit =
        static_cast<double>(memory.limit_bytes - std::min(memory.limit_bytes, memory.used_bytes)) /
        total_rate;
  }
  return a;
}

namespace {

std::string workers_copy_message(const GroupAssessment& a, const EffectiveMemory& memory,
                                 bool update) {
  const auto& g = a.group;
  std::string out = update ? std::string("update: ") : std::string();
  out += fmt::format(
      "{} (pid {}) + {} workers copy the parent's memory page by page: each worker's private "
      "memory rises towards the parent's {} anonymous ({} each now, +{}/s); when all have "
      "copied, {}{} against a limit of {}",
      g.parent->memory.name, g.parent->memory.pid, g.members.size(),
      format_bytes(g.parent_anon_bytes.value_or(0)),
      format_bytes(static_cast<std::uint64_t>(
          std::max(0.0,
                   [&] {
                     double sum = 0;
                     for (const auto& m : g.members)
                       sum += static_cast<double>(m.private_bytes.value_or(0));
                     return sum / static_cast<double>(std::max<std::size_t>(1, g.members.size()));
                   }()))),
      format_bytes(static_cast<std::uint64_t>(std::max(0.0, *a.rate_bytes_per_second))),
      a.fitted ? "" : "at most ", format_bytes(*a.projected_bytes),
      format_bytes(memory.limit_bytes));
  if (a.fitted) {
    out +=
        fmt::format(" (the fitted curve: each worker converges to {}, not the parent's whole {})",
                    format_bytes(a.converged_private_bytes.value_or(0)),
                    format_bytes(g.parent_anon_bytes.value_or(0)));
  }
  if (a.seconds_to_limit) out += fmt::format(", reached in ~{:.0f} s", *a.seconds_to_limit);
  if (update && a.max_workers && *a.max_workers >= g.members.size()) {
    out += fmt::format(
        ". The earlier projection (each worker copying the parent's whole anonymous memory) was "
        "pessimistic: the {} workers fit (num_workers={} would)",
        g.members.size(), *a.max_workers);
    return out;
  }
  out += fmt::format(
      ". Fix: num_workers={} fits; or keep the dataset's lists/dicts as numpy arrays or bytes "
      "(mmengine's serialize_data), which reading never copies; persistent_workers=True keeps "
      "the copies from being made again each epoch",
      a.max_workers.value_or(0));
  return out;
}

}  // namespace

std::vector<Event> GroupWatcher::observe(TimePoint at, const std::vector<ProcessGroup>& groups,
                                         const EffectiveMemory& memory, Level level) {
  std::vector<Event> events;
  last_.clear();
  std::set<Key> seen;
  for (const auto& group : groups) {
    if (group.kind != GroupKind::kWorkers || !group.parent) {
      GroupAssessment a;
      a.group = group;
      last_.push_back(std::move(a));
      continue;
    }
    const Key key{group.parent->memory.pid, group.parent->start_ticks};
    seen.insert(key);
    auto& series = series_[key];
    auto a = assess(at, group, series, memory);
    const bool over = a.shape == GroupShape::kCopyOnRead && a.projected_bytes &&
                      static_cast<double>(*a.projected_bytes) >
                          params_.fit_fraction * static_cast<double>(memory.limit_bytes);
    // The fitted asymptote settles when consecutive fits agree; what it says then may differ
    // from the first event's (which used the parent's whole anonymous size): said again.
    if (a.shape == GroupShape::kCopyOnRead && a.fitted && a.converged_private_bytes) {
      const auto fit = static_cast<double>(*a.converged_private_bytes);
      const bool agrees = series.last_fit && std::abs(fit - *series.last_fit) <=
                                                 params_.settle_fraction * *series.last_fit;
      series.agreeing = agrees ? series.agreeing + 1 : 0;
      series.last_fit = fit;
    } else {
      series.agreeing = 0;
      series.last_fit.reset();
    }
    const bool settled = series.agreeing + 1 >= params_.settle_points;
    a.settled = a.fitted && settled;
    const bool changed = a.projected_bytes &&
                         (a.max_workers != series.said_max_workers ||
                          std::abs(static_cast<double>(*a.projected_bytes) -
                                   static_cast<double>(series.said_projected)) >
                              params_.update_fraction * static_cast<double>(series.said_projected));
    const bool update = series.fired && a.shape == GroupShape::kCopyOnRead && a.fitted && settled &&
                        changed && series.updates < params_.max_updates;
    if ((over && !series.fired) || update) {
      if (series.fired) ++series.updates;
      series.fired = true;
      series.said_max_workers = a.max_workers;
      series.said_projected = a.projected_bytes.value_or(0);
      WorkersCopying copying{
          .process = {group.parent->memory.pid, group.parent->memory.name},
          .rate_mib_per_hour = *a.rate_bytes_per_second * 3600.0 / static_cast<double>(kMiB),
          .projected_bytes = a.projected_bytes,
          .converged_private_bytes = a.converged_private_bytes,
          .max_workers = a.max_workers,
          .update = update,
          .seconds_to_limit = a.seconds_to_limit};
      for (const auto& m : group.members) copying.worker_pids.push_back(m.node.memory.pid);
      Event e(std::move(copying), at, level, memory);
      e.message = workers_copy_message(a, memory, update);
      events.push_back(std::move(e));
    } else if (a.shape != GroupShape::kCopyOnRead && a.shape != GroupShape::kUnknown) {
      series.fired = false;
    }
    last_.push_back(std::move(a));
  }
  std::erase_if(series_, [&](const auto& kv) { return !seen.contains(kv.first); });
  return events;
}

}  // namespace memopt::analysis
