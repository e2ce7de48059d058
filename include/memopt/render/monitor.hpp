#pragma once

#include <chrono>
#include <string>

#include "memopt/analysis/watch.hpp"
#include "memopt/render/report.hpp"

// What `memopt monitor` writes: a line per sample and per event (text), or JSON Lines.
namespace memopt::render {

/// A full sample: one line for people, or `{"type":"sample", ...memopt.report/1...}`.
[[nodiscard]] std::string render_monitor_sample(const analysis::Report& report,
                                                const RenderOptions& options, bool json);

/// An event: one line for people, or `{"type":"event","event":NAME,"timestamp":...}`.
[[nodiscard]] std::string render_event(const analysis::Event& event, bool json);

/// The summary at exit: how long it ran, the peak, time at each level, events seen.
[[nodiscard]] std::string render_watch_summary(const analysis::WatchSummary& summary,
                                               std::chrono::milliseconds ran, bool json);

}  // namespace memopt::render
