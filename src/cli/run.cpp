#include "memopt/actions/run.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "cli/options.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/error.hpp"
#include "memopt/render/run.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

struct RunOptions {
  std::optional<std::string> limit;  // set and empty (`--limit ''`) is a usage error
  std::optional<std::string> swap;
  unsigned sample_ms = 100;
  double stop_timeout_s = 10;
  bool force = false;
  OutputFormat output_format;
  std::string timeline;
  std::string output;
  std::vector<std::string> command;
};

/// A file memopt will write after the command: checked now, so a typo does not cost the run.
void check_writable(const std::string& path, const char* flag) {
  if (path.empty()) return;
  const bool existed = ::access(path.c_str(), F_OK) == 0;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw Error(fmt::format("{} {}: cannot write there: {}", flag, path, std::strerror(errno)),
                Error::Kind::kUsage);
  }
  ::close(fd);
  if (!existed) ::unlink(path.c_str());
}

int run_command(const GlobalOptions& global, const RunOptions& options) {
  // The config's thresholds give the run's time at each level; a bad file stops it unstarted.
  const auto thresholds = global.analysis_options().thresholds;
  actions::RunRequest request;
  request.command = options.command;
  if (options.limit) request.limit_bytes = parse_limit(*options.limit, "--limit");
  if (options.swap) request.swap_bytes = parse_size(*options.swap, "--swap");
  request.sample_interval = std::chrono::milliseconds(options.sample_ms);
  request.stop_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(options.stop_timeout_s * 1000));
  request.force = options.force;
  request.command_stdout_to_stderr = options.output_format.is_json() && options.output.empty();
  check_writable(options.output, "--output");
  check_writable(options.timeline, "--timeline");

  analysis::RunReport report;
  try {
    report = actions::run_measured(global.roots, request, thresholds, [](const std::string& line) {
      std::fputs((line + "\n").c_str(), stderr);
    });
  } catch (const SpawnError& e) {
    if (e.exec_errno() == 0) throw;
    // The shell's convention: 127 not found, 126 found but not executable.
    std::fputs(fmt::format("memopt run: {}\n", e.what()).c_str(), stderr);
    return e.shell_exit_code();
  }
  if (!options.timeline.empty())
    actions::write_output(options.timeline, render::render_run_timeline(report));
  actions::write_output(options.output, options.output_format.is_json()
                                            ? render::render_run_json(report)
                                            : render::render_run_text(report));
  return report.exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto options = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run a command under a memory limit in a fresh cgroup, measure its peak (from the kernel, "
      "spikes included), and size its container");
  cmd->add_option("--limit", options->limit,
                  "Memory limit, e.g. 1G, 512Mi (like docker run --memory; at least 6M). "
                  "Refused when larger than what the enclosing container has available");
  cmd->add_option("--swap", options->swap, "Swap allowed beyond the limit, e.g. 1G");
  cmd->add_option("--sample-ms", options->sample_ms,
                  "Sampling period in milliseconds (the peak comes from the kernel either way)")
      ->check(CLI::Range(10u, 60000u));
  cmd->add_option("--stop-timeout", options->stop_timeout_s,
                  "Seconds the command has to exit after SIGTERM/SIGINT before it is killed "
                  "(SIGKILL), like docker stop")
      ->check(CLI::Range(0.0, 3600.0));
  cmd->add_flag("--force", options->force,
                "Run even when --limit exceeds the memory available in the enclosing container "
                "(a neighbour may be OOM-killed; such kills are reported), or when the limit "
                "cannot be applied at all (not root: the command runs without it, and the "
                "result says so)");
  add_format_options(*cmd, options->output_format, {"text", "json"},
                     "Same as --format json: the result as JSON on standard output; without "
                     "--output, the command's own standard output then goes to standard error");
  cmd->add_option("--timeline", options->timeline, "Write a self-contained HTML chart of the run");
  cmd->add_option("--output", options->output, "Write the result here instead of standard output");
  cmd->add_option("command", options->command, "The command and its arguments (after --)")
      ->required();
  cmd->callback([&global, &action, options] {
    action = [&global, options] { return run_command(global, *options); };
  });
}

}  // namespace memopt::cli
