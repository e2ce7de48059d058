// Sizing from recorded history. The memory figures follow Kubernetes' Vertical Pod Autoscaler
// recommender as published in kubernetes/autoscaler, vertical-pod-autoscaler/pkg/recommender
// (README "Recommendation model"; model/aggregations_config.go, model/container.go,
// util/histogram.go, util/decaying_histogram.go, logic/estimator.go, logic/recommender.go):
//   - memory usage is reduced to one peak per aggregation interval (24 h), 8 intervals kept;
//   - the peaks go into a decaying exponential histogram: the first bucket is 10 MB wide, each
//     next one 5% wider, a sample's weight doubles every half-life (24 h) towards the present;
//   - target = p90, lower bound = p50, upper bound = p95, each times (1 + 15% safety margin);
//   - the upper bound is multiplied by (1 + 1/confidence)^1, the lower by (1 +
//   0.001/confidence)^-2,
//     confidence = min(days between the first and last sample, samples / (60 × 24)): the
//     estimator's `estimation * (1 + multiplier/confidence)^exponent`;
//   - every figure is at least podMinMemoryMb (250 MiB);
//   - after an OOM kill, a sample of max(used + 100 MiB, used × 1.2) (OOMMinBumpUp,
//     OOMBumpUpRatio), used = max(request, the interval's peak).
// Where memopt departs (see docs/sizing.md): the OOM bump is a floor computed once from the largest
// use measured at a kill, never from an earlier bump (VPA's bumps compound when the pod keeps being
// killed) and capped; an ongoing OOM crash loop gets no figure; the load phase after each start is
// sized apart from the steady state; intervals start at the first point (VPA's first sample forms
// an interval of its own).
#include "memopt/analysis/history_sizing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "memopt/analysis/sizing.hpp"
#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {

using std::chrono::duration_cast;
using std::chrono::seconds;

double days(HistoryTime::duration d) { return std::chrono::duration<double>(d).count() / 86400.0; }

std::uint64_t round_up_mib(double bytes) {
  const auto mib = static_cast<std::uint64_t>(std::ceil(bytes / static_cast<double>(kMiB)));
  return mib * kMiB;
}

std::uint64_t at_least(double bytes, std::uint64_t floor) {
  return std::max<std::uint64_t>(static_cast<std::uint64_t>(std::ceil(bytes)), floor);
}

/// The gap after which a point starts anew: the options' gap, or three of the points' resolution.
bool is_gap(const UsagePoint& before, const UsagePoint& after, const HistorySizingOptions& o) {
  const auto resolution = seconds(3 * std::max({before.resolution_s, after.resolution_s, 1}));
  return after.at - before.at > std::max<HistoryTime::duration>(o.gap, resolution);
}

}  // namespace

DecayingHistogram::DecayingHistogram(const HistorySizingOptions& options, HistoryTime reference)
    : first_(options.first_bucket_bytes),
      ratio_(1.0 + options.bucket_growth),
      half_life_(options.half_life),
      reference_(reference) {
  const int count =
      static_cast<int>(
          std::ceil(std::log(options.max_bytes * (ratio_ - 1) / first_ + 1) / std::log(ratio_))) +
      1;
  weights_.assign(static_cast<std::size_t>(count), 0.0);
}

int DecayingHistogram::bucket(double value) const {
  if (value < first_) return 0;
  const int b = static_cast<int>(std::log(value * (ratio_ - 1) / first_ + 1) / std::log(ratio_));
  return std::min(b, bucket_count() - 1);
}

double DecayingHistogram::bucket_start(int b) const {
  return first_ * (std::pow(ratio_, b) - 1) / (ratio_ - 1);
}

void DecayingHistogram::add(double value, double weight, HistoryTime at) {
  const double decay = std::exp2(std::chrono::duration<double>(at - reference_).count() /
                                 std::chrono::duration<double>(half_life_).count());
  weights_[static_cast<std::size_t>(bucket(value))] += weight * decay;
  total_ += weight * decay;
}

bool DecayingHistogram::empty() const { return total_ <= 0; }

double DecayingHistogram::percentile(double p) const {
  if (empty()) return 0;
  const double threshold = p * total_;
  double partial = 0;
  int b = 0;
  int last = 0;
  for (int i = 0; i < bucket_count(); ++i)
    if (weights_[static_cast<std::size_t>(i)] > 0) last = i;
  for (b = 0; b < last; ++b) {
    partial += weights_[static_cast<std::size_t>(b)];
    if (partial >= threshold) break;
  }
  // The end of the bucket, except for the last bucket, which has none.
  return b < bucket_count() - 1 ? bucket_start(b + 1) : bucket_start(b);
}

