#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// Sizing from recorded history (`memopt recommend --from-history`): Kubernetes VPA's memory
// recommender, written from its published description, with a capped, non-compounding OOM bump,
// an OOM crash loop named instead of sized, the model-load spike apart from the steady state, and
// GPU memory per device with the smallest MIG profile that holds it. Pure functions on plain rows:
// the CLI converts the recorder's rows, tests feed synthetic histories.
namespace memopt::analysis {

using HistoryTime = std::chrono::system_clock::time_point;

/// One recorded observation of the watched container (the recorder's observations table).
struct UsagePoint {
  HistoryTime at;
  int resolution_s = 0;      ///< 0: one observation; 10 or 60: the maximum of such a bucket
  std::uint64_t used_bytes;  ///< working set (rows whose figure was unknown are left out)
  std::optional<std::uint64_t> limit_bytes;  ///< the limit in force, when known
  std::optional<std::uint64_t> oom_kills;    ///< the cgroup's OOM-kill counter, when known
};

/// One GPU in one recorded full sample (device-wide: every process on the device counts).
struct GpuPoint {
  HistoryTime at;
  unsigned index = 0;
  std::string name;  ///< NVML's name, e.g. "NVIDIA H200"
  std::uint64_t used_bytes = 0;
  std::uint64_t total_bytes = 0;
};

/// The knobs, VPA's defaults (pkg/recommender/model/aggregations_config.go, logic/recommender.go)
/// and memopt's own (phases, OOM cap, crash loop, minimum history).
struct HistorySizingOptions {
  std::chrono::seconds interval{std::chrono::hours(24)};  ///< one peak per interval
  int intervals_kept = 8;
  std::chrono::seconds half_life{std::chrono::hours(24)};
  double first_bucket_bytes = 1e7;  ///< 10 MB
  double bucket_growth = 0.05;      ///< each bucket 5% larger than the one before
  double max_bytes = 1e12;          ///< 1 TB: the last bucket starts at or above it
  double target_percentile = 0.90;
  double lower_percentile = 0.50;
  double upper_percentile = 0.95;
  double margin = 0.15;                      ///< safety margin on all three
  std::uint64_t floor_bytes = 250ull << 20;  ///< podMinMemoryMb, on all three
  std::uint64_t oom_min_bump_bytes = 100ull << 20;
  double oom_bump_ratio = 1.2;
  double oom_cap_ratio = 2.0;  ///< the OOM-bumped figure never exceeds this × the use at the kill
  /// Never recommend past this (the host's MemTotal, an ancestor's limit); absent: no ceiling.
  std::optional<std::uint64_t> ceiling_bytes;
  std::string ceiling_source;  ///< "this host's MemTotal"
  /// A start (history start, a gap, an OOM kill) begins a load phase that lasts until usage
  /// first plateaus (stays within plateau_tolerance for plateau_window), at most load_phase_max.
  std::chrono::seconds gap{120};
  std::chrono::seconds plateau_window{60};
  double plateau_tolerance = 0.05;
  std::uint64_t plateau_tolerance_min_bytes = 16ull << 20;
  std::chrono::seconds load_phase_max{600};
  int crash_loop_kills = 3;  ///< this many kills within crash_loop_window, the last one recent
  std::chrono::seconds crash_loop_window{3600};
  std::chrono::seconds min_history{600};  ///< less than this: no figure
};

/// VPA's decaying exponential histogram (pkg/recommender/util/histogram.go and
/// decaying_histogram.go): bucket n >= 1 starts at first * ((1 + growth)^n - 1) / growth; a sample
/// weighs 2^((t - reference) / half_life); a percentile is the *end* of the bucket where the
/// cumulative weight reaches it (the start of the last, open-ended bucket).
class DecayingHistogram {
 public:
  DecayingHistogram(const HistorySizingOptions& options, HistoryTime reference);
  void add(double value, double weight, HistoryTime at);
  [[nodiscard]] double percentile(double p) const;
  [[nodiscard]] bool empty() const;
  [[nodiscard]] int bucket(double value) const;
  [[nodiscard]] double bucket_start(int bucket) const;
  [[nodiscard]] int bucket_count() const { return static_cast<int>(weights_.size()); }

