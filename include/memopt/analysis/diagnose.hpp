#pragma once

#include <string>
#include <vector>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/report.hpp"
#include "memopt/model/facts.hpp"

// `memopt diagnose`: the seed's quick-diagnosis script, turned into ranked findings.
namespace memopt::analysis {

/// One thing that is wrong or worth changing, with what shows it and what to do.
struct Finding {
  std::string id;
  std::string severity;  ///< "critical", "warning" or "info"
  std::string title;
  std::string evidence;
  std::string fix;  ///< the exact command, flag or setting
};

/// The findings for `report` and `facts`, most severe first (stable within a severity).
[[nodiscard]] std::vector<Finding> diagnose(const Report& report, const model::Facts& facts,
                                            const AnalysisOptions& options);

/// The findings for one sample's worker groups: a parent whose forked workers already hold
/// private copies of a large part of its anonymous memory (each worker's private memory at
/// least a quarter of the parent's anonymous size, and at least 64 MiB) is named with its
/// workers' sizes, the end state when every worker has copied the parent's whole anonymous
/// memory, and the fix: the num_workers that fits under 90% of the limit (computed), the
/// dataset's lists/dicts serialised into numpy arrays or bytes, persistent workers. Critical
/// when that end state is over the limit, a warning when over 90% of it, info otherwise.
[[nodiscard]] std::vector<Finding> diagnose_groups(const std::vector<ProcessGroup>& groups,
                                                   const EffectiveMemory& memory);

}  // namespace memopt::analysis
