#include "memopt/actions/cleanup.hpp"

#include <fmt/format.h>

#include <memory>

#include "cli/options.hpp"
#include "memopt/actions/actuator.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/render/cleanup.hpp"

namespace memopt::cli {

namespace {

int run_cleanup_command(const GlobalOptions& global, bool dry_run, bool json, bool aggressive,
                        double timeout_s) {
  // No key of the config shapes a cleanup; it is read anyway, so that a bad file is the same
  // error (exit 2) in every command.
  static_cast<void>(global.load_config());
  actions::CleanupOptions options;
  options.target = global.target();
  options.request_timeout = std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  options.dry_run = dry_run;
  options.aggressive = aggressive;
  actions::SystemActuator system;
  actions::RecordingActuator recorder;
  actions::Actuator& actuator = dry_run ? static_cast<actions::Actuator&>(recorder) : system;
  const auto report = actions::run_cleanup_command(global.roots, actuator, options);
  actions::write_output(
      "", json ? render::render_cleanup_json(report) : render::render_cleanup_text(report));
  for (const auto& step : report.steps) {
    if (step.status == "failed") return exit_status::kFailure;
  }
  return exit_status::kSuccess;
}

}  // namespace

void add_cleanup_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  struct Options {
    bool dry_run = false;
    OutputFormat output_format;
    bool aggressive = false;
    double timeout_s = 30;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "cleanup",
      "Return memory for real: ask cooperating processes to clean up, reclaim the cgroup's page "
      "cache, drop clean caches; measured before and after. Never signals a process");
  cmd->add_flag("--dry-run", options->dry_run, "Print the plan and change nothing");
  add_format_options(*cmd, options->output_format, {"text", "json"});
  cmd->add_flag("--aggressive", options->aggressive,
                "Also drop dentries and inodes (drop_caches 3) and compact memory");
  cmd->add_option("--timeout", options->timeout_s,
                  "Seconds the cooperating processes have to answer, all together (asked in "
                  "parallel)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->callback([&global, &action, options] {
    action = [&global, options] {
      return run_cleanup_command(global, options->dry_run, options->output_format.is_json(),
                                 options->aggressive, options->timeout_s);
    };
  });
}

}  // namespace memopt::cli
