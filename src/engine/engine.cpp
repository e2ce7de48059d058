#include "memopt/engine.hpp"

#include <fmt/format.h>

#include <utility>

#include "engine/asks.hpp"
#include "engine/escalation.hpp"
#include "engine/findings.hpp"
#include "engine/full.hpp"
#include "engine/groups.hpp"
#include "engine/notifications.hpp"
#include "engine/publisher.hpp"
#include "engine/quick.hpp"
#include "engine/scheduler.hpp"
#include "engine/status.hpp"
#include "engine/target.hpp"
#include "memopt/analysis/loop_forecast.hpp"
#include "memopt/error.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/socket.hpp"

// The loop: each step reads what the scheduler says is due, lets the watcher judge it, emits
// the events (to the sink, the publisher and the hooks), escalates, and publishes once. The
// parts each do one job (engine/*.hpp); this file wires them.
namespace memopt {

struct Engine::State {
  State(EngineOptions o, EngineSink& s)
      : options(std::move(o)),
        sink(s),
        clock(engine::real_clock(options.clock)),
        watcher(options.config.watch, options.publish ? 3600 : 1),
        scheduler(clock),
        target(options.roots, options.target, sink),
        notifications(options, sink),
        escalation(options, sink, clock),
        asks(options.roots, sink),
        victims(options.roots),
        publisher(sink, options.publish, clock) {
    options.analysis.thresholds = options.config.watch.thresholds;
  }

  // --- the loop ---------------------------------------------------------------------------

  void start() {
    target.start();
    victims.start();
    escalation.start_protect(true, target.location(), target.limit_bytes());
    started = true;
    full_sample();
    scheduler.start(clock.steady(), options.config.interval);
  }

  void step() {
    if (!started) {
      start();
    } else {
      const engine::SteadyTime now = clock.steady();
      const auto memory =
          quick_observation(scheduler.take_pressure(now, notifications.trigger_fired()));
      if (scheduler.full_due(now)) {
        full_sample();
        scheduler.full_taken(now, options.config.interval);
      } else if (groups.due(now, memory)) {
        count_and_emit(groups.observe_again(full.options(target, clock, options.config.containers),
                                            clock.wall(), memory, watcher.level(), now));
        escalation.protect_groups(groups.assessments());
      }
    }
    if (auto done = escalation.finish_cleanup(false)) count_and_emit({std::move(*done)});
    emit(asks.finish_leak_sites(false));
    ask_forecasts();
    reap_hooks(false);
    // What changed in this step is served once, after the report carries it.
    if (publisher.dirty()) publish();
  }

  /// Until the next step: a kernel notification, a wake_on() descriptor, request_stop() or
  /// request_reload(), the watch interval, or while calm the next full sample; never past
  /// `deadline` (run()'s duration).
  void wait(std::optional<engine::SteadyTime> deadline) {
    if (!options.kernel_notifications) {
      sys::pause_for(options.config.watch_interval);
      return;
    }
    const bool quiet = calm();
    // Growth that crosses no level (a worker group forming) wakes a calm engine too.
    notifications.set_growth_mark(
        quiet ? engine::GroupTracker::growth_mark(quick.usage_bytes(), target.limit_bytes())
              : std::nullopt);
    const auto timeout = scheduler.wait_timeout(options.config.watch_interval, quiet, deadline);
    if (notifications.wait(timeout, wake_fds)) scheduler.notified();
    wake.drain();
  }

  /// Nothing can change what the engine would say before its next full sample without the
  /// kernel or a front end waking it (EngineOptions::quiet_when_calm).
  [[nodiscard]] bool calm() const {
    return options.quiet_when_calm && !options.publish &&
           watcher.level() == analysis::Level::kNormal &&
           notifications.wake_at_any_change(quick.usage_bytes()) && !escalation.busy() &&
           !asks.busy() && !groups.watching();
  }

  void shutdown() {
    count_and_emit(escalation.finish_protect());
    if (auto done = escalation.finish_cleanup(true)) count_and_emit({std::move(*done)});
    emit(asks.finish_leak_sites(true));
    finish_forecasts(true);
    reap_hooks(true);
    if (publisher.dirty()) publish();
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
      escalation.configure();
      notifications.arm(target.location(), target.limit_bytes(), target.unreadable().has_value());
      escalation.start_protect(false, target.location(), target.limit_bytes());
      sink.on_notice(fmt::format("reloaded {}", options.config_path));
    } catch (const Error& e) {
      sink.on_notice(fmt::format("keeping the old configuration: {}", e.what()));
    }
  }

  // --- the target's lifecycle -------------------------------------------------------------