 private:
  double first_;
  double ratio_;
  std::chrono::seconds half_life_;
  HistoryTime reference_;
  std::vector<double> weights_;
  double total_ = 0;
};

/// One interval's peak (the histogram's input).
struct IntervalPeak {
  HistoryTime end;  ///< VPA timestamps an interval's peak at the interval's end
  std::uint64_t peak_bytes = 0;
  double weight = 0;  ///< its decayed weight relative to the newest interval (1.0)
};

/// VPA's three figures over one set of points.
struct VpaFigures {
  std::vector<IntervalPeak> peaks;                     ///< oldest first, at most intervals_kept
  double p50_bytes = 0, p90_bytes = 0, p95_bytes = 0;  ///< the histogram's percentiles
  std::uint64_t target_bytes = 0;                      ///< max(p90 × (1 + margin), floor)
  std::uint64_t lower_bytes = 0;  ///< max(p50 × (1 + margin) × (1 + 0.001/c)^-2, floor)
  std::uint64_t upper_bytes = 0;  ///< max(p95 × (1 + margin) × (1 + 1/c), floor)
  std::uint64_t max_bytes = 0;    ///< the highest point (VPA's p90 may leave it out)
};

/// A load phase: from a start until usage first plateaus.
struct LoadPhase {
  HistoryTime start, end;
  std::uint64_t peak_bytes = 0;
  bool plateaued = false;  ///< false: cut at load_phase_max without a plateau
};

/// One OOM kill, from the counter's rise between two observations.
struct OomKill {
  HistoryTime at;                  ///< the first observation after the rise
  std::uint64_t count = 1;         ///< kills in that rise
  std::uint64_t used_bytes = 0;    ///< max(limit before it, the peak of the interval before it)
  std::uint64_t bumped_bytes = 0;  ///< max(used + 100 MiB, used × 1.2)
};

/// The smallest MIG profile of a device that holds its peak.
struct GpuSizing {
  unsigned index = 0;
  std::string name;
  std::uint64_t total_bytes = 0;
  std::uint64_t peak_bytes = 0;    ///< device-wide
  std::uint64_t needed_bytes = 0;  ///< peak × (1 + margin)
  std::size_t samples = 0;
  bool known_device = false;               ///< the device is in memopt's MIG table
  std::optional<std::string> mig_profile;  ///< "1g.18gb"; absent: none fits / unknown device
  std::uint64_t mig_profile_bytes = 0;
  std::string note;  ///< why no profile, in words
};

/// What a history says.
struct HistorySizing {
  HistoryTime first, last;
  std::size_t points = 0;
  double confidence_days = 0;  ///< VPA's getConfidence: min(lifespan, minutes observed / 1440)
  /// No figure (too little history, or a crash loop): `why` says so; recommended_bytes absent.
  std::optional<std::uint64_t> recommended_bytes;
  std::string why;
  std::optional<VpaFigures> steady;  ///< over the points outside load phases
  std::vector<LoadPhase> loads;
  std::optional<std::uint64_t> load_bytes;  ///< the highest load peak × (1 + margin)
  std::vector<OomKill> kills;
  std::optional<std::uint64_t> oom_bytes;  ///< the OOM-bumped figure, capped (absent: no kill)
  std::string oom_note;                    ///< how it was capped, in words
  bool crash_loop = false;
  bool capped_by_ceiling = false;
  std::string basis;  ///< which figure set the recommendation ("steady", "load", "oom")
  std::vector<GpuSizing> gpus;
};

/// VPA's figures over `points` (oldest first; the whole span counts for confidence).
[[nodiscard]] VpaFigures vpa_figures(const std::vector<UsagePoint>& points, double confidence_days,
                                     const HistorySizingOptions& options);

/// VPA's confidence for `points`: min(days between first and last, distinct minutes / 1440).
[[nodiscard]] double vpa_confidence(const std::vector<UsagePoint>& points);

/// The load phases of `points` (oldest first): each start (the first point, a gap longer than
/// options.gap or three of the points' resolution, an OOM kill) until usage first plateaus.
[[nodiscard]] std::vector<LoadPhase> find_load_phases(const std::vector<UsagePoint>& points,
                                                      const HistorySizingOptions& options);

/// The OOM kills in `points`: each rise of the counter (a fall is a new counter, not a kill).
[[nodiscard]] std::vector<OomKill> find_oom_kills(const std::vector<UsagePoint>& points,
                                                  const HistorySizingOptions& options);

/// The smallest published MIG profile of a device of this name and total memory that holds
/// `needed_bytes`; fills mig_profile/known_device/note.
void fit_mig_profile(GpuSizing& gpu);

/// Whether every point's limit is `host_total` (known, and at least one point): the monitor
/// watched a target without a limit of its own, so the history is likely the host's memory
/// rather than a container's.
[[nodiscard]] bool limits_are_host_total(const std::vector<UsagePoint>& points,
                                         std::optional<std::uint64_t> host_total);

/// Sizes a container from its history (a HistorySizer fed the points in time order).
[[nodiscard]] HistorySizing size_from_history(std::vector<UsagePoint> points,
                                              const std::vector<GpuPoint>& gpus,
                                              const HistorySizingOptions& options = {});

/// size_from_history one point at a time, for a history too long to hold (`recommend
/// --from-history` over a week at 1 s: 605k points). It keeps running figures and, of the points,
/// only a load phase's first minutes (until its plateau is decided) and a day's falling peaks
/// (for the use at an OOM kill): memory does not grow with the history, only with the load
/// phases, kills and GPUs found. Gives what size_from_history gives for the same points.
class HistorySizer {
 public:
  explicit HistorySizer(HistorySizingOptions options = {});
  /// The next point: none older than the one before (the recorder's order; points at one time
  /// in any order). Throws Error for an older one.
  void add(const UsagePoint& point);
  /// A GPU in a recorded sample, in any order.
  void add(const GpuPoint& gpu);
  /// limits_are_host_total over the points added so far.
  [[nodiscard]] bool limits_are_host_total(std::optional<std::uint64_t> host_total) const;
  /// The sizing of the points added; call once, last.
  [[nodiscard]] HistorySizing finish();

