#pragma once

#include <nlohmann/json.hpp>

#include "memopt/render/report.hpp"

namespace memopt::render {

/// The `memopt.report/1` document as a JSON value, for formats that embed it.
[[nodiscard]] nlohmann::ordered_json report_document(const analysis::Report& report,
                                                     const RenderOptions& options);

}  // namespace memopt::render
