#include "memopt/engine.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <deque>
#include <future>
#include <set>
#include <system_error>

#include "memopt/actions/actuator.hpp"
#include "memopt/actions/alert_hooks.hpp"
#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/leaks.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/actions/protect.hpp"
#include "memopt/analysis/loop_forecast.hpp"
#include "memopt/analysis/process_groups.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/kernel_log.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/process_tree.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/render/live_page.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/render/prometheus.hpp"
#include "memopt/sys/clock.hpp"
#include "memopt/sys/notify.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/runtime_dir.hpp"
#include "memopt/sys/socket.hpp"
#include "memopt/units.hpp"

namespace memopt {

namespace {

using std::chrono::milliseconds;

/// PSI averages change every 2 s: reading them more often than this gains nothing.
constexpr milliseconds kPressureEvery{1000};
/// A kernel notification can come a moment before the reading after it shows the level crossed
/// (measured on v1: 80% crossings otherwise seen at the next 250 ms tick, bench/monitor_bench.sh):
/// after a notification, look again this often...
constexpr milliseconds kSettleEvery{10};
/// ...for this long.
constexpr milliseconds kSettle{100};
/// Quick observations reach the published snapshot at most this often.
constexpr milliseconds kPublishEvery{1000};
/// Snapshots keep this many of the latest events.
constexpr std::size_t kRecentEvents = 100;
/// PSI triggers watch stalls within this window (the kernel's shortest is 500 ms).
constexpr std::chrono::microseconds kPressureWindow{1'000'000};
/// Auto-cleanup: how long one cooperating process may take to answer. Shorter than `memopt
/// cleanup`'s 30 s: an engine asked to stop waits for a running cleanup.
constexpr milliseconds kAutoCleanupRequestTimeout{5000};
/// leak_suspected: how long the leaking process has to answer a `leaks` request (its leak
/// check takes a checkpoint first). The event waits at most this long, off the sampling path.
constexpr milliseconds kLeakSitesTimeout{2000};
/// leak_suspected: how many of the process's growing sites the event carries.
constexpr std::size_t kLeakSites = 5;
/// loop_forecast: cooperating processes are asked for their `stats` (which carry the forecasts
/// their loops said) this often at most, on a thread of its own...
constexpr milliseconds kForecastsEvery{2000};
/// ...and have this long, all together, to answer. A process that does not answer is skipped.
constexpr milliseconds kForecastsTimeout{1000};

/// --protect: the workers of every worker group, chosen before their parent (copying ones
/// first, see actions::choose_victim).
std::vector<actions::GroupWorker> group_workers(
    const std::vector<analysis::GroupAssessment>& groups) {
  std::vector<actions::GroupWorker> out;
  for (const auto& a : groups) {
    if (a.group.kind != analysis::GroupKind::kWorkers || !a.group.parent) continue;
    for (const auto& m : a.group.members) {
      out.push_back({m.node.memory.pid,
                     m.node.start_ticks != 0 ? std::optional(m.node.start_ticks) : std::nullopt,
                     a.group.parent->memory.pid, m.private_bytes.value_or(0),
                     a.shape == analysis::GroupShape::kCopyOnRead});
    }
  }
  return out;
}

EngineClock real_clock(EngineClock clock) {
  if (!clock.wall) clock.wall = [] { return sys::wall_now(); };
  if (!clock.steady) clock.steady = [] { return sys::steady_now(); };
  return clock;
}

}  // namespace

struct Engine::State {
  State(EngineOptions o, EngineSink& s)
      : options(std::move(o)),
        sink(s),
        clock(real_clock(options.clock)),
        watcher(options.config.watch, options.publish ? 3600 : 1) {
    options.analysis.thresholds = options.config.watch.thresholds;
    if (options.config.auto_cleanup) {
      schedule.emplace(*options.config.auto_cleanup, options.config.cleanup_cooldown);
    }
    if (options.config.on_alert) {
      hooks = std::make_unique<actions::AlertHooks>(hook_options());
    }
  }

  [[nodiscard]] actions::AlertHooks::Options hook_options() const {
    return {options.config.on_alert.value_or(""), options.config.alert_timeout, 4};
  }

  // --- the loop -------------------------------------------------------------------------

  void start() {
    watched = options.target;
    std::vector<model::Note> notes;
    auto target = readers::locate_target(options.roots, watched, notes);
    location = std::move(target.location);
    unreadable = std::move(target.unreadable);
    presence = unreadable ? Presence::kNotFound : Presence::kFound;
    kernel_log_seen = latest_kernel_kill();
    start_protect(true);
    started = true;
    full_sample();
    const auto now = clock.steady();
    next_full = now + options.config.interval;
    next_pressure = now;
  }

  void step() {
    if (!started) {
      start();
    } else {
      const auto now = clock.steady();
      const bool read_pressure = now >= next_pressure || !fired_triggers.empty();
      quick_observation(read_pressure);
      if (read_pressure) next_pressure = now + kPressureEvery;
      if (now >= next_full) {
        full_sample();
        next_full = now + options.config.interval;
      }
    }
    finish_cleanup(false);
    finish_leak_sites(false);
    ask_forecasts();
    reap_hooks(false);
    // What changed in this step is served once, after the report carries it.
    if (dirty) publish();
  }

