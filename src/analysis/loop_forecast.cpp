#include "memopt/analysis/loop_forecast.hpp"

#include <fmt/format.h>

namespace memopt::analysis {

std::string loop_forecast_message(int pid, const std::string& process_name,
                                  const model::LoopForecastReport& forecast) {
  const std::string who = process_name.empty() ? fmt::format("pid {}", pid)
                                               : fmt::format("{} (pid {})", process_name, pid);
  return fmt::format("{} forecast its loop: {}", who, forecast.message);
}

std::vector<Event> LoopForecastWatcher::observe(TimePoint at,
                                                const std::vector<model::ProcessStats>& answers,
                                                Level level, const EffectiveMemory& memory) {
  std::vector<Event> events;
  for (const auto& answer : answers) {
    if (answer.error) continue;
    for (const auto& forecast : answer.forecasts) {
      if (!seen_.emplace(answer.pid, forecast.sequence, forecast.at_unix_seconds).second) continue;
      Event e(LoopForecastSaid{.process = {answer.pid, answer.name}, .forecast = forecast}, at,
              level, memory);
      e.message = loop_forecast_message(answer.pid, answer.name.value_or(""), forecast);
      events.push_back(std::move(e));
    }
  }
  return events;
}

}  // namespace memopt::analysis
