#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "memopt/analysis/report.hpp"

// The Prometheus text exposition format (0.0.4), rendered from one analysis::Report.
// Names as README "Running it for a fleet" lists them: the `memopt_` prefix, units in names, counters
// ending in `_total`, HELP and TYPE for every family.
namespace memopt::render {

/// What a report alone does not know: the monitor's counters, and how much to list.
struct MetricsExtras {
  std::size_t top = 5;  ///< processes exported (largest PSS first); labels pid and name only
  /// memopt_events_total{event}: counts since the monitor started (analysis::WatchSummary).
  /// Absent (a one-shot report): the family is omitted rather than shown as zeros.
  std::optional<std::map<std::string, std::uint64_t>> events;
  /// memopt_cleanup_reclaimed_bytes_total: bytes reclaimed by cleanups; absent: omitted.
  std::optional<std::uint64_t> cleanup_reclaimed_bytes;
};

/// Content-Type of render_prometheus()'s output.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

/// The event names the monitor knows; memopt_events_total lists each (at 0 until it happens)
/// so that rate() and increase() work from the first scrape.
[[nodiscard]] const std::vector<std::string_view>& known_event_names();

/// Every metric of `report`. Unknown values are omitted, never exported as a made-up 0.
[[nodiscard]] std::string render_prometheus(const analysis::Report& report,
                                            const MetricsExtras& extras);

/// Escapes a label value for the text format: backslash, double quote and newline.
[[nodiscard]] std::string escape_label_value(std::string_view value);

}  // namespace memopt::render