double vpa_confidence(const std::vector<UsagePoint>& points) {
  if (points.empty()) return 0;
  std::set<std::int64_t> minutes;
  for (const auto& p : points) {
    minutes.insert(duration_cast<std::chrono::minutes>(p.at.time_since_epoch()).count());
  }
  const double lifespan = days(points.back().at - points.front().at);
  const double samples = static_cast<double>(minutes.size()) / (60.0 * 24.0);
  return std::min(lifespan, samples);
}

VpaFigures vpa_figures(const std::vector<UsagePoint>& points, double confidence_days,
                       const HistorySizingOptions& o) {
  VpaFigures f;
  if (points.empty()) return f;
  const auto start = points.front().at;
  std::map<std::int64_t, std::uint64_t> peaks;  // interval number -> peak
  for (const auto& p : points) {
    const auto k = static_cast<std::int64_t>((p.at - start) / o.interval);
    peaks[k] = std::max(peaks[k], p.used_bytes);
    f.max_bytes = std::max(f.max_bytes, p.used_bytes);
  }
  const std::int64_t newest = peaks.rbegin()->first;
  const auto reference = start + (newest + 1) * o.interval;
  DecayingHistogram histogram(o, reference);
  for (const auto& [k, peak] : peaks) {
    if (k <= newest - o.intervals_kept) continue;
    const auto end = start + (k + 1) * o.interval;
    histogram.add(static_cast<double>(peak), 1.0, end);
    f.peaks.push_back({end, peak,
                       std::exp2(-std::chrono::duration<double>(reference - end).count() /
                                 std::chrono::duration<double>(o.half_life).count())});
  }
  f.p50_bytes = histogram.percentile(o.lower_percentile);
  f.p90_bytes = histogram.percentile(o.target_percentile);
  f.p95_bytes = histogram.percentile(o.upper_percentile);
  const double margin = 1.0 + o.margin;
  // No history: VPA's multipliers are infinite (upper) and zero (lower).
  const double upper_scale =
      confidence_days > 0 ? 1.0 + 1.0 / confidence_days : std::numeric_limits<double>::infinity();
  const double lower_scale =
      confidence_days > 0 ? std::pow(1.0 + 0.001 / confidence_days, -2.0) : 0.0;
  f.target_bytes = at_least(f.p90_bytes * margin, o.floor_bytes);
  f.lower_bytes = at_least(f.p50_bytes * margin * lower_scale, o.floor_bytes);
  const double upper = f.p95_bytes * margin * upper_scale;
  f.upper_bytes = std::isfinite(upper) && upper < 1.8e19
                      ? at_least(upper, o.floor_bytes)
                      : std::numeric_limits<std::uint64_t>::max();
  return f;
}

std::vector<OomKill> find_oom_kills(const std::vector<UsagePoint>& points,
                                    const HistorySizingOptions& o) {
  std::vector<OomKill> kills;
  std::optional<std::uint64_t> counter;
  std::optional<std::uint64_t> limit;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if (p.oom_kills) {
      if (counter && *p.oom_kills > *counter) {
        OomKill kill;
        kill.at = p.at;
        kill.count = *p.oom_kills - *counter;
        // What it used when killed: the limit it hit, or the interval's peak before the kill.
        kill.used_bytes = limit.value_or(0);
        for (std::size_t j = i; j-- > 0 && p.at - points[j].at <= o.interval;) {
          kill.used_bytes = std::max(kill.used_bytes, points[j].used_bytes);
        }
        const double used = static_cast<double>(kill.used_bytes);
        kill.bumped_bytes =
            std::max<std::uint64_t>(kill.used_bytes + o.oom_min_bump_bytes,
                                    static_cast<std::uint64_t>(used * o.oom_bump_ratio));
        kills.push_back(kill);
      }
      // A fall is a new counter (a new cgroup after a restart): the new baseline, not a kill.
      counter = p.oom_kills;
    }
    if (p.limit_bytes) limit = p.limit_bytes;
  }
  return kills;
}

