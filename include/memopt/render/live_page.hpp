#pragma once

#include <string>
#include <vector>

#include "memopt/analysis/watch.hpp"

// The monitor's live page and the JSON it polls, for `memopt monitor --listen`.
namespace memopt::render {

/// The page served at `/`: self-contained HTML (the chart library is inlined, nothing is
/// fetched but /api/report and /api/history from the same origin, every 2 s). It shows the
/// level in words, limit/used/available, the last hour's used vs limit with the 70/80/90%
/// bands, GPUs, the top processes and recent events.
[[nodiscard]] std::string render_live_page();

/// `/api/history`: [{"t": unix seconds, "used_bytes", "limit_bytes", "available_bytes",
/// "level": "normal"...}], oldest first.
[[nodiscard]] std::string render_history_json(const std::vector<analysis::HistoryPoint>& history);

}  // namespace memopt::render
