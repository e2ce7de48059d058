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

/// A process's answer to a `leaks` request (the JSON line of memopt.leak_check()'s report:
/// sites, checkpoints, duration_s, rss/python/torch_cpu/unexplained_native growth) for people:
/// one line per growing site, file:line first. Throws Error when `answer` is not that JSON.
[[nodiscard]] std::string render_leaks_text(const std::string& answer);

/// Whether a `leaks` answer is a report (a JSON object without "error"): `report --leaks`
/// exits 0 for one, 1 for anything else.
[[nodiscard]] bool is_leaks_report(const std::string& answer);

}  // namespace memopt::render
