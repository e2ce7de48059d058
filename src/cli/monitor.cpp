#include "memopt/render/monitor.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>
#include <deque>
#include <future>
#include <memory>
#include <system_error>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/actions/actuator.hpp"
#include "memopt/actions/cleanup.hpp"
#include "memopt/config.hpp"
#include "memopt/error.hpp"
#include "memopt/http/server.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/model/collect.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/kernel_log.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/render/live_page.hpp"
#include "memopt/render/prometheus.hpp"
#include "memopt/sys/clock.hpp"
#include "memopt/sys/notify.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct MonitorFlags {
  std::optional<unsigned> interval;
  bool json = false;
  std::optional<std::string> on_alert;
  std::optional<double> duration;
  std::string config_path;
  std::optional<std::string> listen;
  std::optional<std::string> auto_cleanup;
};

/// At most this many alert hooks run at once; more are skipped with a message.
constexpr std::size_t kMaxHooks = 4;
/// PSI averages change every 2 s: reading them more often than this gains nothing.
constexpr milliseconds kPressureEvery{1000};
/// A kernel notification can come a moment before the reading after it shows the level crossed
/// (measured on v1: 80% crossings otherwise seen at the next 250 ms tick, bench/monitor_bench.sh):
/// after a notification, look again this often...
constexpr milliseconds kSettleEvery{10};
/// ...for this long.
constexpr milliseconds kSettle{100};
/// --listen: quick observations reach the served snapshot at most this often.
constexpr milliseconds kPublishEvery{1000};
/// --listen: /api/events keeps this many of the latest events.
constexpr std::size_t kRecentEvents = 100;
/// PSI triggers watch stalls within this window (the kernel's shortest is 500 ms).
constexpr std::chrono::microseconds kPressureWindow{1'000'000};
/// --auto-cleanup: how long one cooperating process may take to answer. Shorter than
/// `memopt cleanup`'s 30 s: a monitor that is asked to stop waits for a running cleanup.
constexpr milliseconds kAutoCleanupRequestTimeout{5000};

std::string signed_bytes(std::int64_t bytes) {
  const auto magnitude = format_bytes(static_cast<std::uint64_t>(bytes < 0 ? -bytes : bytes));
  return bytes < 0 ? "-" + magnitude : magnitude;
}

config::MonitorConfig load_config(const MonitorFlags& flags, const GlobalOptions& global) {
  config::MonitorConfig config;
  config.watch.thresholds = global.analysis_options().thresholds;
  if (!flags.config_path.empty()) {
    std::string text;
    if (const int err = sys::read_into(flags.config_path, text); err != 0) {
      throw Error(
          fmt::format("--config: cannot read {}: {}", flags.config_path, sys::error_text(err)),
          Error::Kind::kUsage);
    }
    config = config::parse_monitor_config(text, flags.config_path, config);
  }
  if (flags.interval) config.interval = std::chrono::seconds(*flags.interval);
  if (flags.on_alert) config.on_alert = flags.on_alert;
  if (flags.auto_cleanup)
    config.auto_cleanup = config::parse_cleanup_level(*flags.auto_cleanup, "--auto-cleanup");
  return config;
}

class Monitor {
 public:
  Monitor(const GlobalOptions& global, MonitorFlags flags)
      : global_(global),
        flags_(std::move(flags)),
        config_(load_config(flags_, global)),
        // The second-by-second history serves the live page only: an hour of it with --listen.
        watcher_(config_.watch, flags_.listen ? 3600 : 1) {
    if (config_.auto_cleanup) schedule_.emplace(*config_.auto_cleanup, config_.cleanup_cooldown);
  }