  /// A target found (again) is read in full at once, by counters of its own; a lost one is
  /// unknown, with nothing armed on the cgroup that is gone.
  void target_changed(analysis::TimePoint at, engine::TargetChange change) {
    analysis::Event e = change.kind == analysis::EventKind::kTargetFound
                            ? analysis::Event(analysis::TargetFound{}, at)
                            : analysis::Event(analysis::TargetLost{}, at);
    if (change.kind == analysis::EventKind::kTargetFound) {
      notifications.rearm_later();
      scheduler.full_at_once();
      watcher.restart_target();  // counters of the cgroup before the gap are not this one's
      escalation.protect_location(target.location());
      e.level = watcher.level();
      e.memory = report ? report->memory : analysis::EffectiveMemory{};
    } else {
      notifications.forget();
      quick.forget();  // the files of the cgroup that is gone
      watcher.restart_target();
      e.level = analysis::Level::kUnknown;
      e.memory.scope = analysis::Scope::kUnknown;
    }
    e.message = std::move(change.message);
    count_and_emit({std::move(e)});
  }

  void track_target(analysis::TimePoint at) {
    if (auto change = target.track()) target_changed(at, std::move(*change));
  }

  // --- observation and analysis ----------------------------------------------------------

  /// The target's usage and (`with_pressure`) stalls, without a process scan.
  [[nodiscard]] model::Sample quick_sample(analysis::QuickObservation& o, bool with_pressure) {
    const auto location = target.location();  // a copy: losing the target below clears it
    auto [sample, gone] =
        quick.read(location, target.limit_bytes(), target.unreadable(), with_pressure, o);
    sample.target = options.target;
    if (gone) {
      // The container went away (a sidecar's model restarting): unknown until it is back.
      target_changed(o.at, target.lose(fmt::format("cgroup {} was removed", location->dir)));
      sample.cgroup_unreadable = target.unreadable();
    }
    o.memory = analysis::effective_memory(sample);
    // The host's stalls count only when the host is what is watched.
    if (with_pressure && !o.pressure && o.memory.scope == analysis::Scope::kHost) {
      o.pressure = quick.host_pressure();
    }
    return sample;
  }

  /// The reading's memory (the worker groups' closer look judges against it).
  analysis::EffectiveMemory quick_observation(bool with_pressure) {
    const engine::SteadyTime taken = clock.steady();
    analysis::QuickObservation o;
    o.at = clock.wall();
    track_target(o.at);
    const auto sample = quick_sample(o, with_pressure);
    o.pressure_triggers = notifications.take_fired_triggers();
    auto events = watcher.observe(o);
    sink.on_observation(o, watcher.level());
    // The served report follows at most once a second, and at once when the level moved: it
    // must never show another level than the events it is served with.
    if (report && (!events.empty() || publisher.quick_due())) {
      engine::refresh_report(*report, o, sample, status_of(o.memory), options.analysis,
                             notifications.pressure_advice());
      publisher.changed();
    }
    emit(std::move(events));
    escalation.start_cleanup(o, watcher.level());
    count_and_emit(escalation.protect_step(o, watcher.reading_level(), taken));
    return o.memory;
  }

  [[nodiscard]] analysis::Status status_of(const analysis::EffectiveMemory& memory) const {
    return engine::engine_status(memory, options, watcher, target.unreadable());
  }

  void full_sample() {
    if (started_once) track_target(clock.wall());
    started_once = true;
    auto next = analysis::analyze(
        full.read(target, options.target, clock, options.config.containers), options.analysis);
    bool arm = !notifications.armed();
    // A sample that could not read the cgroup says nothing of its limit: the quick readings
    // keep the last one (without it they would pass for host scope).
    const auto limit = next.sample.cgroup ? next.sample.cgroup->limit_bytes : target.limit_bytes();
    if (limit != target.limit_bytes()) {
      target.set_limit_bytes(limit);
      arm = true;  // a new limit (docker update) moves the thresholds
    }
    if (arm) {
      notifications.arm(target.location(), target.limit_bytes(), target.unreadable().has_value());
      notifications.set_armed();
    }
    if (auto note = notifications.take_pressure_note()) next.advice.push_back(std::move(*note));
    // The level first: an event announcing a new level comes before the sample showing it.
    analysis::QuickObservation o;
    o.at = next.sample.timestamp;
    o.memory = next.memory;
    if (next.sample.cgroup) o.oom_kills = next.sample.cgroup->oom_kill_events;
    o.pressure = analysis::effective_pressure(next.sample, next.memory.scope);
    emit(watcher.observe(o));
    sink.on_observation(o, watcher.level());
    next.status = status_of(next.memory);
    sink.on_sample(next);
    emit(asks.ask_leak_sites(
        watcher.observe_processes(next.sample.timestamp, next.sample.processes)));
    std::vector<analysis::ProcessGroup> found;
    auto grouped =
        groups.observe_sample(next.sample, next.memory, watcher.level(), clock.steady(), found);
    sink.on_groups(found);
    count_and_emit(std::move(grouped));
    escalation.protect_groups(groups.assessments());
    count_and_emit(gpu_verdicts.observe(next, watcher.level()));
    if (next.sample.shm) emit(watcher.observe_shm(next.sample.timestamp, *next.sample.shm));
    report = std::move(next);
    publisher.changed();
    escalation.start_cleanup(o, watcher.level());
    escalation.protect_location(target.location());
    escalation.protect_observe(report->sample.processes);
  }

