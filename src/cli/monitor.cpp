#include "memopt/render/monitor.hpp"

#include <fmt/format.h>

#include <csignal>
#include <memory>

#include "cli/options.hpp"
#include "memopt/actions/output.hpp"
#include "memopt/engine.hpp"
#include "memopt/engine/signals.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/http/server.hpp"
#include "memopt/http/snapshot.hpp"
#include "memopt/record/recorder.hpp"
#include "memopt/record/sink.hpp"

namespace memopt::cli {

namespace {

struct MonitorFlags {
  config::MonitorOverrides overrides;
  OutputFormat output_format;
  std::optional<double> duration;
  std::optional<std::string> listen;
  std::optional<std::string> record;  ///< --record [PATH]: "" for the default path
};

/// Prints samples and events (text or JSON Lines), says notices on stderr, serves snapshots.
class Printer final : public EngineSink {
 public:
  Printer(bool json, std::size_t top) : json_(json) { options_.top = top, options_.pretty = false; }

  void serve(const http::Endpoint& endpoint) {
    server_ = std::make_unique<http::Server>(endpoint, state_);
    notice(fmt::format("serving http://{}/ (metrics at /metrics)",
                       http::format_endpoint({endpoint.host, server_->port()})));
  }

  void on_sample(const analysis::Report& report) override {
    actions::write_output("", render::render_monitor_sample(report, options_, json_));
  }
  void on_event(const analysis::Event& event) override {
    actions::write_output("", render::render_event(event, json_));
  }
  // Rendered only while a server serves it.
  void on_publish(const EngineSnapshot& snapshot) override {
    if (server_) state_.publish(documents_.render(snapshot));
  }
  void on_notice(std::string_view message) override { notice(message); }

 private:
  static void notice(std::string_view message) {
    std::fputs(fmt::format("memopt monitor: {}\n", message).c_str(), stderr);
  }

