#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/analysis/history_sizing.hpp"
#include "memopt/analysis/sizing.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/record/recorder.hpp"
#include "memopt/render/history_sizing.hpp"
#include "memopt/render/run.hpp"
#include "memopt/sys/clock.hpp"
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

struct RecommendFlags {
  std::string from_run;
  std::optional<std::string> from_history;  ///< "" for the recorder's default database
  std::optional<std::string> since;
  bool json = false;
};

/// Exit code when the history holds no figure (too little of it, an OOM crash loop).
constexpr int kNoRecommendation = 3;

/// The recommendation from the flight recorder's history.
int from_history(const GlobalOptions& global, const RecommendFlags& flags) {
  const auto now = sys::wall_now();
  render::HistorySizingContext context;
  context.database =
      flags.from_history->empty() ? record::default_database_path() : *flags.from_history;
  context.from =
      flags.since ? record::parse_time_spec(*flags.since, now, "--since") : record::TimePoint{};
  context.to = now;
  if (global.model) context.model = analysis::find_model(*global.model);

  record::History history(context.database);
  std::vector<analysis::UsagePoint> points;
  for (const auto& row : history.observations(context.from, context.to)) {
    if (!row.used_bytes) continue;  // unknown (the target was gone): not a zero
    points.push_back({row.at, row.resolution_s, *row.used_bytes, row.limit_bytes, row.oom_kills});
  }
  std::vector<analysis::GpuPoint> gpus;
  for (const auto& sample : history.samples(context.from, context.to)) {
    for (const auto& g : sample.gpus) {
      // A device whose memory NVML refused is stored with zeros: unknown, not empty.
      if (g.total_bytes == 0) continue;
      gpus.push_back({sample.at, g.index, g.name, g.used_bytes, g.total_bytes});
    }
  }

  analysis::HistorySizingOptions options;
  // The ceiling is this host's memory: right for the default database, a guess for a copied one.
  if (const auto meminfo = sys::read_optional(global.roots.procfs + "/meminfo")) {
    options.ceiling_bytes =
        readers::parse_meminfo(*meminfo, global.roots.procfs + "/meminfo").total_bytes;
    options.ceiling_source = "this host's MemTotal";
    context.ceiling_bytes = options.ceiling_bytes;
    context.ceiling_source = options.ceiling_source;
  }
  context.host_limit =
      options.ceiling_bytes && !points.empty() &&
      std::all_of(points.begin(), points.end(), [&](const analysis::UsagePoint& p) {
        return p.limit_bytes == options.ceiling_bytes;
      });
  const auto sizing = analysis::size_from_history(std::move(points), gpus, options);
  write_output("", flags.json ? render::render_history_sizing_json(sizing, context)
                              : render::render_history_sizing_text(sizing, context));
  return sizing.recommended_bytes ? 0 : kNoRecommendation;
}

}  // namespace

void add_recommend_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto flags = std::make_shared<RecommendFlags>();
  auto* cmd = app.add_subcommand(
      "recommend",
      "Container size for a model: the seed's table, a measured run, or the recorded history");
  auto* run_option =
      cmd->add_option("--from-run", flags->from_run, "A `memopt run --json` result to size from");
  auto* history_option =
      cmd->add_option("--from-history", flags->from_history,
                      "Size from `monitor --record`'s history, like Kubernetes' VPA (PATH alone: "
                      "the default database, as `memopt history` reads it). Exit 3: too little "
                      "history or an OOM crash loop, no figure")
          ->expected(0, 1);
  history_option->excludes(run_option);
  cmd->add_option("--since", flags->since,
                  "With --from-history: from this long ago (90s, 30m, 1h, 2d, 1w) or this UTC "
                  "time (default: all of it)")
      ->needs(history_option);
  cmd->add_flag("--json", flags->json,
                "With --from-history: JSON (schema memopt.history_recommendation/1)")
      ->needs(history_option);
  cmd->callback([&global, &action, flags] {
    action = [&global, flags] {
      if (flags->from_history) return from_history(global, *flags);
      std::string out;
      if (!flags->from_run.empty()) {
        out = from_run(flags->from_run);
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
