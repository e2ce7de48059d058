#pragma once

#include <chrono>
#include <vector>

#include "memopt/analysis/diagnose.hpp"
#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/report.hpp"
#include "memopt/model/target.hpp"
#include "memopt/roots.hpp"

// One moment read and judged, for the commands that look once (`report`, `diagnose`) rather
// than loop (Engine).
namespace memopt::engine {

/// How long the processes embedding memopt have, all together, to answer `stats` for `report`
/// and `diagnose`: a report must not wait on a process that is stuck.
inline constexpr std::chrono::milliseconds kStatsTimeout{1000};

/// What `memopt report` shows of one moment.
struct ReportReading {
  analysis::Report report;
  /// The sample's process groups (parent + workers, ranks); empty without processes.
  std::vector<analysis::ProcessGroup> groups;
};

/// One sample of `target` (every container under it when `containers`), its processes grouped,
/// what the processes embedding memopt say of themselves added (`stats`, within kStatsTimeout),
/// judged with `options`. Throws Error when the sample cannot be read.
[[nodiscard]] ReportReading read_report(const Roots& roots, const model::Target& target,
                                        bool containers, const analysis::AnalysisOptions& options);

/// `report --check`'s moment: one sample of `target` judged, nothing asked of its processes.
[[nodiscard]] analysis::Report read_check(const Roots& roots, const model::Target& target,
                                          bool containers,
                                          const analysis::AnalysisOptions& options);

/// What `memopt diagnose` shows.
struct Diagnosis {
  /// The moment judged; a note of a source that could not be read is an "info" advice.
  analysis::Report report;
  model::Facts facts;  ///< OOM kills, pressure, the environment
  /// Ranked, critical first: diagnose()'s and the worker groups' (diagnose_groups).
  std::vector<analysis::Finding> findings;
};

/// One sample of `target` judged with `options`, the facts around it (with the torch version
/// each process embedding memopt says it runs, asked within kStatsTimeout) and the findings.
[[nodiscard]] Diagnosis read_diagnosis(const Roots& roots, const model::Target& target,
                                       const analysis::AnalysisOptions& options);

}  // namespace memopt::engine