  bool json_;
  render::RenderOptions options_;
  http::SnapshotRenderer documents_;
  // state_ outlives server_, whose threads read it.
  http::SharedState state_;
  std::unique_ptr<http::Server> server_;
};

int run_monitor(const GlobalOptions& global, const MonitorFlags& flags) {
  EngineOptions options;
  options.roots = global.roots;
  options.target = global.target();
  const auto source = global.config_source();
  options.config = config::monitor_config(source, flags.overrides);
  warn_deprecated_keys(options.config);
  options.analysis = global.analysis_options(options.config);
  if (source) {
    options.config_path = source->path;
    options.config_origin = source->origin;
  }
  options.config_overrides = [overrides = flags.overrides](config::MonitorConfig& config) {
    config::apply_overrides(overrides, config);
  };
  options.publish = flags.listen.has_value();
  options.quiet_when_calm = true;  // signals end the sleep: signals.wake(engine) below

  // SIGTERM, SIGINT and SIGHUP are blocked (and read between steps) before any thread starts:
  // a server thread started earlier would take a SIGTERM with its default action, exit 143.
  const engine::EngineSignals signals;
  const bool json = flags.output_format.is_json();
  Printer printer(json, options.config.top);
  if (flags.listen) printer.serve(http::parse_endpoint(*flags.listen));
  // --record: the recorder sits in front of the printer and hands everything on.
  std::optional<record::RecordingSink> recorder;
  if (flags.record) {
    record::RecordingSink::Options record_options;
    record_options.path = flags.record->empty() ? record::default_database_path() : *flags.record;
    record_options.config = options.config;
    record_options.config_path = options.config_path;
    record_options.roots = options.roots;
    record_options.target = options.target;
    recorder.emplace(printer, std::move(record_options));
  }
  EngineSink& sink = recorder ? static_cast<EngineSink&>(*recorder) : printer;
  Engine engine(std::move(options), sink);
  std::optional<std::chrono::milliseconds> duration;
  if (flags.duration) duration = std::chrono::milliseconds(std::llround(*flags.duration * 1000));
  signals.wake(engine);
  engine.set_poll([&engine, &signals] { signals.obey(engine); });
  const auto watched = engine.run(duration);
  if (recorder) recorder->finish();
  actions::write_output("", render::render_watch_summary(engine.summary(), watched, json));
  return exit_status::kSuccess;
}

}  // namespace

void add_monitor_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto flags = std::make_shared<MonitorFlags>();
  auto* cmd = app.add_subcommand("monitor",
                                 "Watch memory: a sample every INTERVAL_S seconds, alerts within a "
                                 "second of any threshold crossing");
  cmd->add_option("interval", flags->overrides.interval_s,
                  "Seconds between full samples (default 60)")
      ->check(CLI::Range(1u, 86400u));
  add_format_options(*cmd, flags->output_format, {"text", "json"},
                     "Same as --format json: JSON Lines");
  cmd->add_flag("--containers", flags->overrides.containers,
                "Read every container (leaf memory cgroup with a limit) under the target in each "
                "full sample, for --listen's /metrics and /api/report: a node's view with "
                "--cgroup /");
  cmd->add_option("--on-alert", flags->overrides.on_alert,
                  "Run this command on each event (facts in MEMOPT_* variables; its output goes "
                  "to stderr)");
  cmd->add_option("--duration", flags->duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--auto-cleanup", flags->overrides.auto_cleanup,
                  fmt::format("Run the cleanup when the level reaches LEVEL (one of: {}), at most "
                              "once per cooldown ([cleanup] cooldown_seconds, default 300)",
                              config::kCleanupLevels));
  cmd->add_flag("--protect", flags->overrides.protect,
                "Past cleanup, ask cooperating processes to shed ([protect] shed_level, default "
                "severe) and at danger end ONE process of the target cgroup (SIGTERM, then "
                "SIGKILL after [protect] grace_ms) before the kernel's OOM killer does");
  cmd->add_flag("--dry-run", flags->overrides.dry_run,
                "With --protect: log each shed and kill decision, signal and ask nothing");
  cmd->add_flag("--allow-host", flags->overrides.allow_host,
                "With --protect: allow it without a target cgroup (any host process may be ended)");
  cmd->add_option("--prefer", flags->overrides.prefer,
                  "With --protect: end processes matching this glob (comm or command line) first; "
                  "repeatable");
  cmd->add_option("--protect-process", flags->overrides.protect_processes,
                  "With --protect: never end processes matching this glob (comm or command "
                  "line); repeatable");
  cmd->add_option("--protect-pidfile", flags->overrides.protect_pid_files,
                  "With --protect: never end the process whose pid this file holds; repeatable");
  cmd->add_option("--listen", flags->listen,
                  "Serve /metrics, /api/* and a live page on HOST:PORT (PORT alone: 127.0.0.1)");
  cmd->add_option("--record", flags->record,
                  "Keep history and post-mortems in SQLite at PATH (alone: $MEMOPT_STATE_DIR, "
                  "/var/lib/memopt as root, else ~/.local/state/memopt); a bare number after it "
                  "is INTERVAL_S (`--record 5`: every 5 s), write ./5 for a database named 5")
      ->expected(0, 1);
  cmd->callback([&global, &action, flags] {
    // `monitor --record 5` means "record, every 5 s": --record's optional value took the
    // interval. A database named 5 is still `--record ./5`.
    if (flags->record && !flags->record->empty() &&
        flags->record->find_first_not_of("0123456789") == std::string::npos) {
      if (flags->overrides.interval_s) {
        throw CLI::ValidationError(
            "--record", fmt::format("'{}' reads as INTERVAL_S, which is already {}; write ./{} "
                                    "for a database named {}",
                                    *flags->record, *flags->overrides.interval_s, *flags->record,
                                    *flags->record));
      }
      const unsigned long interval = std::stoul(flags->record->substr(0, 6));
      if (flags->record->size() > 5 || interval < 1 || interval > 86400) {
        throw CLI::ValidationError(
            "interval", fmt::format("'{}' is not in [1 - 86400] (seconds)", *flags->record));
      }
      flags->overrides.interval_s = static_cast<unsigned>(interval);
      flags->record = "";
    }
    action = [&global, flags] { return run_monitor(global, *flags); };
  });
}

}  // namespace memopt::cli
