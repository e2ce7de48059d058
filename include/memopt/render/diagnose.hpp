#pragma once

#include <string>
#include <vector>

#include "memopt/analysis/diagnose.hpp"
#include "memopt/render/report.hpp"

namespace memopt::render {

/// The diagnosis for people: the report, OOM kills, environment, then findings with
/// evidence and fix, most severe first.
[[nodiscard]] std::string render_diagnose_text(const analysis::Report& report,
                                               const model::Facts& facts,
                                               const std::vector<analysis::Finding>& findings,
                                               const RenderOptions& options);

/// The same as JSON (schema memopt.diagnose/1; the report inside is memopt.report/1).
[[nodiscard]] std::string render_diagnose_json(const analysis::Report& report,
                                               const model::Facts& facts,
                                               const std::vector<analysis::Finding>& findings,
                                               const RenderOptions& options);

}  // namespace memopt::render