  void wait() {
    if (!options.kernel_notifications) {
      sys::pause_for(options.config.watch_interval);
      return;
    }
    const auto now = clock.steady();
    auto wakeup =
        notifier.wait(now < settle_until ? std::min(options.config.watch_interval, kSettleEvery)
                                         : options.config.watch_interval);
    if (wakeup.cgroup) settle_until = clock.steady() + kSettle;
    for (const auto& lost : wakeup.lost) {
      sink.on_notice(
          fmt::format("the kernel dropped the PSI trigger on {}; reading pressure "
                      "averages every {} ms",
                      lost, kPressureEvery.count()));
    }
    fired_triggers = std::move(wakeup.pressure);
  }

  void shutdown() {
    if (protector) {
      std::vector<analysis::Event> events;
      protector->finish(events, true);
      count_and_emit(std::move(events));
    }
    finish_cleanup(true);
    finish_leak_sites(true);
    finish_forecasts(true);
    reap_hooks(true);
    if (dirty) publish();
  }

  // --- kernel notifications --------------------------------------------------------------

  /// v1 thresholds at each level boundary wake the loop as usage crosses them; PSI triggers
  /// wake it as the kernel sees stalls.
  void arm_notifier() {
    notifier = sys::CgroupNotifier();
    if (!options.kernel_notifications) return;
    arm_cgroup_notifications();
    arm_pressure_triggers();
  }

  void arm_cgroup_notifications() {
    if (!location || !limit_bytes) return;
    const auto& t = options.config.watch.thresholds;
    const double limit = static_cast<double>(*limit_bytes);
    std::vector<std::uint64_t> thresholds;
    for (const double percent : {t.acceptable_percent, t.warning_percent, t.severe_percent}) {
      thresholds.push_back(static_cast<std::uint64_t>(limit * percent / 100.0));
    }
    if (*limit_bytes > t.danger_available_bytes)
      thresholds.push_back(*limit_bytes - t.danger_available_bytes);
    std::vector<std::string> problems;
    notifier = sys::CgroupNotifier(location->dir, location->version, thresholds, problems);
    for (const auto& p : problems) {
      sink.on_notice(fmt::format("no kernel notification ({}); polling every {} ms", p,
                                 options.config.watch_interval.count()));
    }
  }

  /// Registers PSI triggers on the pressure file the engine reads: the cgroup's
  /// memory.pressure, or the host's when the engine watches the host. Says once (a note in the
  /// next sample; a notice when it falls back) how pressure is watched.
  void arm_pressure_triggers() {
    std::string path;
    std::vector<std::string> problems;
    bool host_averages = false;
    if (location && location->pressure_dir) {
      path = *location->pressure_dir + "/memory.pressure";
    } else if (location && limit_bytes) {
      // The report's PSI rule: a v1 cgroup (hybrid host) whose v2 twin is another cgroup, often
      // the root, has no PSI of its own, and the host's stalls are not this container's.
      problems.push_back(
          fmt::format("cgroup v1 {} has no pressure file of its own and the "
                      "host's is not this container's",
                      location->path));
      host_averages = true;
    } else if (!unreadable) {
      path = options.roots.procfs + "/pressure/memory";
    }
    if (!path.empty() && !sys::on_pressure_filesystem(path)) {
      problems.push_back(path + " is not on procfs or cgroup2 (a captured tree?)");
      path.clear();
    }
    std::vector<std::string> specs;
    if (!path.empty()) {
      const auto& w = options.config.watch;
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
        notifier.watch_pressure(std::move(trigger));
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
      if (host_averages) {  // no averages of the container's own to read either
        note.message = fmt::format("pressure: no PSI trigger ({})", fmt::join(problems, "; "));
      } else {
        note.message =
            fmt::format("pressure: no PSI trigger ({}); pressure averages are read every {} ms",
                        problems.empty() ? std::string("thresholds are 0")
                                         : fmt::format("{}", fmt::join(problems, "; ")),
                        kPressureEvery.count());
      }
      if (note.message != last_pressure_note) sink.on_notice(note.message);
    }
    if (note.message != last_pressure_note) {
      last_pressure_note = note.message;
      pressure_note = std::move(note);
    }
  }

  void reload() {
    if (options.config_path.empty()) return;
    try {
      config::MonitorConfig base;
      base.watch.thresholds = options.analysis.thresholds;
      auto next = config::load_monitor_config(options.config_path, base, options.config_origin);
      if (options.config_overrides) options.config_overrides(next);
      options.config = std::move(next);
      options.analysis.thresholds = options.config.watch.thresholds;
      watcher.set_params(options.config.watch);
      if (!options.config.auto_cleanup) {
        schedule.reset();
      } else if (schedule) {
        schedule->set(*options.config.auto_cleanup, options.config.cleanup_cooldown);
      } else {
        schedule.emplace(*options.config.auto_cleanup, options.config.cleanup_cooldown);
      }
      if (!options.config.on_alert) {
        hooks.reset();
      } else if (hooks) {
        hooks->set_options(hook_options());
      } else {
        hooks = std::make_unique<actions::AlertHooks>(hook_options());
      }
      arm_notifier();
      start_protect(false);
      sink.on_notice(fmt::format("reloaded {}", options.config_path));
    } catch (const Error& e) {
      sink.on_notice(fmt::format("keeping the old configuration: {}", e.what()));
    }
  }

