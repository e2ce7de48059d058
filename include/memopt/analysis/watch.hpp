#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/shm.hpp"
#include "memopt/analysis/trend.hpp"
#include "memopt/model/facts.hpp"
#include "memopt/model/ring_buffer.hpp"

// The monitor's judgement: from a stream of observations to events. Pure: time arrives with
// each observation, so tests drive it with any clock.
namespace memopt::analysis {

using TimePoint = std::chrono::system_clock::time_point;

/// Everything the watcher can be tuned with (the levels of README "`memopt report`", plus margins
/// and trends).
struct WatchParams {
  Thresholds thresholds;
  /// A level clears only when used_percent is this many points below its threshold...
  double level_margin_percent = 2.0;
  /// ...or, for danger, when available is this much above the danger mark.
  std::uint64_t danger_margin_bytes = 16ull << 20;
  double pressure_some_avg10 = 10.0;  ///< PSI some avg10 (%) that raises a pressure event (0: off)
  double pressure_full_avg10 = 5.0;   ///< PSI full avg10 (%) that raises one too (0: off)
  LeakParams leak;
  ForecastParams forecast;
  std::size_t leak_processes = 20;  ///< follow this many of the largest processes
  ShmFillParams shm;                ///< when /dev/shm filling raises shm_filling
};

/// The cheap reading taken at the watch cadence.
struct QuickObservation {
  TimePoint at;
  EffectiveMemory memory;
  std::optional<std::uint64_t> oom_kills;  ///< the cgroup's oom_kill counter
  std::optional<model::Pressure> pressure;
  /// PSI triggers (sys::PsiTrigger specs) the kernel signalled since the last observation.
  std::vector<std::string> pressure_triggers;
};

/// One step of a cleanup, as `memopt cleanup` reports it.
struct CleanupStepOutcome {
  std::string name;    ///< "cooperative", "cgroup_reclaim", "drop_caches", "compact_memory"
  std::string status;  ///< "done", "skipped", "failed"
};

/// An allocation site whose memory grows steadily, as the leaking process's own leak check
/// (memopt.leak_check()) reports it through its cleanup socket.
struct LeakSite {
  std::string file;
  int line = 0;
  std::string kind;                  ///< "python" (tracemalloc) or "native" (torch CPU tensors)
  std::uint64_t size_bytes = 0;      ///< held at the process's last checkpoint
  std::uint64_t count = 0;           ///< allocations (python) or tensors (native) held
  double growth_bytes_per_hour = 0;  ///< over the process's leak check
  double r2 = 0;                     ///< fit of the size against the checkpoint number
};

/// Something that happened.
/// What an event says. Its name (to_string) is the "event" of JSON, MEMOPT_EVENT of hooks and
/// the label of memopt_events_total; docs/report-schema.md describes each one's fields.
enum class EventKind {
  kLevelChanged,     ///< the level changed (hysteresis applied)
  kOomKill,          ///< the kernel's OOM killer ended a process of the target
  kPressure,         ///< a PSI trigger fired or the configured stall share was crossed
  kLeakSuspected,    ///< a process grows in a straight line
  kOomForecast,      ///< the target's growth reaches the limit within the horizon
  kCleanup,          ///< an automatic cleanup ran (steps, bytes released)
  kShed,             ///< protection asked cooperating processes to shed
  kKill,             ///< protection chose (and signalled, unless a dry run) a victim
  kTargetLost,       ///< the watched process or cgroup went away
  kTargetFound,      ///< it is back
  kWorkersCopy,      ///< a parent's forked workers copy its memory page by page
  kGpuOrphan,        ///< GPU memory held by a process that is gone or leaves it idle
  kGpuWrongDevice,   ///< GPU memory on a device the process was not meant to use
  kShmFilling,       ///< the target's /dev/shm fills towards its size
  kShmSweep,         ///< protection removed a victim's orphaned /dev/shm files
  kLoopForecast,     ///< a cooperating process forecast that its loop reaches the limit
  kHookFailed,       ///< an --on-alert hook could not run
  kRecordingFailed,  ///< the flight recorder could not write
  kPostmortem,       ///< the flight recorder wrote a post-mortem
  kMonitorStopped,   ///< the monitor stopped during a danger episode (ends the recorder's)
  kNotice,           ///< a viewer's line for a notice (top's event pane); never in JSON
};

/// "level_changed", "oom_kill", ... (snake_case, stable: part of every document's schema).
[[nodiscard]] const char* to_string(EventKind kind) noexcept;

/// The kind whose to_string() is `name`; absent for any other text.
[[nodiscard]] std::optional<EventKind> parse_event_kind(std::string_view name) noexcept;

struct Event {
  EventKind kind = EventKind::kLevelChanged;
  TimePoint at;
  Level level = Level::kNormal;   ///< the level when it happened
  std::optional<Level> previous;  ///< level_changed
  /// level_changed: the first observation was above normal (no previous level)
  bool initial = false;
  EffectiveMemory memory;
  std::string message;                            ///< one sentence for people
  std::optional<std::uint64_t> count;             ///< oom_kill: new kills
  std::vector<model::OomKill> victims;            ///< oom_kill: from the kernel log, if readable
  std::optional<model::Pressure> pressure;        ///< pressure
  std::optional<std::string> pressure_trigger;    ///< pressure: the PSI trigger that fired
  std::optional<int> pid;                         ///< leak_suspected
  std::optional<std::string> process_name;        ///< leak_suspected
  std::optional<double> rate_mib_per_hour;        ///< leak_suspected, oom_forecast
  std::optional<double> r2;                       ///< leak_suspected
  std::optional<double> seconds_to_limit;         ///< oom_forecast
  std::optional<std::int64_t> released_bytes;     ///< cleanup: before - after, negative if it grew
  std::optional<double> duration_seconds;         ///< cleanup: how long it ran
  std::vector<CleanupStepOutcome> steps;          ///< cleanup
  std::optional<std::uint64_t> victim_pss_bytes;  ///< kill: the victim's PSS when chosen
  std::optional<std::string> reason;              ///< kill: why this victim
  std::vector<std::string> alternatives;          ///< kill: the other eligible processes
  std::optional<std::string> signal;              ///< kill: SIGTERM or SIGKILL
  std::optional<bool> dry_run;                    ///< kill: decided only, nothing sent
  /// leak_suspected: the top growing sites, asked from the process (empty: see leak_sites_note)
  std::vector<LeakSite> leak_sites;
  /// leak_suspected: why there are no sites, and how to get them (serve_cleanup, leak_check)
  std::optional<std::string> leak_sites_note;
  /// workers_copy: the copying workers (pid and process_name are the parent's)
  std::vector<int> worker_pids;
  /// workers_copy: the target's used memory once every worker has copied
  std::optional<std::uint64_t> projected_bytes;
  /// workers_copy: what each worker's private memory converges to
  std::optional<std::uint64_t> converged_private_bytes;
  /// workers_copy: the most workers that fit under 90% of the limit
  std::optional<unsigned> max_workers;
  /// workers_copy: a revision of one already said for this group, once the fitted asymptote
  /// of the workers' private memory settled (the first is said on early data, with the
  /// parent's whole anonymous size as each worker's end). At most GroupParams::max_updates.
  bool update = false;
  /// gpu_orphan, gpu_wrong_device: the verdict (bytes, GPUs, holders, fix); `pid` and
  /// `process_name` are set too. Raised once per process while the verdict holds.
  std::optional<GpuVerdict> gpu_verdict;
  /// shm_filling: the target's /dev/shm used and size, its fill rate (bytes per second, over
  /// the last two full samples) and the seconds to full at that rate (absent when not filling)
  std::optional<std::uint64_t> shm_used_bytes;
  std::optional<std::uint64_t> shm_size_bytes;
  std::optional<double> shm_bytes_per_second;
  std::optional<double> shm_seconds_to_full;
  /// loop_forecast: what the process forecast for its loop (`pid` and `process_name` are set)
  std::optional<model::LoopForecastReport> loop_forecast;
};

/// One point of the history kept for trends and pages (one per second at most).
struct HistoryPoint {
  TimePoint at;
  std::uint64_t used_bytes = 0;
  std::uint64_t limit_bytes = 0;
  std::uint64_t available_bytes = 0;
  Level level = Level::kNormal;
};

/// What the monitor saw, for the summary at exit.
struct WatchSummary {
  std::uint64_t peak_used_bytes = 0;
  double peak_used_percent = 0;
  bool peak_known = false;  ///< any observation with known memory (else the peak is unknown)
  std::array<std::chrono::milliseconds, 5> time_at_level{};
  std::map<std::string, std::uint64_t> events;  ///< count by event name
};

/// Turns observations into events, with hysteresis and cooldowns; bounded memory.
class Watcher {
 public:
  explicit Watcher(WatchParams params, std::size_t history_capacity = 3600);