std::vector<LoadPhase> find_load_phases(const std::vector<UsagePoint>& points,
                                        const HistorySizingOptions& o) {
  std::vector<std::size_t> starts;
  const auto kills = find_oom_kills(points, o);
  std::set<HistoryTime> kill_times;
  for (const auto& k : kills) kill_times.insert(k.at);
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (i == 0 || is_gap(points[i - 1], points[i], o) || kill_times.contains(points[i].at))
      starts.push_back(i);
  }
  std::vector<LoadPhase> phases;
  for (std::size_t n = 0; n < starts.size(); ++n) {
    const std::size_t s = starts[n];
    const std::size_t e = n + 1 < starts.size() ? starts[n + 1] : points.size();
    // The first point from which usage stays within the tolerance for a whole window.
    std::optional<std::size_t> plateau;
    for (std::size_t j = s; j < e && points[j].at - points[s].at <= o.load_phase_max; ++j) {
      const double base = static_cast<double>(points[j].used_bytes);
      const double tolerance =
          std::max(base * o.plateau_tolerance, static_cast<double>(o.plateau_tolerance_min_bytes));
      bool steady = true;
      bool covered = false;
      for (std::size_t k = j + 1; k < e; ++k) {
        if (points[k].at - points[j].at > o.plateau_window) {
          covered = true;
          break;
        }
        if (std::abs(static_cast<double>(points[k].used_bytes) - base) > tolerance) {
          steady = false;
          break;
        }
      }
      if (steady && covered) {
        plateau = j;
        break;
      }
    }
    if (plateau && *plateau == s) continue;  // already steady at the start: no load seen
    LoadPhase phase;
    phase.start = points[s].at;
    phase.plateaued = plateau.has_value();
    std::size_t end = s;
    for (std::size_t j = s; j < e; ++j) {
      if (plateau ? j >= *plateau : points[j].at - points[s].at > o.load_phase_max) break;
      end = j;
      phase.peak_bytes = std::max(phase.peak_bytes, points[j].used_bytes);
    }
    phase.end = points[end].at;
    phases.push_back(phase);
  }
  return phases;
}

void fit_mig_profile(GpuSizing& gpu) {
  struct Profile {
    const char* name;
    double gb;  // as the profile's name gives it
  };
  struct Family {
    const char* name_part;
    double min_gib, max_gib;
    std::vector<Profile> profiles;  // smallest memory first, fewer slices first
  };
  // clang-format off
  // NVIDIA's MIG user guide, "Supported MIG Profiles" (A100-40GB, A100-80GB, H100-80GB, H200).
  static const std::vector<Profile> eighty_gb = {{"1g.10gb", 10}, {"1g.20gb", 20}, {"2g.20gb", 20},
                                                 {"3g.40gb", 40}, {"4g.40gb", 40}, {"7g.80gb", 80}};
  static const std::vector<Family> families = {
      {"A100", 35, 45,
       {{"1g.5gb", 5}, {"1g.10gb", 10}, {"2g.10gb", 10}, {"3g.20gb", 20}, {"4g.20gb", 20},
        {"7g.40gb", 40}}},
      {"A100", 75, 85, eighty_gb},
      {"H100", 75, 85, eighty_gb},
      {"H200", 135, 145,
       {{"1g.18gb", 18}, {"1g.35gb", 35}, {"2g.35gb", 35}, {"3g.71gb", 71}, {"4g.71gb", 71},
        {"7g.141gb", 141}}},
  };
  // clang-format on
  const double total_gib = static_cast<double>(gpu.total_bytes) / static_cast<double>(kGiB);
  for (const auto& family : families) {
    if (gpu.name.find(family.name_part) == std::string::npos || total_gib < family.min_gib ||
        total_gib > family.max_gib) {
      continue;
    }
    gpu.known_device = true;
    for (const auto& profile : family.profiles) {
      const auto bytes = static_cast<std::uint64_t>(profile.gb * 1e9);
      if (bytes >= gpu.needed_bytes) {
        gpu.mig_profile = profile.name;
        gpu.mig_profile_bytes = bytes;
        return;
      }
    }
    gpu.note = fmt::format("no MIG profile fits: the largest, {}, holds {} GB",
                           family.profiles.back().name, family.profiles.back().gb);
    return;
  }
  gpu.note = fmt::format(
      "unknown device: memopt's MIG table has the A100 (40/80 GB), H100 (80 GB) and H200 (141 GB), "
      "not a {} of {}",
      gpu.name, format_bytes(gpu.total_bytes));
}

bool limits_are_host_total(const std::vector<UsagePoint>& points,
                           std::optional<std::uint64_t> host_total) {
  return host_total && !points.empty() &&
         std::all_of(points.begin(), points.end(),
                     [&](const UsagePoint& p) { return p.limit_bytes == host_total; });
}

