#pragma once

#include <string>
#include <string_view>

#include "memopt/analysis/history_sizing.hpp"
#include "memopt/record/recorder.hpp"

namespace memopt::record {

/// `memopt history`'s output for `from <= t <= to`: "text" (a table and the events), "json"
/// (schema memopt.history/1: observations, samples with processes and GPUs, events) or "csv"
/// (the observations).
[[nodiscard]] std::string render_history(History& history, TimePoint from, TimePoint to,
                                         std::string_view format);

/// What `recommend --from-history` sizes from, `from <= t <= to`: the observations with a
/// known figure (a gone target is unknown, not 0) and the GPUs whose memory NVML reported.
struct SizingInput {
  std::vector<analysis::UsagePoint> points;
  std::vector<analysis::GpuPoint> gpus;
};
[[nodiscard]] SizingInput read_sizing_input(History& history, TimePoint from, TimePoint to);

}  // namespace memopt::record