  /// A quick reading: level changes, OOM kills, pressure, the OOM forecast.
  [[nodiscard]] std::vector<Event> observe(const QuickObservation& observation);

  /// A full sample's processes: leak suspicion.
  [[nodiscard]] std::vector<Event> observe_processes(
      TimePoint at, const std::vector<model::ProcessMemory>& processes);

  /// A full sample's /dev/shm ledger: shm_filling when its use crosses params.shm.used_percent
  /// or it would be full within params.shm.horizon_seconds at the rate since the last one.
  /// Fires once, and again only after a reading below both marks.
  [[nodiscard]] std::vector<Event> observe_shm(TimePoint at, const model::ShmLedger& shm);

  [[nodiscard]] Level level() const { return level_; }
  /// True while a fall waits for a second reading at the same lower level to be said.
  [[nodiscard]] bool settling() const { return falling_.has_value(); }
  /// The level the last reading showed, a fall not yet said included: what protection acts on,
  /// so that memory freed by a kill is never met with a second kill while the fall settles.
  [[nodiscard]] Level reading_level() const { return falling_.value_or(level_); }
  [[nodiscard]] const WatchSummary& summary() const { return summary_; }
  [[nodiscard]] const model::RingBuffer<HistoryPoint>& history() const { return history_; }
  /// New parameters (SIGHUP): levels are re-judged at the next observation.
  void set_params(const WatchParams& params) { params_ = params; }
  /// The target was lost or found again (another cgroup, or the same one after a gap): its
  /// OOM-kill counter and working-set trend start over, never compared across the two.
  void restart_target();
  /// Counts an event raised outside the watcher (the monitor's cleanup) in the summary.
  void count(const Event& event) { ++summary_.events[to_string(event.kind)]; }