  // --- asking cooperating processes -------------------------------------------------------

  /// loop_forecast: asks the target's cooperating processes for their `stats` off the sampling
  /// path (one round in flight at most) and turns each forecast they carry into one event.
  void ask_forecasts() {
    finish_forecasts(false);
    if (asks.asking_stats() || !target.found()) return;
    if (!scheduler.take_forecasts(clock.steady(), options.config.interval)) return;
    asks.ask_stats(target.watched());
  }

  void finish_forecasts(bool wait) {
    auto answers = asks.finish_stats(wait);
    if (!answers) return;
    count_and_emit(loop_forecasts.observe(clock.wall(), *answers, watcher.level(),
                                          report ? report->memory : analysis::EffectiveMemory{}));
  }

  // --- events -------------------------------------------------------------------------------

  /// Events raised outside the watcher are counted in its summary first.
  void count_and_emit(std::vector<analysis::Event> events) {
    for (const auto& e : events) watcher.count(e);
    emit(std::move(events));
  }

  void emit(std::vector<analysis::Event> events) {
    for (auto& e : events) {
      if (e.kind() == analysis::EventKind::kOomKill) victims.add_victims(e, target.location());
      sink.on_event(e);
      publisher.keep(e);
      if (auto problem = escalation.start_hook(e); !problem.empty()) {
        hook_failed(e.at, std::move(problem));
      }
    }
  }

  /// A hook that could not run or failed: an event (counted, served, printed), never a hook.
  void hook_failed(analysis::TimePoint at, std::string message) {
    analysis::Event e(analysis::HookFailed{}, at, watcher.level(),
                      report ? report->memory : analysis::EffectiveMemory{});
    e.message = std::move(message);
    count_and_emit({std::move(e)});
  }

  void reap_hooks(bool shutdown) {
    for (auto& failure : escalation.reap_hooks(shutdown)) {
      hook_failed(clock.wall(), std::move(failure));
    }
  }

  void publish() {
    publisher.publish(
        report ? &*report : nullptr, watcher,
        {escalation.cleanup_reclaimed_bytes(), options.config.top, options.config.containers});
  }

  EngineOptions options;
  EngineSink& sink;
  EngineClock clock;
  analysis::Watcher watcher;
  engine::GroupTracker groups{options.roots};  ///< worker groups: workers_copy
  engine::Scheduler scheduler;
  engine::TargetTracker target;
  engine::KernelNotifications notifications;
  engine::Escalation escalation;
  engine::InProcessAsks asks;
  analysis::LoopForecastWatcher loop_forecasts;
  engine::GpuVerdictEvents gpu_verdicts;
  engine::KernelLogVictims victims;
  engine::Publisher publisher;
  bool started = false;
  bool started_once = false;
  engine::FullReader full{options.roots};
  engine::QuickReader quick{options.roots};
  std::optional<analysis::Report> report;
  sys::WakeEvent wake;  ///< request_stop() and request_reload() end the wait through it
  std::vector<int> wake_fds{wake.fd()};
};

Engine::Engine(EngineOptions options, EngineSink& sink)
    : state_(std::make_unique<State>(std::move(options), sink)) {}

Engine::~Engine() = default;

std::chrono::milliseconds Engine::run(std::optional<std::chrono::milliseconds> duration) {
  auto& s = *state_;
  const auto start = s.clock.steady();
  std::optional<engine::SteadyTime> deadline;
  if (duration) deadline = start + *duration;
  for (;;) {
    if (poll_) poll_();
    if (reload_.exchange(false)) s.reload();
    if (stop_.load()) break;
    s.step();
    if (deadline && s.clock.steady() >= *deadline) break;
    if (stop_.load()) break;
    s.wait(deadline);
  }
  s.shutdown();
  return std::chrono::duration_cast<std::chrono::milliseconds>(s.clock.steady() - start);
}

void Engine::request_stop() noexcept {
  stop_.store(true);
  state_->wake.signal();
}

void Engine::request_reload() noexcept {
  reload_.store(true);
  state_->wake.signal();
}

void Engine::wake_on(int fd) { state_->wake_fds.push_back(fd); }

void Engine::step() { state_->step(); }

void Engine::reload() { state_->reload(); }

analysis::Level Engine::level() const { return state_->watcher.level(); }

const analysis::WatchSummary& Engine::summary() const { return state_->watcher.summary(); }

const analysis::Report* Engine::report() const {
  return state_->report ? &*state_->report : nullptr;
}

}  // namespace memopt
