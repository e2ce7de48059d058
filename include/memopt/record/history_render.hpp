#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "memopt/analysis/history_sizing.hpp"
#include "memopt/record/recorder.hpp"
#include "memopt/render/history_sizing.hpp"
#include "memopt/roots.hpp"

namespace memopt::record {

/// Where write_history's output goes, piece by piece (standard output, a string).
using HistoryOutput = std::function<void(std::string_view)>;

/// `memopt history`'s output for `from <= t <= to`: "text" (a table and the events), "json"
/// (schema memopt.history/1: observations, samples with processes and GPUs, events) or "csv"
/// (the observations). Written to `out` as the rows are read, so memory does not grow with the
/// window (a week at 1 s is 605k observations).
void write_history(History& history, TimePoint from, TimePoint to, std::string_view format,
                   const HistoryOutput& out);
/// write_history's output as one string.
[[nodiscard]] std::string render_history(History& history, TimePoint from, TimePoint to,
                                         std::string_view format);

/// What `recommend --from-history` sizes from, `from <= t <= to`, handed to `sizer` row by row:
/// the observations with a known figure (a gone target is unknown, not 0) and the GPUs whose
/// memory NVML reported.
void read_sizing_input(History& history, TimePoint from, TimePoint to,
                       analysis::HistorySizer& sizer);

/// `recommend --from-history`'s figure and what it was made from.
struct HistoryRecommendation {
  analysis::HistorySizing sizing;
  render::HistorySizingContext context;
};

/// Sizes from the history in `database` over `range`, folded row by row (a week at 1 s is never
/// held whole), under a ceiling of this host's MemTotal (read under `roots`: right for the
/// default database, a guess for a copied one), beside `model`'s table row when given.
[[nodiscard]] HistoryRecommendation recommend_from_history(
    const Roots& roots, const std::string& database, TimeRange range,
    const std::optional<analysis::ModelSize>& model);

}  // namespace memopt::record
