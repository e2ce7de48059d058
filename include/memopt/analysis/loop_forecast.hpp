#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "memopt/analysis/watch.hpp"
#include "memopt/model/sample.hpp"

// loop_forecast: the forecasts that processes embedding memopt said in-process (memopt.forecast,
// memopt::LoopForecast) and carried in their `stats` answers, turned into monitor events once.
namespace memopt::analysis {

/// Turns each forecast seen in `stats` answers into one loop_forecast event, the first time it is
/// seen (a process keeps its latest forecasts in every answer). Pure: no I/O, no clock.
class LoopForecastWatcher {
 public:
  /// Forecasts carried by `answers` not seen before, as events at `at` with `level` and `memory`
  /// (the engine's). An answer with an error carries none.
  [[nodiscard]] std::vector<Event> observe(TimePoint at,
                                           const std::vector<model::ProcessStats>& answers,
                                           Level level, const EffectiveMemory& memory);

 private:
  /// (pid, sequence, time said): a pid reused by a new process says its own sequence again.
  std::set<std::tuple<int, std::uint64_t, double>> seen_;
};

/// The event's one sentence: "python3 (pid 42) forecast its loop: <the process's sentence>".
[[nodiscard]] std::string loop_forecast_message(int pid, const std::string& process_name,
                                                const model::LoopForecastReport& forecast);

}  // namespace memopt::analysis