  // --- the target's lifecycle -------------------------------------------------------------

  /// Whether process `pid` runs (not exited, not a zombie, not exiting): a zombie's cgroup file
  /// reads "/" on v1, and the root is never the target by fallback.
  [[nodiscard]] bool process_runs(int pid) const {
    const std::string path = fmt::format("{}/{}/stat", options.roots.procfs, pid);
    const auto text = sys::read_optional(path);
    // A captured tree may have the cgroup file without stat; a live process has both.
    if (!text) return sys::exists(fmt::format("{}/{}/cgroup", options.roots.procfs, pid));
    const auto state = readers::parse_proc_stat(*text, path);
    return !state.dead() && !state.exiting();
  }

  /// Whether the cgroup directory `dir` holds a process.
  [[nodiscard]] static bool holds_processes(const std::string& dir) {
    const auto text = sys::read_optional(dir + "/cgroup.procs");
    return text && text->find_first_of("0123456789") != std::string::npos;
  }

  /// Why the found target is gone now, or nothing while it is there. `--pid P`: once P has
  /// exited the engine follows the cgroup P was in, which is gone while it holds no process
  /// (a restarting model) or is removed.
  [[nodiscard]] std::optional<std::string> why_gone() {
    if (!location) return std::nullopt;  // host scope: never gone
    if (watched.kind == model::Target::Kind::kPid) {
      if (process_runs(watched.pid)) return std::nullopt;
      sink.on_notice(fmt::format("pid {} has exited; following the cgroup it was in ({})",
                                 watched.pid, location->dir));
      followed_pid = watched.pid;
      watched = model::Target{model::Target::Kind::kCgroup, 0, location->dir};
    }
    if (!sys::exists(location->dir)) return fmt::format("cgroup {} was removed", location->dir);
    if (followed_pid && !holds_processes(location->dir)) {
      return fmt::format("pid {} has exited and its cgroup {} holds no process", *followed_pid,
                         location->dir);
    }
    return std::nullopt;
  }

  /// The state machine found -> gone -> found again, checked before each reading: a gone
  /// target is unknown, with no figures and no OOM-kill accounting, and never the host.
  void track_target(analysis::TimePoint at) {
    if (presence == Presence::kFound) {
      if (auto why = why_gone()) lose(at, std::move(*why));
      return;
    }
    std::vector<model::Note> notes;
    auto target = readers::locate_target(options.roots, watched, notes);
    if (!target.location || (followed_pid && !holds_processes(target.location->dir))) {
      if (target.unreadable && presence == Presence::kNotFound) unreadable = target.unreadable;
      return;
    }
    // The limit now, before the first reading: a cgroup read without it would pass for host scope.
    std::optional<std::uint64_t> limit;
    try {
      limit = readers::read_cgroup_at(*target.location, notes).limit_bytes;
    } catch (const Error& e) {
      // Malformed (said while it stays so), or gone again before it was read: not found yet.
      if (sys::exists(target.location->dir)) unreadable = e.what();
      return;
    }
    const bool was_gone = presence == Presence::kGone;
    location = std::move(target.location);
    unreadable.reset();
    presence = Presence::kFound;
    armed = false;
    limit_bytes = limit;
    next_full = clock.steady();  // its full figures at once
    watcher.restart_target();    // counters of the cgroup before the gap are not this one's
    if (protector) protector->set_location(location);
    analysis::Event e;
    e.kind = analysis::EventKind::kTargetFound;
    e.at = at;
    e.level = watcher.level();
    e.memory = report ? report->memory : analysis::EffectiveMemory{};
    e.message = fmt::format("{} {}: {}", options.target.describe(), was_gone ? "is back" : "found",
                            location->dir);
    watcher.count(e);
    std::vector<analysis::Event> events;
    events.push_back(std::move(e));
    emit(std::move(events));
  }

  void lose(analysis::TimePoint at, std::string why) {
    presence = Presence::kGone;
    location.reset();
    quick_files.clear();  // the files of the cgroup that is gone
    unreadable = why;
    limit_bytes.reset();
    notifier = sys::CgroupNotifier();  // its eventfds watched the cgroup that is gone
    armed = true;
    watcher.restart_target();
    analysis::Event e;
    e.kind = analysis::EventKind::kTargetLost;
    e.at = at;
    e.level = analysis::Level::kUnknown;
    e.memory.scope = analysis::Scope::kUnknown;
    e.message =
        fmt::format("{} is gone: {}; unknown until it is back", options.target.describe(), why);
    watcher.count(e);
    std::vector<analysis::Event> events;
    events.push_back(std::move(e));
    emit(std::move(events));
  }

  // --- observation and analysis ----------------------------------------------------------

