#pragma once

#include <string>

#include "memopt/actions/cleanup.hpp"

// What `memopt cleanup` prints: the steps, the cooperating processes, memory before and after.
namespace memopt::render {

/// The cleanup report as JSON: {dry_run, steps, processes, stale_sockets, before, after,
/// reclaimed_bytes}; unknown values are null.
[[nodiscard]] std::string render_cleanup_json(const actions::CleanupReport& report);

/// The cleanup report for people, one line per step and per cooperating process.
[[nodiscard]] std::string render_cleanup_text(const actions::CleanupReport& report);

}  // namespace memopt::render
