#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/event.hpp"
#include "memopt/analysis/report.hpp"
#include "memopt/analysis/shm.hpp"
#include "memopt/analysis/trend.hpp"
#include "memopt/model/facts.hpp"
#include "memopt/model/ring_buffer.hpp"

// The monitor's judgement: from a stream of observations to events. Pure: time arrives with
// each observation, so tests drive it with any clock.
namespace memopt::analysis {

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
  void count(const Event& event) { ++summary_.events[to_string(event.kind())]; }

 private:
  [[nodiscard]] Level level_with_hysteresis(const EffectiveMemory& memory) const;
  template <EventPayloadType P>
  Event make_event(P payload, const QuickObservation& o) const;

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