  void quick_observation(bool with_pressure) {
    const auto taken = clock.steady();
    analysis::QuickObservation o;
    o.at = clock.wall();
    track_target(o.at);
    model::Sample sample;
    sample.target = options.target;
    sample.cgroup_unreadable = unreadable;
    sample.host = readers::read_host_memory(options.roots, &quick_files);
    if (location) {
      try {
        const auto counters = readers::read_cgroup_counters(*location, &quick_files);
        model::CgroupMemory cg;
        cg.limit_bytes = limit_bytes;
        cg.usage_bytes = counters.usage_bytes;
        cg.working_set_bytes = counters.working_set_bytes;
        sample.cgroup = cg;
        o.oom_kills = counters.oom_kill_events;
      } catch (const Error& e) {
        if (sys::exists(location->dir)) {
          // Malformed, not gone: this reading is unknown, the next one reads again.
          sample.cgroup_unreadable = e.what();
        } else {
          // The container went away (a sidecar's model restarting): unknown until it is back.
          lose(o.at, fmt::format("cgroup {} was removed", location->dir));
          sample.cgroup_unreadable = unreadable;
        }
      }
      if (with_pressure && location->pressure_dir && sample.cgroup) {
        const std::string path = *location->pressure_dir + "/memory.pressure";
        if (const auto text = sys::read_optional(path)) {
          std::vector<model::Note> ignored;  // the full sample gives the notes
          o.pressure = readers::pressure_or_note(*text, path, ignored);
        }
      }
    }
    o.memory = analysis::effective_memory(sample);
    // The host's stalls count only when the host is what is watched.
    if (with_pressure && !o.pressure && o.memory.scope == analysis::Scope::kHost) {
      std::vector<model::Note> ignored;
      o.pressure = readers::read_host_pressure(options.roots, ignored);
    }
    o.pressure_triggers = std::move(fired_triggers);
    fired_triggers.clear();
    auto events = watcher.observe(o);
    sink.on_observation(o, watcher.level());
    // The served report follows at most once a second, and at once when the level moved: it
    // must never show another level than the events it is served with.
    if (report && (!events.empty() || clock.steady() - last_publish >= kPublishEvery)) {
      refresh_report(o, sample);
      dirty = true;
    }
    emit(std::move(events));
    start_cleanup(o);
    protect_step(o, taken);
  }

  /// The report between full samples: the cheap readings replace the old ones, the level is
  /// the engine's and the advice is judged again; processes and GPUs stay those of the last
  /// full sample.
  void refresh_report(const analysis::QuickObservation& o, const model::Sample& quick) {
    auto& r = *report;
    r.sample.timestamp = o.at;
    r.sample.host = quick.host;
    r.sample.cgroup_unreadable = quick.cgroup_unreadable;
    if (quick.cgroup_unreadable) {  // gone: none of the figures read before stays in view
      r.sample.cgroup.reset();
      r.sample.processes.clear();
      r.sample.shm.reset();
    }
    if (r.sample.cgroup && quick.cgroup) {
      r.sample.cgroup->usage_bytes = quick.cgroup->usage_bytes;
      r.sample.cgroup->working_set_bytes = quick.cgroup->working_set_bytes;
    }
    if (r.sample.cgroup && o.oom_kills) r.sample.cgroup->oom_kill_events = o.oom_kills;
    if (o.pressure) {
      if (r.sample.cgroup && r.sample.cgroup->pressure) {
        r.sample.cgroup->pressure = o.pressure;
      } else if (o.memory.scope == analysis::Scope::kHost) {
        r.sample.host_pressure = o.pressure;
      }
    }
    r.memory = o.memory;
    r.status = engine_status(o.memory);
    r.advice = analysis::advise(r.sample, r.memory, options.analysis);
    if (pressure_advice) r.advice.push_back(*pressure_advice);
  }

  /// The status every output shows: the watcher's level (with hysteresis), with the reason.
  [[nodiscard]] analysis::Status engine_status(const analysis::EffectiveMemory& memory) const {
    auto status = analysis::assess(memory, options.analysis.thresholds);
    const auto level = watcher.level();
    if (status.level != level) {
      status.reasons.push_back(
          watcher.settling()
              ? fmt::format("held at {} until the next reading confirms the fall",
                            analysis::to_string(level))
              : fmt::format(
                    "held at {} until used falls {:g} points below its threshold (hysteresis)",
                    analysis::to_string(level), options.config.watch.level_margin_percent));
      status.level = level;
    }
    if (unreadable && memory.scope == analysis::Scope::kUnknown) {
      status.reasons.push_back(
          fmt::format("memory of {} unknown: {}", options.target.describe(), *unreadable));
    }
    return status;
  }

