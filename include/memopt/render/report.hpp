#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/report.hpp"

// Every output format, rendered from one analysis::Report.
namespace memopt::render {

struct RenderOptions {
  std::size_t top = 5;      ///< how many processes to list (largest PSS first)
  bool color = false;       ///< ANSI colours in text (a terminal, and NO_COLOR unset)
  bool pretty = true;       ///< JSON: indented (true) or one line (false, for JSON Lines)
  bool containers = false;  ///< list the report's containers (report --containers)
  /// The sample's process groups (parent + workers, ranks): one line each under the
  /// processes, and `process_groups` in JSON when there is any.
  std::vector<analysis::ProcessGroup> groups;
};

/// The person's first look: level in words, limit/used/available, cgroup, top processes,
/// GPUs, fragmentation, advice. Unknown values read "unknown", never 0.
[[nodiscard]] std::string render_text(const analysis::Report& report, const RenderOptions& options);

/// The `memopt.report/1` JSON document of docs/report-schema.md; unknown values are null.
[[nodiscard]] std::string render_json(const analysis::Report& report, const RenderOptions& options);

/// One monitoring-plugin line ("MEMOPT WARNING - ... | perfdata"). `problems` (protection that
/// would not work as configured) come first in the text and make a normal level a warning.
[[nodiscard]] std::string render_check(const analysis::Report& report,
                                       const std::vector<std::string>& problems = {});

/// The monitoring-plugin exit code of a level: 0 normal/acceptable, 1 warning,
/// 2 severe/danger, 3 unknown; with `problems`, at least 1.
[[nodiscard]] int check_exit_code(analysis::Level level, bool problems = false);

}  // namespace memopt::render
