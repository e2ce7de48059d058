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
#include "memopt/error.hpp"
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

namespace {

/// VPA's figures from the interval peaks of points starting at `start` (the highest `max_bytes`).
VpaFigures figures_from_peaks(const std::map<std::int64_t, std::uint64_t>& peaks, HistoryTime start,
                              std::uint64_t max_bytes, double confidence_days,
                              const HistorySizingOptions& o) {
  VpaFigures f;
  f.max_bytes = max_bytes;
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

/// The load phase of the points [begin, end) that start at `begin` and end before the next
/// start: until usage first plateaus (none when it is steady from the start).
std::optional<LoadPhase> segment_phase(const UsagePoint* begin, const UsagePoint* end,
                                       const HistorySizingOptions& o) {
  // The first point from which usage stays within the tolerance for a whole window.
  const UsagePoint* plateau = nullptr;
  for (const auto* j = begin; j < end && j->at - begin->at <= o.load_phase_max; ++j) {
    const double base = static_cast<double>(j->used_bytes);
    const double tolerance =
        std::max(base * o.plateau_tolerance, static_cast<double>(o.plateau_tolerance_min_bytes));
    bool steady = true;
    bool covered = false;
    for (const auto* k = j + 1; k < end; ++k) {
      if (k->at - j->at > o.plateau_window) {
        covered = true;
        break;
      }
      if (std::abs(static_cast<double>(k->used_bytes) - base) > tolerance) {
        steady = false;
        break;
      }
    }
    if (steady && covered) {
      plateau = j;
      break;
    }
  }
  if (plateau == begin) return std::nullopt;  // already steady at the start: no load seen
  LoadPhase phase;
  phase.start = begin->at;
  phase.plateaued = plateau != nullptr;
  const UsagePoint* last = begin;
  for (const auto* j = begin; j < end; ++j) {
    if (plateau != nullptr ? j >= plateau : j->at - begin->at > o.load_phase_max) break;
    last = j;
    phase.peak_bytes = std::max(phase.peak_bytes, j->used_bytes);
  }
  phase.end = last->at;
  return phase;
}

}  // namespace

VpaFigures vpa_figures(const std::vector<UsagePoint>& points, double confidence_days,
                       const HistorySizingOptions& o) {
  if (points.empty()) return {};
  const auto start = points.front().at;
  std::map<std::int64_t, std::uint64_t> peaks;  // interval number -> peak
  std::uint64_t max_bytes = 0;
  for (const auto& p : points) {
    const auto k = static_cast<std::int64_t>((p.at - start) / o.interval);
    peaks[k] = std::max(peaks[k], p.used_bytes);
    max_bytes = std::max(max_bytes, p.used_bytes);
  }
  return figures_from_peaks(peaks, start, max_bytes, confidence_days, o);
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
    const std::size_t e = n + 1 < starts.size() ? starts[n + 1] : points.size();
    if (auto phase = segment_phase(points.data() + starts[n], points.data() + e, o)) {
      phases.push_back(*phase);
    }
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
  std::stable_sort(points.begin(), points.end(),
                   [](const UsagePoint& a, const UsagePoint& b) { return a.at < b.at; });
  HistorySizer sizer(o);
  for (const auto& g : gpus) sizer.add(g);
  for (const auto& p : points) sizer.add(p);
  return sizer.finish();
}

// --- HistorySizer: the same, one point at a time ----------------------------------------------
//
// find_oom_kills, find_load_phases and vpa_figures over a stream. A load phase's segment (from a
// start to the next) is kept only until its phase is decided: once a point lies more than
// load_phase_max + plateau_window after the start, every plateau candidate has a point more than
// plateau_window after it, and later points change nothing. Points at one time are held together
// until a later one comes: an OOM kill makes each of them a start.

HistorySizer::HistorySizer(HistorySizingOptions options) : options_(std::move(options)) {}

void HistorySizer::add(const GpuPoint& g) {
  auto& d = devices_[g.index];
  d.index = g.index;
  d.name = g.name;
  d.total_bytes = g.total_bytes;
  d.peak_bytes = std::max(d.peak_bytes, g.used_bytes);
  ++d.samples;
}

void HistorySizer::add(const UsagePoint& p) {
  if (count_ > 0 && p.at < last_) {
    throw Error("recommend --from-history: history points out of time order");
  }
  const auto minute = duration_cast<std::chrono::minutes>(p.at.time_since_epoch()).count();
  if (count_ == 0) {
    first_ = p.at;
    first_limit_ = p.limit_bytes;
  }
  if (count_ == 0 || minute != last_minute_) ++minutes_;
  last_minute_ = minute;
  limits_equal_ = limits_equal_ && p.limit_bytes == first_limit_;
  ++count_;
  last_ = p.at;
  if (!group_.empty() && group_.back().at != p.at) close_group();

  // find_oom_kills: the use at a kill is the highest of the interval before it.
  while (!window_.empty() && p.at - window_.front().first > options_.interval) window_.pop_front();
  if (p.oom_kills) {
    if (counter_ && *p.oom_kills > *counter_) {
      OomKill kill;
      kill.at = p.at;
      kill.count = *p.oom_kills - *counter_;
      kill.used_bytes = limit_.value_or(0);
      if (!window_.empty()) kill.used_bytes = std::max(kill.used_bytes, window_.front().second);
      const double used = static_cast<double>(kill.used_bytes);
      kill.bumped_bytes =
          std::max<std::uint64_t>(kill.used_bytes + options_.oom_min_bump_bytes,
                                  static_cast<std::uint64_t>(used * options_.oom_bump_ratio));
      kills_.push_back(kill);
      group_killed_ = true;
    }
    counter_ = p.oom_kills;
  }
  if (p.limit_bytes) limit_ = p.limit_bytes;
  while (!window_.empty() && window_.back().second <= p.used_bytes) window_.pop_back();
  window_.emplace_back(p.at, p.used_bytes);

  group_.push_back(p);
}

bool HistorySizer::limits_are_host_total(std::optional<std::uint64_t> host_total) const {
  return host_total && count_ > 0 && limits_equal_ && first_limit_ == host_total;
}

void HistorySizer::close_group() {
  for (std::size_t i = 0; i < group_.size(); ++i) {
    // Within a group no point is a gap after the one before (one time).
    const bool start =
        !previous_ || group_killed_ || (i == 0 && is_gap(*previous_, group_[i], options_));
    take(group_[i], start);
    previous_ = group_[i];
  }
  group_.clear();
  group_killed_ = false;
}

void HistorySizer::take(const UsagePoint& p, bool start) {
  if (start) {
    if (segment_open_ && !segment_resolved_) resolve_segment();
    segment_open_ = true;
    segment_resolved_ = false;
    segment_start_ = p.at;
    segment_.clear();
  }
  if (segment_resolved_) {
    classify(p);
    return;
  }
  segment_.push_back(p);
  if (p.at - segment_start_ > options_.load_phase_max + options_.plateau_window) {
    resolve_segment();
  }
}

void HistorySizer::resolve_segment() {
  if (auto phase = segment_phase(segment_.data(), segment_.data() + segment_.size(), options_)) {
    loads_.push_back(*phase);
  }
  segment_resolved_ = true;
  for (const auto& p : segment_) classify(p);
  segment_.clear();
}

void HistorySizer::classify(const UsagePoint& p) {
  // Phases end in time order (each before the next start): only the last ones can hold `p`.
  for (auto l = loads_.rbegin(); l != loads_.rend() && l->end >= p.at; ++l) {
    if (l->start <= p.at) return;
  }
  if (!steady_start_) steady_start_ = p.at;
  const auto k = static_cast<std::int64_t>((p.at - *steady_start_) / options_.interval);
  auto& peak = steady_peaks_[k];
  peak = std::max(peak, p.used_bytes);
  steady_max_ = std::max(steady_max_, p.used_bytes);
}

HistorySizing HistorySizer::finish() {
  const auto& o = options_;
  close_group();
  if (segment_open_ && !segment_resolved_) resolve_segment();
  HistorySizing r;
  r.points = count_;
  for (auto& [index, d] : devices_) {
    d.needed_bytes = static_cast<std::uint64_t>(static_cast<double>(d.peak_bytes) * (1 + o.margin));
    fit_mig_profile(d);
    r.gpus.push_back(d);
  }

  if (count_ == 0) {
    r.why = "nothing recorded";
    return r;
  }
  r.first = first_;
  r.last = last_;
  r.confidence_days = std::min(days(r.last - r.first), static_cast<double>(minutes_) / 1440.0);
  if (count_ < 2 || r.last - r.first < o.min_history) {
    r.why = fmt::format(
        "too little history: {} observation(s) over {:.0f} s; sizing needs at least {} min", count_,
        std::chrono::duration<double>(r.last - r.first).count(),
        duration_cast<std::chrono::minutes>(o.min_history).count());
    return r;
  }

  r.kills = kills_;
  r.loads = loads_;
  if (steady_start_) {
    r.steady = figures_from_peaks(steady_peaks_, *steady_start_, steady_max_, r.confidence_days, o);
  }
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
