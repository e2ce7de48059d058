#include "memopt/render/report.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/options.hpp"
#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/leaks.hpp"
#include "memopt/actions/protect.hpp"
#include "memopt/config/command.hpp"
#include "memopt/engine/one_shot.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/protocol/leaks.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/render/cleanup.hpp"
#include "memopt/render/prometheus.hpp"

namespace memopt::cli {

namespace {

struct ReportOptions {
  std::string format = "text";
  bool json = false;
  std::size_t top = 5;
  bool check = false;
  bool containers = false;
  bool leaks = false;
  double timeout_s = 30;
};

// --leaks: the leak check running inside process --pid, asked through its cleanup socket.
int run_leaks(const GlobalOptions& global, const ReportOptions& options, bool json) {
  if (!global.pid) {
    throw Error("--leaks needs --pid PID: the process whose leak check to read",
                Error::Kind::kUsage);
  }
  const auto answer = actions::ask_leak_report(
      global.roots, *global.pid,
      std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000)));
  if (json) {
    // The report as the process sent it (every key kept); a report that does not read as one
    // is still printed, and the exit status says it is none.
    std::fwrite(answer.data(), 1, answer.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    const auto parsed = protocol::parse_answer(answer);
    return parsed.error.empty() && !protocol::error_of(parsed.json) ? 0 : 1;
  }
  const auto decoded = protocol::decode_leaks_answer(answer);  // Error: not a leak report
  const std::string out = render::render_leaks_text(decoded);
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return render::is_leaks_report(decoded) ? 0 : 1;
}

int run_report(const GlobalOptions& global, const ReportOptions& options) {
  render::RenderOptions render_options;
  render_options.top = options.top;
  render_options.containers = options.containers;
  const std::string format = options.json ? "json" : options.format;
  // Bad flags and a bad config are usage errors (2), also for --check and --leaks.
  const auto config = global.load_config();
  const auto analysis_options = global.analysis_options(config);
  if (options.leaks) return run_leaks(global, options, format == "json");

  const auto target = global.target();
  if (options.check) {
    // A monitoring plugin must answer with a plugin exit code even when it cannot read.
    try {
      const auto report =
          engine::read_check(global.roots, target, options.containers, analysis_options);
      // A monitor protecting with this file would protect nothing through a bad pid file.
      std::vector<std::string> problems;
      if (config.protect.enabled) {
        for (auto& p : actions::pid_file_problems(global.roots, config.protect.pid_files))
          problems.push_back("protect: " + p);
      }
      std::fputs(render::render_check(report, problems).c_str(), stdout);
      return render::check_exit_code(report.status.level, !problems.empty());
    } catch (const Error& e) {
      std::fputs(fmt::format("MEMOPT UNKNOWN - {}\n", e.what()).c_str(), stdout);
      return exit_status::kCheckUnknown;
    }
  }

  auto reading = engine::read_report(global.roots, target, options.containers, analysis_options);
  render_options.groups = std::move(reading.groups);
  const auto& report = reading.report;
  std::string out;
  if (format == "json") {
    out = render::render_json(report, render_options);
  } else if (format == "prometheus") {
    render::MetricsExtras extras;
    extras.top = options.top;
    out = render::render_prometheus(report, extras);
  } else {
    render_options.color = config::color_on_standard_output();
    out = render::render_text(report, render_options);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  if (report.sample.cgroup_unreadable) {
    // The document says "unknown"; the exit code says the main job could not be done.
    std::fputs(fmt::format("memopt: memory of {} unknown: {}\n", report.sample.target.describe(),
                           *report.sample.cgroup_unreadable)
                   .c_str(),
               stderr);
    return exit_status::kFailure;
  }
  return exit_status::kSuccess;
}

}  // namespace

void add_report_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto options = std::make_shared<ReportOptions>();
  auto* cmd = app.add_subcommand("report",
                                 "Show memory as the container sees it: level, limit, "
                                 "use, top processes, GPUs, advice");
  cmd->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"text", "json", "prometheus"}));
  cmd->add_flag("--json", options->json, "Same as --format json");
  cmd->add_option("--top", options->top, "How many processes to list (by PSS)")
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--containers", options->containers,
                "List every container (leaf memory cgroup with a limit) under the target, "
                "fullest first: a node's view with --cgroup /");
  cmd->add_flag(
      "--check", options->check,
      "Exit like a monitoring plugin: 0 normal/acceptable, 1 warning, 2 severe/danger, 3 unknown");
  cmd->add_flag("--leaks", options->leaks,
                "With --pid: the steadily growing allocation sites that memopt.leak_check() "
                "finds inside that process, asked through its cleanup socket");
  cmd->add_option("--timeout", options->timeout_s, "Seconds the process has to answer --leaks")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->callback([&global, &action, options] {
    action = [&global, options] { return run_report(global, *options); };
  });
}

}  // namespace memopt::cli
