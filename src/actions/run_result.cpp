#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/actions/run.hpp"
#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::actions {

RunResult read_run_result(const std::string& path) {
  const std::string text = sys::read_required(path);
  nlohmann::json run;
  try {
    run = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("while reading {}: not JSON: {}", path, e.what()));
  }
  if (!run.is_object() || run.value("schema", "") != "memopt.run/1" ||
      !run.contains("peak_bytes") ||
      !(run["peak_bytes"].is_number_unsigned() || run["peak_bytes"].is_null())) {
    throw Error(fmt::format(
        "while reading {}: not a `memopt run --json` result (schema memopt.run/1)", path));
  }
  if (run["peak_bytes"].is_null()) {
    throw Error(fmt::format(
        "the run in {} measured no peak (no sample saw the command): nothing to size from; "
        "rerun it with a command that runs longer than --sample-ms",
        path));
  }
  RunResult result;
  result.peak_bytes = run["peak_bytes"].get<std::uint64_t>();
  result.oom_killed = run.value("oom_killed", false);
  result.peak_source = run.value("peak_source", "sampled");
  return result;
}

}  // namespace memopt::actions
