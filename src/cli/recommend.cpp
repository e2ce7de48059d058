#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/analysis/sizing.hpp"
#include "memopt/error.hpp"
#include "memopt/render/run.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

std::string table_row(const analysis::ModelSize& model) {
  std::string out =
      fmt::format("{}: minimum {}, recommended {}, best {} (the seed's table)\n", model.name,
                  format_bytes(model.minimum_bytes), format_bytes(model.recommended_bytes),
                  format_bytes(model.best_bytes));
  const std::pair<const char*, std::uint64_t> rows[] = {{"minimum", model.minimum_bytes},
                                                        {"recommended", model.recommended_bytes},
                                                        {"best", model.best_bytes}};
  for (const auto& [label, bytes] : rows) {
    out += render::render_recommendation(fmt::format("{} ({})", label, format_bytes(bytes)),
                                         analysis::recommend_limit(bytes));
  }
  return out;
}

/// The recommendation of a `memopt run --json` result.
std::string from_run(const std::string& path) {
  const std::string text = sys::read_required(path);
  nlohmann::json run;
  try {
    run = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("while reading {}: not JSON: {}", path, e.what()));
  }
  if (!run.is_object() || run.value("schema", "") != "memopt.run/1" ||
      !run.contains("peak_bytes") || !run["peak_bytes"].is_number_unsigned()) {
    throw Error(fmt::format(
        "while reading {}: not a `memopt run --json` result (schema memopt.run/1)", path));
  }
  const auto peak = run["peak_bytes"].get<std::uint64_t>();
  if (run.value("oom_killed", false)) {
    return fmt::format(
        "The run in {} was OOM-killed: its true peak is unknown (at least {}). Rerun with a larger "
        "--limit, e.g. --limit {}, and recommend from that run.\n",
        path, format_bytes(peak),
        analysis::docker_size(2 * std::max<std::uint64_t>(peak, 256 * kMiB)));
  }
  const std::string source = run.value("peak_source", "sampled");
  return render::render_recommendation(
      fmt::format("from {}: measured peak {} ({}) -> {} (peak at or below 60%; one run: low "
                  "confidence)",
                  path, format_bytes(peak),
                  source == "kernel" ? "the kernel's, spikes included"
                                     : "sampled: a spike between samples may be missing",
                  format_bytes(analysis::recommend_for_peak(peak).memory_bytes)),
      analysis::recommend_for_peak(peak));
}

}  // namespace

void add_recommend_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto from_run_file = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("recommend",
                                 "Container size for a model: the seed's table, or a measured run");
  cmd->add_option("--from-run", *from_run_file, "A `memopt run --json` result to size from");
  cmd->callback([&global, &action, from_run_file] {
    action = [&global, from_run_file] {
      std::string out;
      if (!from_run_file->empty()) {
        out = from_run(*from_run_file);
      } else if (global.model) {
        out = table_row(analysis::find_model(*global.model));
      } else {
        for (const auto& model : analysis::model_table()) out += table_row(model) + "\n";
      }
      write_output("", out);
      return 0;
    };
  });
}

}  // namespace memopt::cli