  void full_sample() {
    if (started_once) track_target(clock.wall());
    started_once = true;
    readers::CollectOptions collect;
    collect.target = watched;
    collect.nvml = &nvml;
    collect.process_cache = &process_cache;
    collect.clock = clock.wall;
    collect.containers = options.config.containers;
    auto sample = readers::collect(options.roots, collect);
    sample.target = options.target;
    const bool same_cgroup = location && sample.cgroup && sample.cgroup->path == location->path;
    if (presence != Presence::kFound || (location && !same_cgroup)) {
      // Gone, or gone while it was read (the pid exited since): no figures, and never those of
      // another cgroup (the root, where a zombie's cgroup file points).
      sample.cgroup.reset();
      sample.processes.clear();
      sample.shm.reset();
      sample.cgroup_unreadable = unreadable.value_or(
          sample.cgroup_unreadable.value_or("the target changed while it was read"));
    }
    auto next = analysis::analyze(std::move(sample), options.analysis);
    bool arm = !armed;
    // A sample that could not read the cgroup says nothing of its limit: the quick readings
    // keep the last one (without it they would pass for host scope).
    const auto limit = next.sample.cgroup ? next.sample.cgroup->limit_bytes : limit_bytes;
    if (limit != limit_bytes) {
      limit_bytes = limit;
      arm = true;  // a new limit (docker update) moves the thresholds
    }
    if (arm) {
      arm_notifier();
      armed = true;
    }
    if (pressure_note) {
      pressure_advice = std::move(*pressure_note);
      pressure_note.reset();
      next.advice.push_back(*pressure_advice);
    }
    // The level first: an event announcing a new level comes before the sample showing it.
    analysis::QuickObservation o;
    o.at = next.sample.timestamp;
    o.memory = next.memory;
    if (next.sample.cgroup) o.oom_kills = next.sample.cgroup->oom_kill_events;
    o.pressure = analysis::effective_pressure(next.sample, next.memory.scope);
    emit(watcher.observe(o));
    sink.on_observation(o, watcher.level());
    next.status = engine_status(next.memory);
    sink.on_sample(next);
    emit(ask_leak_sites(watcher.observe_processes(next.sample.timestamp, next.sample.processes)));
    auto found = analysis::group_processes(
        readers::read_process_nodes(options.roots, next.sample.processes, &tree_cache));
    sink.on_groups(found);
    count_and_emit(groups.observe(next.sample.timestamp, found, next.memory, watcher.level()));
    if (protector) protector->set_group_workers(group_workers(groups.assessments()));
    count_and_emit(gpu_verdict_events(next));
    if (next.sample.shm) emit(watcher.observe_shm(next.sample.timestamp, *next.sample.shm));
    report = std::move(next);
    dirty = true;
    start_cleanup(o);
    if (protector) {
      protector->set_location(location);
      protector->observe(clock.steady(), report->sample.processes);  // who grows, before danger
    }
  }

  // --- actions -----------------------------------------------------------------------------

  /// --protect: made at start (host scope without allow_host refuses, an error), remade or
  /// dropped on reload (then a refusal is a notice and protection stays off).
  void start_protect(bool at_start) {
    const auto& p = options.config.protect;
    if (!p.enabled) {
      protector.reset();
      return;
    }
    // Without a limit the host's memory is what runs out: every process there is at stake.
    bool unlimited = location && !limit_bytes;
    if (at_start && location) {
      std::vector<model::Note> notes;
      try {
        unlimited = !readers::read_cgroup_at(*location, notes).limit_bytes;
      } catch (const Error&) {
        unlimited = false;  // unreadable now: the samples say why, and nothing acts on unknown
      }
    }
    if ((!location || unlimited) && !p.allow_host) {
      const std::string why = fmt::format(
          "--protect: {} has {} (host scope): memopt would choose among every process on the "
          "host; name a container with a limit (--pid, --cgroup), set one, or add --allow-host",
          options.target.describe(), location ? "no memory limit" : "no memory cgroup");
      if (at_start) throw Error(why, Error::Kind::kUsage);
      protector.reset();
      sink.on_notice(why);
      return;
    }
    if (protector) {
      protector->set_config(p);
      protector->set_location(location);
      for (const auto& problem : protector->check_pid_files()) sink.on_notice(problem);
      return;
    }
    std::vector<std::string> dirs;
    try {
      dirs = sys::runtime_directories_to_scan();
    } catch (const Error& e) {  // MEMOPT_RUNTIME_DIR not private: shed asks nobody
      sink.on_notice(e.what());
    }
    if (!options.signaller) {
      own_signaller = std::make_unique<actions::SystemSignaller>();
      options.signaller = own_signaller.get();
    }
    protector = std::make_unique<actions::Protector>(p, options.roots, location, options.target,
                                                     std::move(dirs), *options.signaller);
    for (const auto& problem : protector->check_pid_files()) sink.on_notice(problem);
  }

  /// The escalation past cleanup, on the reading just taken (`taken`: before it was read).
  void protect_step(const analysis::QuickObservation& o,
                    std::chrono::steady_clock::time_point taken) {
    if (!protector) return;
    actions::ProtectReading reading{taken, o.at, watcher.reading_level(), o.memory};
    std::vector<analysis::Event> events;
    std::vector<std::string> notices;
    protector->step(reading, clock.steady(), events, notices);
    for (const auto& n : notices) sink.on_notice(n);
    count_and_emit(std::move(events));
  }

  /// gpu_orphan / gpu_wrong_device, once per process while its verdict holds (a sample without
  /// GPUs, NVML failing for a moment, forgets none). Nothing is killed on a verdict.
  std::vector<analysis::Event> gpu_verdict_events(const analysis::Report& r) {
    std::vector<analysis::Event> events;
    if (r.sample.gpus.empty()) return events;
    std::set<std::pair<std::string, std::uint32_t>> now;
    for (const auto& v : r.gpu_verdicts) {
      auto key = std::make_pair(std::string(analysis::to_string(v.kind)), v.pid);
      now.insert(key);
      if (gpu_verdicts_raised.count(key) != 0) continue;
      analysis::Event e;
      e.kind = v.kind == analysis::GpuVerdictKind::kOrphan ? analysis::EventKind::kGpuOrphan
                                                           : analysis::EventKind::kGpuWrongDevice;
      e.at = r.sample.timestamp;
      e.level = watcher.level();
      e.memory = r.memory;
      e.message = fmt::format("{}; fix: {}", v.message, v.fix);
      e.pid = v.local_pid.value_or(static_cast<int>(v.pid));
      e.process_name = v.name;
      e.gpu_verdict = v;
      events.push_back(std::move(e));
    }
    gpu_verdicts_raised = std::move(now);
    return events;
  }