  int run() {
    const sys::SignalWaiter signals;
    std::vector<model::Note> notes;
    location_ = readers::locate_cgroup(global_.roots, notes);
    kernel_log_seen_ = latest_kernel_kill();
    if (flags_.listen) {
      const auto endpoint = http::parse_endpoint(*flags_.listen);
      server_ = std::make_unique<http::Server>(endpoint, state_);
      std::fputs(fmt::format("memopt monitor: serving http://{}:{}/ (metrics at /metrics)\n",
                             endpoint.host, server_->port())
                     .c_str(),
                 stderr);
    }
    const auto start = sys::steady_now();
    full_sample();
    auto next_full = sys::steady_now() + config_.interval;
    auto next_pressure = sys::steady_now();
    auto settle_until = sys::steady_now();
    for (;;) {
      const auto now = sys::steady_now();
      if (flags_.duration &&
          duration_cast<milliseconds>(now - start).count() >= *flags_.duration * 1000)
        break;
      if (const auto received = signals.wait(milliseconds(0))) {
        if (received->signal == SIGHUP) {
          reload();
        } else if (received->signal != SIGCHLD) {
          break;
        }
      }
      const bool read_pressure = now >= next_pressure || !fired_triggers_.empty();
      quick_observation(read_pressure);
      if (read_pressure) next_pressure = now + kPressureEvery;
      if (now >= next_full) {
        full_sample();
        next_full = now + config_.interval;
      }
      finish_cleanup(false);
      reap_hooks(false);
      auto wakeup = notifier_.wait(sys::steady_now() < settle_until
                                       ? std::min(config_.watch_interval, kSettleEvery)
                                       : config_.watch_interval);
      if (wakeup.cgroup) settle_until = sys::steady_now() + kSettle;
      for (const auto& lost : wakeup.lost) {
        std::fputs(fmt::format("memopt monitor: the kernel dropped the PSI trigger on {}; reading "
                               "pressure averages every {} ms\n",
                               lost, kPressureEvery.count())
                       .c_str(),
                   stderr);
      }
      fired_triggers_ = std::move(wakeup.pressure);
    }
    finish_cleanup(true);
    reap_hooks(true);
    write_output("", render::render_watch_summary(
                         watcher_.summary(), duration_cast<milliseconds>(sys::steady_now() - start),
                         flags_.json));
    return 0;
  }

 private:
  /// v1 thresholds at each level boundary wake the loop as usage crosses them; PSI triggers
  /// wake it as the kernel sees stalls.
  void arm_notifier() {
    notifier_ = sys::CgroupNotifier();
    arm_cgroup_notifications();
    arm_pressure_triggers();
  }

  void arm_cgroup_notifications() {
    if (!location_ || !limit_bytes_) return;
    const auto& t = config_.watch.thresholds;
    const double limit = static_cast<double>(*limit_bytes_);
    std::vector<std::uint64_t> thresholds;
    for (const double percent : {t.acceptable_percent, t.warning_percent, t.severe_percent}) {
      thresholds.push_back(static_cast<std::uint64_t>(limit * percent / 100.0));
    }
    if (*limit_bytes_ > t.danger_available_bytes)
      thresholds.push_back(*limit_bytes_ - t.danger_available_bytes);
    std::vector<std::string> problems;
    notifier_ = sys::CgroupNotifier(location_->dir, location_->version, thresholds, problems);
    for (const auto& p : problems) {
      std::fputs(fmt::format("memopt monitor: no kernel notification ({}); polling every {} ms\n",
                             p, config_.watch_interval.count())
                     .c_str(),
                 stderr);
    }
  }

