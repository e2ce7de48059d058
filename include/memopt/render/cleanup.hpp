#pragma once

#include <string>

#include "memopt/actions/cleanup.hpp"
#include "memopt/protocol/leaks.hpp"

// What `memopt cleanup` prints: the steps, the cooperating processes, memory before and after.
namespace memopt::render {

/// The cleanup report as JSON: {dry_run, steps, processes, stale_sockets, before, after,
/// reclaimed_bytes}; unknown values are null.
[[nodiscard]] std::string render_cleanup_json(const actions::CleanupReport& report);

/// The cleanup report for people, one line per step and per cooperating process.
[[nodiscard]] std::string render_cleanup_text(const actions::CleanupReport& report);

/// A process's answer to a `leaks` request (memopt.leak_check()'s report, decoded by
/// protocol::decode_leaks_answer) for people: the growth split, then one line per growing site,
/// file:line first. A figure the report left out is "?".
[[nodiscard]] std::string render_leaks_text(const protocol::LeaksAnswer& answer);

/// Whether a `leaks` answer is a report (no "error"): `report --leaks` exits 0 for one, 1 for
/// anything else.
[[nodiscard]] bool is_leaks_report(const protocol::LeaksAnswer& answer);

}  // namespace memopt::render
