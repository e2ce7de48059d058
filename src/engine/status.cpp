#include "engine/status.hpp"

#include <fmt/format.h>

namespace memopt::engine {

analysis::Status engine_status(const analysis::EffectiveMemory& memory,
                               const EngineOptions& options, const analysis::Watcher& watcher,
                               const std::optional<std::string>& unreadable) {
  auto status = analysis::assess(memory, options.analysis.thresholds);
  const auto level = watcher.level();
  if (status.level != level) {
    status.reasons.push_back(
        watcher.settling()
            ? fmt::format("held at {} until the next reading confirms the fall",
                          analysis::to_string(level))
            : fmt::format(
                  "held at {} until used falls {:g} points below its threshold (hysteresis)",
                  analysis::to_string(level), options.config.watch.level_margin_percent));
    status.level = level;
  }
  if (unreadable && memory.scope == analysis::Scope::kUnknown) {
    status.reasons.push_back(
        fmt::format("memory of {} unknown: {}", options.target.describe(), *unreadable));
  }
  return status;
}

void refresh_report(analysis::Report& r, const analysis::QuickObservation& o,
                    const model::Sample& quick, analysis::Status status,
                    const analysis::AnalysisOptions& options,
                    const std::optional<analysis::Advice>& pressure_advice) {
  r.sample.timestamp = o.at;
  r.sample.host = quick.host;
  r.sample.cgroup_unreadable = quick.cgroup_unreadable;
  if (quick.cgroup_unreadable) {  // gone: none of the figures read before stays in view
    r.sample.cgroup.reset();
    r.sample.processes.clear();
    r.sample.shm.reset();
  }
  if (r.sample.cgroup && quick.cgroup) {
    r.sample.cgroup->usage_bytes = quick.cgroup->usage_bytes;
    r.sample.cgroup->working_set_bytes = quick.cgroup->working_set_bytes;
  }
  if (r.sample.cgroup && o.oom_kills) r.sample.cgroup->oom_kill_events = o.oom_kills;
  if (o.pressure) {
    if (r.sample.cgroup && r.sample.cgroup->pressure) {
      r.sample.cgroup->pressure = o.pressure;
    } else if (o.memory.scope == analysis::Scope::kHost) {
      r.sample.host_pressure = o.pressure;
    }
  }
  r.memory = o.memory;
  r.status = std::move(status);
  r.advice = analysis::advise(r.sample, r.memory, options);
  if (pressure_advice) r.advice.push_back(*pressure_advice);
}

}  // namespace memopt::engine