  /// Registers PSI triggers at the pressure thresholds on the pressure file the monitor reads:
  /// the cgroup's memory.pressure, or the host's when the monitor watches the host. Says once
  /// (a note in the next sample; stderr when it falls back) how pressure is watched.
  void arm_pressure_triggers() {
    std::string path;
    std::vector<std::string> problems;
    bool host_averages = false;
    if (location_ && location_->pressure_dir) {
      path = *location_->pressure_dir + "/memory.pressure";
    } else if (location_ && limit_bytes_) {
      // The report's PSI rule: a v1 cgroup (hybrid host) whose v2 twin is another cgroup, often
      // the root, has no PSI of its own, and the host's stalls are not this container's.
      problems.push_back(
          fmt::format("cgroup v1 {} has no pressure file of its own and the host's "
                      "is not this container's",
                      location_->path));
      host_averages = true;
    } else {
      path = global_.roots.procfs + "/pressure/memory";
    }
    if (!path.empty() && !sys::on_pressure_filesystem(path)) {
      problems.push_back(path + " is not on procfs or cgroup2 (a captured tree?)");
      path.clear();
    }
    std::vector<std::string> specs;
    if (!path.empty()) {
      const auto& w = config_.watch;
      for (const auto& [kind, percent] :
           {std::pair<const char*, double>{"some", w.pressure_some_avg10},
            std::pair<const char*, double>{"full", w.pressure_full_avg10}}) {
        if (percent <= 0) continue;  // every average is at or above 0: they fire at once
        std::string problem;
        sys::PsiTrigger trigger(path, kind, percent, kPressureWindow, problem);
        if (!trigger.active()) {
          problems.push_back(std::move(problem));
          continue;
        }
        specs.push_back("\"" + trigger.spec() + "\"");
        notifier_.watch_pressure(std::move(trigger));
      }
    }
    analysis::Advice note{"pressure_trigger", "info", ""};
    if (!specs.empty()) {
      note.message = fmt::format(
          "pressure: PSI trigger(s) {} on {} wake the monitor as the kernel signals stalls{}",
          fmt::join(specs, ", "), path,
          problems.empty() ? std::string()
                           : fmt::format(" (not registered: {})", fmt::join(problems, "; ")));
    } else {
      note.id = "no_pressure_trigger";
      note.message =
          fmt::format("pressure: no PSI trigger ({}); {}pressure averages are read every {} ms",
                      problems.empty() ? std::string("thresholds are 0")
                                       : fmt::format("{}", fmt::join(problems, "; ")),
                      host_averages ? "the host's " : "", kPressureEvery.count());
      if (note.message != last_pressure_note_) {
        std::fputs(fmt::format("memopt monitor: {}\n", note.message).c_str(), stderr);
      }
    }
    if (note.message != last_pressure_note_) {
      last_pressure_note_ = note.message;
      pressure_note_ = std::move(note);
    }
  }

  void reload() {
    if (flags_.config_path.empty()) return;
    try {
      config_ = load_config(flags_, global_);
      watcher_.set_params(config_.watch);
      if (!config_.auto_cleanup) {
        schedule_.reset();
      } else if (schedule_) {
        schedule_->set(*config_.auto_cleanup, config_.cleanup_cooldown);
      } else {
        schedule_.emplace(*config_.auto_cleanup, config_.cleanup_cooldown);
      }
      arm_notifier();
      std::fputs(fmt::format("memopt monitor: reloaded {}\n", flags_.config_path).c_str(), stderr);
    } catch (const Error& e) {
      std::fputs(
          fmt::format("memopt monitor: keeping the old configuration: {}\n", e.what()).c_str(),
          stderr);
    }
  }

  void quick_observation(bool with_pressure) {
    analysis::QuickObservation o;
    o.at = sys::wall_now();
    model::Sample sample;
    sample.host = readers::read_host_memory(global_.roots);
    if (location_) {
      const auto counters = readers::read_cgroup_counters(*location_);
      model::CgroupMemory cg;
      cg.limit_bytes = limit_bytes_;
      cg.usage_bytes = counters.usage_bytes;
      cg.working_set_bytes = counters.working_set_bytes;
      sample.cgroup = cg;
      o.oom_kills = counters.oom_kill_events;
      if (with_pressure && location_->pressure_dir) {
        if (const auto text = sys::read_optional(*location_->pressure_dir + "/memory.pressure")) {
          o.pressure =
              readers::parse_pressure(*text, *location_->pressure_dir + "/memory.pressure");
        }
      }
    }
    if (with_pressure && !o.pressure) {
      std::vector<model::Note> ignored;
      o.pressure = readers::read_host_pressure(global_.roots, ignored);
    }
    o.pressure_triggers = std::move(fired_triggers_);
    fired_triggers_.clear();
    o.memory = analysis::effective_memory(sample);
    emit(watcher_.observe(o));
    start_cleanup(o);
    if (server_ && last_report_ && sys::steady_now() - last_publish_ >= kPublishEvery) {
      refresh_report(o, sample);
      publish();
    }
  }