HistorySizing size_from_history(std::vector<UsagePoint> points, const std::vector<GpuPoint>& gpus,
                                const HistorySizingOptions& o) {
  HistorySizing r;
  std::stable_sort(points.begin(), points.end(),
                   [](const UsagePoint& a, const UsagePoint& b) { return a.at < b.at; });
  r.points = points.size();

  std::map<unsigned, GpuSizing> devices;
  for (const auto& g : gpus) {
    auto& d = devices[g.index];
    d.index = g.index;
    d.name = g.name;
    d.total_bytes = g.total_bytes;
    d.peak_bytes = std::max(d.peak_bytes, g.used_bytes);
    ++d.samples;
  }
  for (auto& [index, d] : devices) {
    d.needed_bytes = static_cast<std::uint64_t>(static_cast<double>(d.peak_bytes) * (1 + o.margin));
    fit_mig_profile(d);
    r.gpus.push_back(d);
  }

  if (points.empty()) {
    r.why = "nothing recorded";
    return r;
  }
  r.first = points.front().at;
  r.last = points.back().at;
  r.confidence_days = vpa_confidence(points);
  if (points.size() < 2 || r.last - r.first < o.min_history) {
    r.why = fmt::format(
        "too little history: {} observation(s) over {:.0f} s; sizing needs at least {} min",
        points.size(), std::chrono::duration<double>(r.last - r.first).count(),
        duration_cast<std::chrono::minutes>(o.min_history).count());
    return r;
  }

  r.kills = find_oom_kills(points, o);
  r.loads = find_load_phases(points, o);
  std::vector<UsagePoint> steady;
  for (const auto& p : points) {
    const bool in_load = std::any_of(r.loads.begin(), r.loads.end(), [&](const LoadPhase& l) {
      return p.at >= l.start && p.at <= l.end;
    });
    if (!in_load) steady.push_back(p);
  }
  if (!steady.empty()) r.steady = vpa_figures(steady, r.confidence_days, o);
  std::uint64_t load_peak = 0;
  for (const auto& l : r.loads) load_peak = std::max(load_peak, l.peak_bytes);
  if (!r.loads.empty())
    r.load_bytes = round_up_mib(static_cast<double>(load_peak) * (1 + o.margin));

  if (!r.kills.empty()) {
    // One bump from the largest use measured at a kill: repeated kills at the same limit ask for
    // the same figure, not for a bump on a bump.
    const auto worst = std::max_element(
        r.kills.begin(), r.kills.end(),
        [](const OomKill& a, const OomKill& b) { return a.used_bytes < b.used_bytes; });
    const auto cap =
        static_cast<std::uint64_t>(static_cast<double>(worst->used_bytes) * o.oom_cap_ratio);
    r.oom_bytes = round_up_mib(static_cast<double>(std::min(worst->bumped_bytes, cap)));
    r.oom_note = fmt::format("max({} + 100 MiB, {} × 1.2) from the largest use at a kill, once",
                             format_bytes(worst->used_bytes), format_bytes(worst->used_bytes));
    if (worst->bumped_bytes > cap)
      r.oom_note += fmt::format(", capped at {:g}× that use", o.oom_cap_ratio);

    // An ongoing crash loop: enough kills within the window, the last one recent.
    const auto& last_kill = r.kills.back();
    std::uint64_t recent = 0;
    for (const auto& k : r.kills)
      if (last_kill.at - k.at <= o.crash_loop_window) recent += k.count;
    if (recent >= static_cast<std::uint64_t>(o.crash_loop_kills) &&
        r.last - last_kill.at < o.crash_loop_window) {
      r.crash_loop = true;
      std::uint64_t limit = 0;
      for (const auto& k : r.kills) limit = std::max(limit, k.used_bytes);
      r.why = fmt::format(
          "OOM crash loop: {} kills within {} min, the last {:.0f} min before the history ends, at "
          "a "
          "use of {}. VPA would bump the limit "
          "after each kill (+20%, at least 100 MiB) and loop; memopt gives no figure for a "
          "workload that is killed on every start. Measure one start outside the loop with "
          "`memopt run --limit {} -- CMD` (twice that use), or look for a load spike or a leak "
          "with `memopt postmortem --last`",
          recent, duration_cast<std::chrono::minutes>(o.crash_loop_window).count(),
          std::chrono::duration<double>(r.last - last_kill.at).count() / 60.0, format_bytes(limit),
          docker_size(2 * limit));
      return r;
    }
  }

  std::uint64_t figure = r.steady ? r.steady->target_bytes : 0;
  r.basis = "steady";
  if (r.load_bytes && *r.load_bytes > figure) {
    figure = *r.load_bytes;
    r.basis = "load";
  }
  if (r.oom_bytes && *r.oom_bytes > figure) {
    figure = *r.oom_bytes;
    r.basis = "oom";
  }
  if (figure == 0) {
    r.why = "no steady state and no load phase in the history";
    return r;
  }
  figure = round_up_mib(static_cast<double>(figure));
  if (o.ceiling_bytes && figure > *o.ceiling_bytes) {
    figure = *o.ceiling_bytes / kMiB * kMiB;
    r.capped_by_ceiling = true;
  }
  r.recommended_bytes = figure;
  return r;
}

}  // namespace memopt::analysis
