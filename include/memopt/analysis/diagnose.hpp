#pragma once

#include <string>
#include <vector>

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

}  // namespace memopt::analysis
