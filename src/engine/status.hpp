#pragma once

#include <optional>
#include <string>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/engine.hpp"

// The report every output shows: the engine's level (with hysteresis) and its reason, and
// between full samples the quick readings in place of the old ones.
namespace memopt::engine {

/// The status of `memory` with the watcher's level (held by hysteresis or settling, said in
/// a reason), and why the target is unknown when it is (`unreadable`).
[[nodiscard]] analysis::Status engine_status(const analysis::EffectiveMemory& memory,
                                             const EngineOptions& options,
                                             const analysis::Watcher& watcher,
                                             const std::optional<std::string>& unreadable);

/// The report between full samples: the cheap readings of `quick` (taken as `o`) replace the
/// old ones, the status is `status` and the advice is judged again (with `pressure_advice`, how
/// pressure is watched); processes and GPUs stay those of the last full sample.
void refresh_report(analysis::Report& report, const analysis::QuickObservation& o,
                    const model::Sample& quick, analysis::Status status,
                    const analysis::AnalysisOptions& options,
                    const std::optional<analysis::Advice>& pressure_advice);

}  // namespace memopt::engine
