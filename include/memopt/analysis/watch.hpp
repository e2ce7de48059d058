#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/trend.hpp"
#include "memopt/model/facts.hpp"
#include "memopt/model/ring_buffer.hpp"

// The monitor's judgement: from a stream of observations to events. Pure: time arrives with
// each observation, so tests drive it with any clock.
namespace memopt::analysis {

using TimePoint = std::chrono::system_clock::time_point;

/// Everything the watcher can be tuned with (DESIGN.md levels, plus margins and trends).
struct WatchParams {
  Thresholds thresholds;
  /// A level clears only when used_percent is this many points below its threshold...
  double level_margin_percent = 2.0;
  /// ...or, for danger, when available is this much above the danger mark.
  std::uint64_t danger_margin_bytes = 16ull << 20;
  double pressure_some_avg10 = 10.0;  ///< PSI some avg10 (%) that raises a pressure event
  double pressure_full_avg10 = 5.0;   ///< PSI full avg10 (%) that raises one too
  LeakParams leak;
  ForecastParams forecast;
  std::size_t leak_processes = 20;  ///< follow this many of the largest processes
};

/// The cheap reading taken at the watch cadence.
struct QuickObservation {
  TimePoint at;
  EffectiveMemory memory;
  std::optional<std::uint64_t> oom_kills;  ///< the cgroup's oom_kill counter
  std::optional<model::Pressure> pressure;
};

/// Something that happened.
struct Event {
  std::string name;  ///< level_changed, oom_kill, pressure, leak_suspected, oom_forecast
  TimePoint at;
  Level level = Level::kNormal;   ///< the level when it happened
  std::optional<Level> previous;  ///< level_changed
  EffectiveMemory memory;
  std::string message;                      ///< one sentence for people
  std::optional<std::uint64_t> count;       ///< oom_kill: new kills
  std::vector<model::OomKill> victims;      ///< oom_kill: from the kernel log, if readable
  std::optional<model::Pressure> pressure;  ///< pressure
  std::optional<int> pid;                   ///< leak_suspected
  std::optional<std::string> process_name;  ///< leak_suspected
  std::optional<double> rate_mib_per_hour;  ///< leak_suspected, oom_forecast
  std::optional<double> r2;                 ///< leak_suspected
  std::optional<double> seconds_to_limit;   ///< oom_forecast
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

  [[nodiscard]] Level level() const { return level_; }
  [[nodiscard]] const WatchSummary& summary() const { return summary_; }
  [[nodiscard]] const model::RingBuffer<HistoryPoint>& history() const { return history_; }
  /// New parameters (SIGHUP): levels are re-judged at the next observation.
  void set_params(const WatchParams& params) { params_ = params; }

 private:
  [[nodiscard]] Level level_with_hysteresis(const EffectiveMemory& memory) const;
  Event make_event(std::string name, const QuickObservation& o) const;

  WatchParams params_;
  bool started_ = false;
  Level level_ = Level::kNormal;
  std::optional<TimePoint> last_at_;
  EffectiveMemory last_memory_;
  std::optional<std::uint64_t> oom_kills_;
  bool pressure_armed_ = true;
  std::optional<TimePoint> forecast_fired_at_;
  model::RingBuffer<HistoryPoint> history_;
  model::RingBuffer<Point> working_set_;  ///< downsampled for the forecast
  struct Series {
    std::string name;
    std::vector<Point> points;  ///< bounded: oldest dropped past kMaxSeriesPoints
    std::optional<TimePoint> fired_at;
  };
  std::map<int, Series> processes_;
  TimePoint origin_{};
  WatchSummary summary_;
};

}  // namespace memopt::analysis