  /// The served report between full samples: the cheap readings replace the old ones; the
  /// processes and GPUs stay those of the last full sample.
  void refresh_report(const analysis::QuickObservation& o, const model::Sample& quick) {
    auto& r = *last_report_;
    r.sample.timestamp = o.at;
    r.sample.host = quick.host;
    if (r.sample.cgroup && quick.cgroup) {
      r.sample.cgroup->usage_bytes = quick.cgroup->usage_bytes;
      r.sample.cgroup->working_set_bytes = quick.cgroup->working_set_bytes;
    }
    if (r.sample.cgroup && o.oom_kills) r.sample.cgroup->oom_kill_events = o.oom_kills;
    if (o.pressure) {
      if (r.sample.cgroup && r.sample.cgroup->pressure) {
        r.sample.cgroup->pressure = o.pressure;
      } else {
        r.sample.host_pressure = o.pressure;
      }
    }
    r.memory = o.memory;
    r.status = analysis::assess(o.memory, r.thresholds);
  }

  /// Hands the server a new snapshot; the server itself never reads the machine.
  void publish() {
    if (!server_ || !last_report_) return;
    last_publish_ = sys::steady_now();
    http::Snapshot snapshot;
    render::RenderOptions render_options;
    render_options.top = config_.top;
    render_options.pretty = false;
    snapshot.report_json = render::render_json(*last_report_, render_options);
    render::MetricsExtras extras;
    extras.top = config_.top;
    extras.events = watcher_.summary().events;
    if (schedule_) extras.cleanup_reclaimed_bytes = cleanup_reclaimed_total_;
    snapshot.metrics = render::render_prometheus(*last_report_, extras);
    snapshot.history_json = render::render_history_json(watcher_.history().to_vector());
    snapshot.events_json = "[";
    for (const auto& e : recent_events_) {
      if (snapshot.events_json.size() > 1) snapshot.events_json += ',';
      snapshot.events_json += e;
    }
    snapshot.events_json += "]";
    state_.publish(std::move(snapshot));
  }

  void full_sample() {
    model::CollectOptions options;
    options.nvml = &nvml_;
    options.process_cache = &process_cache_;
    auto report =
        analysis::analyze(model::collect(global_.roots, options), global_.analysis_options());
    bool arm = !armed_;
    if (report.sample.cgroup && report.sample.cgroup->limit_bytes != limit_bytes_) {
      limit_bytes_ = report.sample.cgroup->limit_bytes;
      arm = true;  // a new limit (docker update) moves the thresholds
    }
    if (arm) {
      arm_notifier();
      armed_ = true;
    }
    if (pressure_note_) {
      report.advice.push_back(std::move(*pressure_note_));
      pressure_note_.reset();
    }
    render::RenderOptions render_options;
    render_options.top = config_.top;
    render_options.pretty = false;
    write_output("", render::render_monitor_sample(report, render_options, flags_.json));
    emit(watcher_.observe_processes(report.sample.timestamp, report.sample.processes));
    if (server_) {
      last_report_ = std::move(report);
      publish();
    }
  }

  /// --auto-cleanup: starts `memopt cleanup` on its own thread when the schedule says so; the
  /// watch loop goes on and reports it when it is done (finish_cleanup).
  void start_cleanup(const analysis::QuickObservation& o) {
    if (!schedule_ ||
        !schedule_->should_start(watcher_.level(), sys::steady_now(), cleanup_.has_value()))
      return;
    RunningCleanup running;
    running.event.name = "cleanup";
    running.event.at = o.at;
    running.event.level = watcher_.level();
    running.event.memory = o.memory;
    running.started = sys::steady_now();
    actions::CleanupOptions options;
    options.request_timeout = kAutoCleanupRequestTimeout;
    try {
      options.runtime_dirs = runtime_directories_to_scan();
    } catch (const Error& e) {  // MEMOPT_RUNTIME_DIR not private: clean up without processes
      std::fputs(fmt::format("memopt monitor: {}\n", e.what()).c_str(), stderr);
    }
    try {
      running.result = std::async(std::launch::async, [roots = global_.roots, options] {
        actions::SystemActuator actuator;
        return actions::run_cleanup(roots, actuator, options);
      });
    } catch (const std::system_error& e) {
      std::fputs(fmt::format("memopt monitor: cannot start the cleanup: {}\n", e.what()).c_str(),
                 stderr);
      return;
    }
    cleanup_ = std::move(running);
  }

