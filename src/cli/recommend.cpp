#include <fmt/format.h>

#include <memory>

#include "cli/options.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/actions/run.hpp"
#include "memopt/analysis/history_sizing.hpp"
#include "memopt/analysis/sizing.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/record/history_render.hpp"
#include "memopt/render/history_sizing.hpp"
#include "memopt/render/run.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

struct RecommendFlags {
  std::string from_run;
  std::optional<std::string> from_history;  ///< "" for the recorder's default database
  std::optional<std::string> since;
  OutputFormat output_format;
};

/// Exit code when the history holds no figure (too little of it, an OOM crash loop).
constexpr int kNoRecommendation = 3;

/// The recommendation from the flight recorder's history.
int from_history(const GlobalOptions& global, const RecommendFlags& flags) {
  const auto database =
      flags.from_history->empty() ? record::default_database_path() : *flags.from_history;
  std::optional<analysis::ModelSize> model;
  if (global.model) model = analysis::find_model(*global.model);
  const auto [sizing, context] = record::recommend_from_history(
      global.roots, database, record::time_range(flags.since, std::nullopt), model);
  actions::write_output("", flags.output_format.is_json()
                                ? render::render_history_sizing_json(sizing, context)
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
  add_format_options(*cmd, flags->output_format, {"text", "json"},
                     "Same as --format json; with --from-history only (schema "
                     "memopt.history_recommendation/1)")
      ->needs(history_option);
  cmd->callback([&global, &action, flags] {
    if (flags->output_format.is_json() && !flags->from_history) {
      throw CLI::ValidationError("--format",
                                 "json needs --from-history (the table and "
                                 "--from-run are text)");
    }
    action = [&global, flags] {
      if (flags->from_history) return from_history(global, *flags);
      std::string out;
      if (!flags->from_run.empty()) {
        out = render::render_run_file_recommendation(flags->from_run,
                                                     actions::read_run_result(flags->from_run));
      } else if (global.model) {
        out = render::render_model_sizes(analysis::find_model(*global.model));
      } else {
        for (const auto& model : analysis::model_table()) {
          out += render::render_model_sizes(model) + "\n";
        }
      }
      actions::write_output("", out);
      return exit_status::kSuccess;
    };
  });
}

}  // namespace memopt::cli
