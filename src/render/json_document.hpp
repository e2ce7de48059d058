#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "memopt/analysis/sizing.hpp"
#include "memopt/render/report.hpp"

namespace memopt::render {

/// `value`, or JSON null when it is unknown: never a made-up 0.
template <typename T>
[[nodiscard]] nlohmann::ordered_json or_null(const std::optional<T>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}

/// The `memopt.report/1` document as a JSON value, for formats that embed it.
[[nodiscard]] nlohmann::ordered_json report_document(const analysis::Report& report,
                                                     const RenderOptions& options);

/// A gpu_orphan / gpu_wrong_device verdict (report's `gpu_verdicts`, the monitor's events).
[[nodiscard]] nlohmann::ordered_json gpu_verdict_json(const analysis::GpuVerdict& v);

/// A recommendation's fields: memory_bytes, memory_swap_bytes, docker_flags, docker_update,
/// kubernetes (run.cpp; `run --json` and `recommend --from-history --json` share them).
[[nodiscard]] nlohmann::ordered_json recommendation_json(const analysis::Recommendation& r);

/// `doc` as text (`indent` < 0: one line). Outside bytes are made printable where they are read
/// (memopt::printable); one that still is not UTF-8 here (a cgroup directory's name, an
/// environment value) becomes U+FFFD instead of an exception: an output never aborts.
[[nodiscard]] inline std::string dump_json(const nlohmann::ordered_json& doc, int indent = -1) {
  return doc.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace memopt::render