  /// Reports a finished cleanup as a `cleanup` event; `wait`: waits for a running one.
  void finish_cleanup(bool wait) {
    if (!cleanup_) return;
    if (!wait && cleanup_->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return;
    analysis::Event e = std::move(cleanup_->event);
    const auto level = std::string(analysis::to_string(e.level));
    try {
      const auto report = cleanup_->result.get();
      e.released_bytes = report.reclaimed_bytes;
      if (report.reclaimed_bytes > 0)
        cleanup_reclaimed_total_ += static_cast<std::uint64_t>(report.reclaimed_bytes);
      std::vector<std::string> steps;
      for (const auto& step : report.steps) {
        e.steps.push_back({step.name, step.status});
        steps.push_back(step.name + " " + step.status);
      }
      e.message = fmt::format("cleanup at {}: released {} ({})", level,
                              signed_bytes(report.reclaimed_bytes), fmt::join(steps, ", "));
    } catch (const std::exception& err) {  // memopt::Error, or std::bad_alloc from its thread
      e.message = fmt::format("cleanup at {} failed: {}", level, err.what());
    }
    e.duration_seconds =
        std::chrono::duration<double>(sys::steady_now() - cleanup_->started).count();
    cleanup_.reset();
    watcher_.count(e);
    std::vector<analysis::Event> events;
    events.push_back(std::move(e));
    emit(std::move(events));
  }

  std::optional<double> latest_kernel_kill() {
    std::vector<model::Note> notes;
    const auto kills = readers::read_kernel_oom_kills(notes);
    std::optional<double> latest;
    if (!kills) return latest;
    for (const auto& k : *kills) {
      if (k.uptime_seconds && (!latest || *k.uptime_seconds > *latest)) latest = k.uptime_seconds;
    }
    return latest;
  }

  void emit(std::vector<analysis::Event> events) {
    for (auto& e : events) {
      if (e.name == "oom_kill") add_victims(e);
      write_output("", render::render_event(e, flags_.json));
      if (server_) {
        auto line = render::render_event(e, true);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        recent_events_.push_back(std::move(line));
        if (recent_events_.size() > kRecentEvents) recent_events_.pop_front();
      }
      start_hook(e);
    }
  }

  /// The kernel log's kills newer than the last ones seen, in this container.
  void add_victims(analysis::Event& e) {
    std::vector<model::Note> notes;
    auto kills = readers::read_kernel_oom_kills(notes);
    if (!kills) return;
    if (location_) *kills = readers::kills_in_cgroup(*kills, location_->path);
    for (const auto& k : *kills) {
      if (k.uptime_seconds && kernel_log_seen_ && *k.uptime_seconds <= *kernel_log_seen_) continue;
      e.victims.push_back(k);
      if (k.uptime_seconds)
        kernel_log_seen_ = std::max(kernel_log_seen_.value_or(0), *k.uptime_seconds);
    }
    if (!e.victims.empty()) {
      e.message += fmt::format(": {} (pid {})", e.victims.back().name, e.victims.back().pid);
    }
  }

  /// Runs --on-alert with the event's facts in its environment; never waits for it.
  void start_hook(const analysis::Event& e) {
    if (!config_.on_alert) return;
    if (hooks_.size() >= kMaxHooks) {
      std::fputs(fmt::format("memopt monitor: skipping --on-alert for {}: {} hooks still running\n",
                             e.name, hooks_.size())
                     .c_str(),
                 stderr);
      return;
    }
    sys::SpawnOptions options;
    options.new_process_group = true;
    options.null_stdin = true;
    // Facts travel as environment variables, never spliced into the command line.
    options.environment = {
        "MEMOPT_EVENT=" + e.name,
        "MEMOPT_LEVEL=" + std::string(analysis::to_string(e.level)),
        "MEMOPT_PREVIOUS_LEVEL=" +
            (e.previous ? std::string(analysis::to_string(*e.previous)) : std::string()),
        fmt::format("MEMOPT_USED_PERCENT={:.2f}", e.memory.used_percent),
        fmt::format("MEMOPT_USED_BYTES={}", e.memory.used_bytes),
        fmt::format("MEMOPT_LIMIT_BYTES={}", e.memory.limit_bytes),
        fmt::format("MEMOPT_AVAILABLE_BYTES={}", e.memory.available_bytes),
        "MEMOPT_SCOPE=" + std::string(analysis::to_string(e.memory.scope)),
        "MEMOPT_TIMESTAMP=" + render::rfc3339(e.at),
        "MEMOPT_MESSAGE=" + e.message,
    };
    try {
      const pid_t pid = sys::spawn({"/bin/sh", "-c", *config_.on_alert}, options);
      hooks_.push_back({pid, sys::steady_now()});
    } catch (const Error& err) {
      std::fputs(fmt::format("memopt monitor: --on-alert failed: {}\n", err.what()).c_str(),
                 stderr);
    }
  }

  void reap_hooks(bool all) {
    for (auto it = hooks_.begin(); it != hooks_.end();) {
      auto status = sys::try_wait(it->pid);
      if (!status && (all || sys::steady_now() - it->started > config_.alert_timeout)) {
        sys::send_group_signal(it->pid, SIGKILL);
        std::fputs(fmt::format("memopt monitor: --on-alert (pid {}) ran past {} s and was killed\n",
                               it->pid, config_.alert_timeout.count())
                       .c_str(),
                   stderr);
        while (!(status = sys::try_wait(it->pid))) {
          sys::SignalWaiter().wait(milliseconds(10));
        }
      }
      it = status ? hooks_.erase(it) : std::next(it);
    }
  }

  struct Hook {
    pid_t pid;
    std::chrono::steady_clock::time_point started;
  };
  struct RunningCleanup {
    std::future<actions::CleanupReport> result;
    analysis::Event event;  ///< the level and memory that started it
    std::chrono::steady_clock::time_point started;
  };

  const GlobalOptions& global_;
  MonitorFlags flags_;
  config::MonitorConfig config_;
  analysis::Watcher watcher_;
  std::optional<readers::CgroupLocation> location_;
  std::optional<std::uint64_t> limit_bytes_;
  std::optional<double> kernel_log_seen_;
  readers::ProcessCache process_cache_;  // idle processes are not walked every interval
  readers::NvmlSession nvml_;
  sys::CgroupNotifier notifier_;
  bool armed_ = false;
  std::vector<std::string> fired_triggers_;        ///< PSI triggers signalled, for the next reading
  std::optional<analysis::Advice> pressure_note_;  ///< how pressure is watched, for a sample
  std::string last_pressure_note_;
  std::optional<analysis::CleanupSchedule> schedule_;
  std::optional<RunningCleanup> cleanup_;
  std::uint64_t cleanup_reclaimed_total_ = 0;  ///< memopt_cleanup_reclaimed_bytes_total
  std::vector<Hook> hooks_;
  // --listen: state_ outlives server_, whose threads read it.
  http::SharedState state_;
  std::unique_ptr<http::Server> server_;
  std::optional<analysis::Report> last_report_;
  std::deque<std::string> recent_events_;
  std::chrono::steady_clock::time_point last_publish_{};
};

}  // namespace