 private:
  [[nodiscard]] Level level_with_hysteresis(const EffectiveMemory& memory) const;
  Event make_event(EventKind kind, const QuickObservation& o) const;

  WatchParams params_;
  bool started_ = false;
  Level level_ = Level::kNormal;
  std::optional<Level> falling_;  ///< the lower level one reading showed, to be confirmed
  std::optional<TimePoint> last_at_;
  EffectiveMemory last_memory_;
  std::optional<std::uint64_t> oom_kills_;
  bool pressure_armed_ = true;
  std::optional<TimePoint> pressure_fired_at_;
  bool pressure_by_trigger_ = false;  ///< the last pressure event came from a PSI trigger alone
  std::optional<TimePoint> forecast_fired_at_;
  model::RingBuffer<HistoryPoint> history_;
  model::RingBuffer<Point> working_set_;  ///< downsampled for the forecast
  struct Series {
    std::string name;
    std::vector<Point> points;  ///< bounded: oldest dropped past kMaxSeriesPoints
    std::optional<TimePoint> fired_at;
  };
  std::map<int, Series> processes_;
  std::optional<std::pair<TimePoint, std::uint64_t>> shm_last_;  ///< the last /dev/shm used
  bool shm_armed_ = true;
  TimePoint origin_{};
  WatchSummary summary_;
};

/// `monitor --auto-cleanup LEVEL`: whether to start the cleanup now. It starts when the level
/// is LEVEL or worse, none is running, and none started within the cooldown. Pure: the
/// (steady) time is passed in, so tests drive it with any clock.
class CleanupSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  CleanupSchedule(Level at, std::chrono::seconds cooldown) : at_(at), cooldown_(cooldown) {}

  /// True when a cleanup should start at `now`; a true answer records `now` as its start.
  [[nodiscard]] bool should_start(Level level, Clock::time_point now, bool running);

  /// New settings (SIGHUP); the last start still counts for the cooldown.
  void set(Level at, std::chrono::seconds cooldown) {
    at_ = at;
    cooldown_ = cooldown;
  }
  [[nodiscard]] Level level() const { return at_; }
  [[nodiscard]] std::chrono::seconds cooldown() const { return cooldown_; }

 private:
  Level at_;
  std::chrono::seconds cooldown_;
  std::optional<Clock::time_point> last_start_;
};

}  // namespace memopt::analysis