  void count_and_emit(std::vector<analysis::Event> events) {
    for (const auto& e : events) watcher.count(e);
    emit(std::move(events));
  }

  /// Auto-cleanup: starts `memopt cleanup` on its own thread when the schedule says so; the
  /// watch loop goes on and reports it when it is done (finish_cleanup).
  void start_cleanup(const analysis::QuickObservation& o) {
    if (!schedule || !schedule->should_start(watcher.level(), clock.steady(), cleanup.has_value()))
      return;
    RunningCleanup running;
    running.event.kind = analysis::EventKind::kCleanup;
    running.event.at = o.at;
    running.event.level = watcher.level();
    running.event.memory = o.memory;
    running.started = clock.steady();
    actions::CleanupOptions cleanup_options;
    cleanup_options.target = options.target;
    cleanup_options.request_timeout = kAutoCleanupRequestTimeout;
    try {
      cleanup_options.runtime_dirs = sys::runtime_directories_to_scan();
    } catch (const Error& e) {  // MEMOPT_RUNTIME_DIR not private: clean up without processes
      sink.on_notice(e.what());
    }
    try {
      running.result = std::async(std::launch::async, [roots = options.roots, cleanup_options] {
        actions::SystemActuator actuator;
        return actions::run_cleanup(roots, actuator, cleanup_options);
      });
    } catch (const std::system_error& e) {
      sink.on_notice(fmt::format("cannot start the cleanup: {}", e.what()));
      return;
    }
    cleanup = std::move(running);
  }

  /// Reports a finished cleanup as a `cleanup` event; `wait`: waits for a running one.
  void finish_cleanup(bool wait) {
    if (!cleanup) return;
    if (!wait && cleanup->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return;
    analysis::Event e = std::move(cleanup->event);
    const auto level = std::string(analysis::to_string(e.level));
    try {
      const auto result = cleanup->result.get();
      // Its steps' working-set releases, each measured alone: a shed that ran between two
      // steps is the shed event's, not counted again here.
      e.released_bytes = actions::steps_released(result);
      // memopt_cleanup_reclaimed_bytes_total keeps its meaning: the usage drop, cache included.
      if (result.reclaimed_bytes > 0)
        cleanup_reclaimed_total += static_cast<std::uint64_t>(result.reclaimed_bytes);
      std::vector<std::string> steps;
      for (const auto& step : result.steps) {
        e.steps.push_back({step.name, step.status});
        steps.push_back(step.name + " " + step.status);
      }
      e.message = fmt::format("cleanup at {}: released {} ({})", level,
                              format_released(*e.released_bytes, "the working set"),
                              fmt::join(steps, ", "));
    } catch (const std::exception& err) {  // memopt::Error, or std::bad_alloc from its thread
      e.message = fmt::format("cleanup at {} failed: {}", level, err.what());
    }
    e.duration_seconds = std::chrono::duration<double>(clock.steady() - cleanup->started).count();
    cleanup.reset();
    watcher.count(e);
    std::vector<analysis::Event> events;
    events.push_back(std::move(e));
    emit(std::move(events));
  }

  /// leak_suspected events wait for the process's own leak sites, asked on another thread
  /// (finish_leak_sites); the other events are returned to be emitted now.
  std::vector<analysis::Event> ask_leak_sites(std::vector<analysis::Event> events) {
    std::vector<analysis::Event> now;
    for (auto& e : events) {
      if (e.kind != analysis::EventKind::kLeakSuspected || !e.pid) {
        now.push_back(std::move(e));
        continue;
      }
      try {
        auto answer = std::async(std::launch::async, [roots = options.roots, pid = *e.pid,
                                                      dirs = sys::runtime_directories_to_scan()] {
          return actions::ask_leak_sites(roots, pid, dirs, kLeakSitesTimeout, kLeakSites);
        });
        pending_leaks.push_back({std::move(answer), std::move(e)});
      } catch (const std::exception& err) {  // MEMOPT_RUNTIME_DIR not private; no thread
        e.leak_sites_note = fmt::format("its leak sites were not asked for: {}", err.what());
        e.message += "; " + *e.leak_sites_note;
        now.push_back(std::move(e));
      }
    }
    return now;
  }

  /// Emits the leak_suspected events whose process answered (or failed to); `wait`: all.
  void finish_leak_sites(bool wait) {
    std::vector<analysis::Event> done;
    for (auto it = pending_leaks.begin(); it != pending_leaks.end();) {
      if (!wait && it->answer.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
        ++it;
        continue;
      }
      auto e = std::move(it->event);
      try {
        auto answer = it->answer.get();
        const auto text = actions::leak_sites_text(answer);
        e.leak_sites = std::move(answer.sites);
        e.leak_sites_note = std::move(answer.note);
        if (!e.leak_sites.empty()) {
          e.message += "; growing sites: " + text;
        } else if (!text.empty()) {
          e.message += "; " + text;
        }
      } catch (const std::exception& err) {  // std::bad_alloc from its thread
        e.leak_sites_note = fmt::format("its leak sites could not be asked for: {}", err.what());
        e.message += "; " + *e.leak_sites_note;
      }
      done.push_back(std::move(e));
      it = pending_leaks.erase(it);
    }
    if (!done.empty()) emit(std::move(done));
  }

  /// loop_forecast: asks the target's cooperating processes for their `stats` off the sampling
  /// path (one request in flight at most) and turns each forecast they carry into one event.
  void ask_forecasts() {
    finish_forecasts(false);
    const auto now = clock.steady();
    if (pending_stats || now < next_forecasts || presence != Presence::kFound) return;
    next_forecasts = now + std::min<milliseconds>(kForecastsEvery, options.config.interval);
    std::vector<std::string> dirs;
    try {
      dirs = sys::runtime_directories_to_scan();
    } catch (const Error&) {
      return;  // MEMOPT_RUNTIME_DIR not private: the cleanup and protect paths say so
    }
    // No live cooperating process's socket in any of them (the common case; a socket left by
    // a process that exited counts for nothing): no thread, no lookup of the target, every 2 s
    // of an idle monitor.
    const bool any_socket = std::any_of(dirs.begin(), dirs.end(), [&](const std::string& dir) {
      const auto names = sys::list_directory(dir);
      return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
        const auto pid = sys::cleanup_socket_pid(n);
        return pid && sys::exists(fmt::format("{}/{}", options.roots.procfs, *pid));
      });
    });
    if (!any_socket) return;
    try {
      pending_stats = std::async(
          std::launch::async, [roots = options.roots, target = watched, dirs = std::move(dirs)] {
            return actions::ask_process_stats(roots, target, dirs, kForecastsTimeout);
          });
    } catch (const std::system_error& e) {
      sink.on_notice(fmt::format("cannot ask processes for their loop forecasts: {}", e.what()));
    }
  }

