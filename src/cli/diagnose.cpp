#include "memopt/analysis/diagnose.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/options.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/config/command.hpp"
#include "memopt/engine/one_shot.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/render/diagnose.hpp"

namespace memopt::cli {

namespace {

int run_diagnose(const GlobalOptions& global, bool json, std::size_t top) {
  // A bad config is a usage error before the target's is.
  const auto options = global.analysis_options();
  const auto [report, facts, findings] =
      engine::read_diagnosis(global.roots, global.target(), options);
  render::RenderOptions render_options;
  render_options.top = top;
  if (json) {
    actions::write_output("",
                          render::render_diagnose_json(report, facts, findings, render_options));
  } else {
    render_options.color = config::color_on_standard_output();
    actions::write_output("",
                          render::render_diagnose_text(report, facts, findings, render_options));
  }
  if (report.sample.cgroup_unreadable) {
    // As report: the findings say "unknown"; the exit code says the main job could not be done.
    std::fputs(fmt::format("memopt: memory of {} unknown: {}\n", report.sample.target.describe(),
                           *report.sample.cgroup_unreadable)
                   .c_str(),
               stderr);
    return exit_status::kFailure;
  }
  return exit_status::kSuccess;
}

}  // namespace

void add_diagnose_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  struct Options {
    OutputFormat output_format;
    std::size_t top = 5;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("diagnose",
                                 "The quick diagnosis: memory, OOM kills, pressure, environment, "
                                 "and ranked findings with their fixes");
  add_format_options(*cmd, options->output_format, {"text", "json"});
  cmd->add_option("--top", options->top, "How many processes to list")
      ->check(CLI::Range(0, 100000));
  cmd->callback([&global, &action, options] {
    action = [&global, options] {
      return run_diagnose(global, options->output_format.is_json(), options->top);
    };
  });
}

}  // namespace memopt::cli