void add_monitor_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto flags = std::make_shared<MonitorFlags>();
  auto* cmd = app.add_subcommand("monitor",
                                 "Watch memory: a sample every INTERVAL_S seconds, alerts within a "
                                 "second of any threshold crossing");
  cmd->add_option("interval", flags->interval, "Seconds between full samples (default 60)")
      ->check(CLI::Range(1u, 86400u));
  cmd->add_flag("--json", flags->json, "Write JSON Lines");
  cmd->add_option("--on-alert", flags->on_alert,
                  "Run this command on each event (facts in MEMOPT_* variables)");
  cmd->add_option("--duration", flags->duration, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--config", flags->config_path,
                  "TOML settings (thresholds, margins, cadences, hooks)");
  cmd->add_option("--auto-cleanup", flags->auto_cleanup,
                  "Run the cleanup when the level reaches LEVEL (acceptable, warning, severe, "
                  "danger), at most once per cooldown ([cleanup] cooldown_s, default 300)");
  cmd->add_option("--listen", flags->listen,
                  "Serve /metrics, /api/* and a live page on HOST:PORT (PORT alone: 127.0.0.1)");
  cmd->callback([&global, &action, flags] {
    action = [&global, flags] { return Monitor(global, *flags).run(); };
  });
}

}  // namespace memopt::cli