  /// Emits the loop_forecast events of a finished `stats` round; `wait`: waits for it.
  void finish_forecasts(bool wait) {
    if (!pending_stats) return;
    if (!wait && pending_stats->wait_for(std::chrono::seconds(0)) != std::future_status::ready)
      return;
    std::vector<model::ProcessStats> answers;
    try {
      answers = pending_stats->get();
    } catch (const std::exception& err) {  // std::bad_alloc from its thread
      sink.on_notice(
          fmt::format("asking processes for their loop forecasts failed: {}", err.what()));
    }
    pending_stats.reset();
    count_and_emit(loop_forecasts.observe(clock.wall(), answers, watcher.level(),
                                          report ? report->memory : analysis::EffectiveMemory{}));
  }

  std::optional<double> latest_kernel_kill() {
    std::vector<model::Note> notes;
    const auto kills = readers::read_kernel_oom_kills(options.roots, notes);
    std::optional<double> latest;
    if (!kills) return latest;
    for (const auto& k : *kills) {
      if (k.uptime_seconds && (!latest || *k.uptime_seconds > *latest)) latest = k.uptime_seconds;
    }
    return latest;
  }

  void emit(std::vector<analysis::Event> events) {
    for (auto& e : events) {
      if (e.kind == analysis::EventKind::kOomKill) add_victims(e);
      sink.on_event(e);
      if (options.publish) {
        auto line = render::render_event(e, true);
        while (!line.empty() && line.back() == '\n') line.pop_back();
        recent_events.push_back(std::move(line));
        if (recent_events.size() > kRecentEvents) recent_events.pop_front();
        dirty = true;
      }
      if (hooks && e.kind != analysis::EventKind::kHookFailed) {
        if (auto problem = hooks->start(e, clock.steady()); !problem.empty()) {
          hook_failed(e.at, std::move(problem));
        }
      }
    }
  }

  /// A hook that could not run or failed: an event (counted, served, printed), never a hook.
  void hook_failed(analysis::TimePoint at, std::string message) {
    analysis::Event e;
    e.kind = analysis::EventKind::kHookFailed;
    e.at = at;
    e.level = watcher.level();
    e.memory = report ? report->memory : analysis::EffectiveMemory{};
    e.message = std::move(message);
    watcher.count(e);
    std::vector<analysis::Event> events;
    events.push_back(std::move(e));
    emit(std::move(events));
  }

  void reap_hooks(bool shutdown) {
    if (!hooks) return;
    for (auto& failure : hooks->reap(clock.steady(), shutdown)) {
      hook_failed(clock.wall(), std::move(failure));
    }
  }

  /// The kernel log's kills newer than the last ones seen, in the target's cgroup.
  void add_victims(analysis::Event& e) {
    std::vector<model::Note> notes;
    auto kills = readers::read_kernel_oom_kills(options.roots, notes);
    if (!kills) return;
    if (location) *kills = readers::kills_in_cgroup(*kills, location->path);
    for (const auto& k : *kills) {
      if (k.uptime_seconds && kernel_log_seen && *k.uptime_seconds <= *kernel_log_seen) continue;
      e.victims.push_back(k);
      if (k.uptime_seconds)
        kernel_log_seen = std::max(kernel_log_seen.value_or(0), *k.uptime_seconds);
    }
    if (!e.victims.empty()) {
      e.message += fmt::format(": {} (pid {})", e.victims.back().name, e.victims.back().pid);
    }
  }

