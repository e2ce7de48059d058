#pragma once

#include <string>
#include <string_view>

#include "memopt/record/recorder.hpp"

namespace memopt::record {

/// `memopt history`'s output for `from <= t <= to`: "text" (a table and the events), "json"
/// (schema memopt.history/1: observations, samples with processes and GPUs, events) or "csv"
/// (the observations).
[[nodiscard]] std::string render_history(History& history, TimePoint from, TimePoint to,
                                         std::string_view format);

}  // namespace memopt::record
