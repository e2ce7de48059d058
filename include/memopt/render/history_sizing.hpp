#pragma once

#include <optional>
#include <string>

#include "memopt/analysis/history_sizing.hpp"
#include "memopt/analysis/report.hpp"

// Output of `memopt recommend --from-history`.
namespace memopt::render {

/// What the recommendation was made from, besides the history itself.
struct HistorySizingContext {
  std::string database;                        ///< the file read
  analysis::HistoryTime from, to;              ///< the span asked for (--since .. now)
  std::optional<analysis::ModelSize> model;    ///< --model: the seed's table row to compare
  std::optional<std::uint64_t> ceiling_bytes;  ///< what the figure may not exceed
  std::string ceiling_source;                  ///< "this host's MemTotal"
  /// Every recorded limit equals this host's MemTotal: the monitor watched a target without a
  /// limit of its own, so the history is likely the host's memory rather than a container's.
  bool host_limit = false;
};

/// VPA's confidence in words: "low" under a day, "medium" under a week, else "high".
[[nodiscard]] std::string_view confidence_word(double confidence_days);

/// The seed's table row against the measured figure, the difference explained in one sentence.
[[nodiscard]] std::string compare_with_table(const analysis::ModelSize& model,
                                             std::uint64_t measured_bytes,
                                             std::uint64_t max_used_bytes);

/// For people: the history's span and confidence, the steady state's VPA figures, the load spike,
/// OOM kills, GPUs with their MIG profile, the table row, and the recommendation as Docker flags,
/// a `docker update` command and a Kubernetes snippet; or why there is no figure.
[[nodiscard]] std::string render_history_sizing_text(const analysis::HistorySizing& sizing,
                                                     const HistorySizingContext& context);

/// The same as JSON (schema memopt.history_recommendation/1; docs/sizing.md lists the fields).
[[nodiscard]] std::string render_history_sizing_json(const analysis::HistorySizing& sizing,
                                                     const HistorySizingContext& context);

}  // namespace memopt::render