  /// Hands the front end a new snapshot, built from the one state.
  void publish() {
    dirty = false;
    if (!options.publish || !report) return;
    last_publish = clock.steady();
    EngineSnapshot snapshot;
    render::RenderOptions render_options;
    render_options.top = options.config.top;
    render_options.pretty = false;
    render_options.containers = options.config.containers;
    snapshot.report_json = render::render_json(*report, render_options);
    render::MetricsExtras extras;
    extras.top = options.config.top;
    extras.events = watcher.summary().events;
    if (schedule) extras.cleanup_reclaimed_bytes = cleanup_reclaimed_total;
    snapshot.metrics = render::render_prometheus(*report, extras);
    snapshot.history_json = render::render_history_json(watcher.history().to_vector());
    snapshot.events_json = "[";
    for (const auto& e : recent_events) {
      if (snapshot.events_json.size() > 1) snapshot.events_json += ',';
      snapshot.events_json += e;
    }
    snapshot.events_json += "]";
    sink.on_publish(snapshot);
  }

  struct PendingLeak {
    std::future<actions::LeakSitesAnswer> answer;
    analysis::Event event;  ///< leak_suspected, emitted with the answer
  };

  struct RunningCleanup {
    std::future<actions::CleanupReport> result;
    analysis::Event event;  ///< the level and memory that started it
    std::chrono::steady_clock::time_point started;
  };

  EngineOptions options;
  EngineSink& sink;
  EngineClock clock;
  analysis::Watcher watcher;
  analysis::GroupWatcher groups;  ///< worker groups across full samples: workers_copy
  bool started = false;
  /// The target's lifecycle: never found yet (unknown), found, gone (unknown until found again).
  enum class Presence { kNotFound, kFound, kGone };
  Presence presence = Presence::kNotFound;
  /// What is located: options.target, or after `--pid P` exited, the cgroup P was in.
  model::Target watched;
  std::optional<int> followed_pid;  ///< `--pid P` after P exited
  bool started_once = false;
  std::optional<readers::CgroupLocation> location;
  std::optional<std::string> unreadable;
  std::optional<std::uint64_t> limit_bytes;
  std::optional<double> kernel_log_seen;
  readers::ProcessCache process_cache;  // idle processes are not walked every interval
  /// Parents and start times, kept while pidfds vouch for them (not on a captured tree).
  readers::ProcessTreeCache tree_cache = readers::ProcessTreeCache::for_roots(options.roots);
  readers::NvmlSession nvml;
  sys::KeptFiles quick_files;  ///< meminfo and the cgroup's counters, kept open between readings
  sys::CgroupNotifier notifier;
  bool armed = false;
  std::chrono::steady_clock::time_point next_full{};
  std::chrono::steady_clock::time_point next_pressure{};
  std::chrono::steady_clock::time_point settle_until{};
  std::vector<std::string> fired_triggers;        ///< PSI triggers signalled, for the next reading
  std::optional<analysis::Advice> pressure_note;  ///< how pressure is watched, for a sample
  std::optional<analysis::Advice> pressure_advice;  ///< the same, kept for refreshed reports
  std::string last_pressure_note;
  std::optional<analysis::CleanupSchedule> schedule;
  std::optional<RunningCleanup> cleanup;
  std::uint64_t cleanup_reclaimed_total = 0;  ///< memopt_cleanup_reclaimed_bytes_total
  std::vector<PendingLeak> pending_leaks;
  /// loop_forecast: the `stats` round in flight, when the next may start, what was said
  std::optional<std::future<std::vector<model::ProcessStats>>> pending_stats;
  std::chrono::steady_clock::time_point next_forecasts{};
  analysis::LoopForecastWatcher loop_forecasts;
  std::unique_ptr<actions::AlertHooks> hooks;
  std::unique_ptr<actions::Signaller> own_signaller;
  std::unique_ptr<actions::Protector> protector;  ///< --protect
  std::optional<analysis::Report> report;
  std::deque<std::string> recent_events;
  /// (verdict, NVML pid) already raised as an event.
  std::set<std::pair<std::string, std::uint32_t>> gpu_verdicts_raised;
  bool dirty = false;
  std::chrono::steady_clock::time_point last_publish{};
};

Engine::Engine(EngineOptions options, EngineSink& sink)
    : state_(std::make_unique<State>(std::move(options), sink)) {}

Engine::~Engine() = default;

void Engine::run(std::optional<std::chrono::milliseconds> duration) {
  auto& s = *state_;
  const auto start = s.clock.steady();
  for (;;) {
    if (poll_) poll_();
    if (reload_.exchange(false)) s.reload();
    if (stop_.load()) break;
    s.step();
    if (duration && s.clock.steady() - start >= *duration) break;
    if (stop_.load()) break;
    s.wait();
  }
  s.shutdown();
}

void Engine::step() { state_->step(); }

void Engine::reload() { state_->reload(); }

analysis::Level Engine::level() const { return state_->watcher.level(); }

const analysis::WatchSummary& Engine::summary() const { return state_->watcher.summary(); }

const analysis::Report* Engine::report() const {
  return state_->report ? &*state_->report : nullptr;
}

}  // namespace memopt