 private:
  void close_group();
  void take(const UsagePoint& point, bool start);
  void resolve_segment();
  void classify(const UsagePoint& point);

  HistorySizingOptions options_;
  std::size_t count_ = 0;
  HistoryTime first_{}, last_{};
  std::size_t minutes_ = 0;  ///< distinct minutes (points come in time order)
  std::int64_t last_minute_ = 0;
  std::optional<std::uint64_t> first_limit_;
  bool limits_equal_ = true;  ///< every point's limit is the first's
  // OOM kills: the counter, the last limit known, and the peaks of the interval before a point
  // (each later than and above the next: a sliding maximum).
  std::optional<std::uint64_t> counter_, limit_;
  std::deque<std::pair<HistoryTime, std::uint64_t>> window_;
  std::vector<OomKill> kills_;
  // The points at the newest time (an OOM kill there makes each of them a start).
  std::vector<UsagePoint> group_;
  bool group_killed_ = false;
  std::optional<UsagePoint> previous_;  ///< the point before group_
  // The load phase being decided: the points from its start, until its plateau is known.
  std::vector<UsagePoint> segment_;
  bool segment_open_ = false, segment_resolved_ = false;
  HistoryTime segment_start_{};
  std::vector<LoadPhase> loads_;
  // The steady points' interval peaks (vpa_figures).
  std::optional<HistoryTime> steady_start_;
  std::map<std::int64_t, std::uint64_t> steady_peaks_;
  std::uint64_t steady_max_ = 0;
  std::map<unsigned, GpuSizing> devices_;
};

}  // namespace memopt::analysis
