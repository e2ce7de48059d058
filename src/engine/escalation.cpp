#include "engine/escalation.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <system_error>

#include "memopt/actions/actuator.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/runtime_dir.hpp"
#include "memopt/units.hpp"

namespace memopt::engine {

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

Escalation::Escalation(const EngineOptions& options, EngineSink& sink, EngineClock clock)
    : options_(options), sink_(sink), clock_(std::move(clock)), signaller_(options.signaller) {
  configure();
}

Escalation::~Escalation() = default;

actions::AlertHooks::Options Escalation::hook_options() const {
  return {options_.config.on_alert.value_or(""), options_.config.alert_timeout, 4};
}

void Escalation::configure() {
  const auto& config = options_.config;
  if (!config.auto_cleanup) {
    schedule_.reset();
  } else if (schedule_) {
    schedule_->set(*config.auto_cleanup, config.cleanup_cooldown);
  } else {
    schedule_.emplace(*config.auto_cleanup, config.cleanup_cooldown);
  }
  if (!config.on_alert) {
    hooks_.reset();
  } else if (hooks_) {
    hooks_->set_options(hook_options());
  } else {
    hooks_ = std::make_unique<actions::AlertHooks>(hook_options());
  }
}

// --- protection ---------------------------------------------------------------------------------

void Escalation::start_protect(bool at_start,
                               const std::optional<readers::CgroupLocation>& location,
                               std::optional<std::uint64_t> limit_bytes) {
  const auto& p = options_.config.protect;
  if (!p.enabled) {
    protector_.reset();
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
        options_.target.describe(), location ? "no memory limit" : "no memory cgroup");
    if (at_start) throw Error(why, Error::Kind::kUsage);
    protector_.reset();
    sink_.on_notice(why);
    return;
  }
  if (protector_) {
    protector_->set_config(p);
    protector_->set_location(location);
    for (const auto& problem : protector_->check_pid_files()) sink_.on_notice(problem);
    return;
  }
  std::vector<std::string> dirs;
  try {
    dirs = sys::runtime_directories_to_scan();
  } catch (const Error& e) {  // MEMOPT_RUNTIME_DIR not private: shed asks nobody
    sink_.on_notice(e.what());
  }
  if (!signaller_) {
    own_signaller_ = std::make_unique<actions::SystemSignaller>();
    signaller_ = own_signaller_.get();
  }
  protector_ = std::make_unique<actions::Protector>(p, options_.roots, location, options_.target,
                                                    std::move(dirs), *signaller_);
  for (const auto& problem : protector_->check_pid_files()) sink_.on_notice(problem);
}

std::vector<analysis::Event> Escalation::protect_step(const analysis::QuickObservation& o,
                                                      analysis::Level reading_level,
                                                      std::chrono::steady_clock::time_point taken) {
  std::vector<analysis::Event> events;
  if (!protector_) return events;
  actions::ProtectReading reading{taken, o.at, reading_level, o.memory};
  std::vector<std::string> notices;
  protector_->step(reading, clock_.steady(), events, notices);
  for (const auto& n : notices) sink_.on_notice(n);
  return events;
}

void Escalation::protect_location(const std::optional<readers::CgroupLocation>& location) {
  if (protector_) protector_->set_location(location);
}

void Escalation::protect_groups(const std::vector<analysis::GroupAssessment>& groups) {
  if (protector_) protector_->set_group_workers(group_workers(groups));
}

void Escalation::protect_observe(const std::vector<model::ProcessMemory>& processes) {
  if (protector_) protector_->observe(clock_.steady(), processes);  // who grows, before danger
}

std::vector<analysis::Event> Escalation::finish_protect() {
  std::vector<analysis::Event> events;
  if (protector_) protector_->finish(events, true);
  return events;
}

// --- cleanup ------------------------------------------------------------------------------------

void Escalation::start_cleanup(const analysis::QuickObservation& o, analysis::Level level) {
  if (!schedule_ || !schedule_->should_start(level, clock_.steady(), cleanup_.has_value())) return;
  RunningCleanup running;
  running.event = analysis::Event(analysis::CleanupRan{}, o.at, level, o.memory);
  running.started = clock_.steady();
  actions::CleanupOptions cleanup_options;
  cleanup_options.target = options_.target;
  cleanup_options.request_timeout = kAutoCleanupRequestTimeout;
  try {
    cleanup_options.runtime_dirs = sys::runtime_directories_to_scan();
  } catch (const Error& e) {  // MEMOPT_RUNTIME_DIR not private: clean up without processes
    sink_.on_notice(e.what());
  }
  try {
    running.result = std::async(std::launch::async, [roots = options_.roots, cleanup_options] {
      actions::SystemActuator actuator;
      return actions::run_cleanup(roots, actuator, cleanup_options);
    });
  } catch (const std::system_error& e) {
    sink_.on_notice(fmt::format("cannot start the cleanup: {}", e.what()));
    return;
  }
  cleanup_ = std::move(running);
}

std::optional<analysis::Event> Escalation::finish_cleanup(bool wait) {
  if (!cleanup_) return std::nullopt;
  if (!wait && cleanup_->result.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return std::nullopt;
  analysis::Event e = std::move(cleanup_->event);
  auto& cleanup = *e.payload_if<analysis::CleanupRan>();
  const auto level = std::string(analysis::to_string(e.level));
  try {
    const auto result = cleanup_->result.get();
    // Its steps' working-set releases, each measured alone: a shed that ran between two
    // steps is the shed event's, not counted again here.
    cleanup.released_bytes = actions::steps_released(result);
    // memopt_cleanup_reclaimed_bytes_total keeps its meaning: the usage drop, cache included.
    if (result.reclaimed_bytes > 0)
      cleanup_reclaimed_total_ += static_cast<std::uint64_t>(result.reclaimed_bytes);
    std::vector<std::string> steps;
    for (const auto& step : result.steps) {
      cleanup.steps.push_back({step.name, step.status});
      steps.push_back(step.name + " " + step.status);
    }
    e.message = fmt::format("cleanup at {}: released {} ({})", level,
                            format_released(*cleanup.released_bytes, "the working set"),
                            fmt::join(steps, ", "));
  } catch (const std::exception& err) {  // memopt::Error, or std::bad_alloc from its thread
    e.message = fmt::format("cleanup at {} failed: {}", level, err.what());
  }
  cleanup.duration_seconds =
      std::chrono::duration<double>(clock_.steady() - cleanup_->started).count();
  cleanup_.reset();
  return e;
}

std::optional<std::uint64_t> Escalation::cleanup_reclaimed_bytes() const {
  if (!schedule_) return std::nullopt;
  return cleanup_reclaimed_total_;
}

// --- hooks --------------------------------------------------------------------------------------

std::string Escalation::start_hook(const analysis::Event& event) {
  if (!hooks_ || event.kind() == analysis::EventKind::kHookFailed) return {};
  return hooks_->start(event, clock_.steady());
}

bool Escalation::busy() const { return cleanup_.has_value() || (hooks_ && hooks_->running() > 0); }

std::vector<std::string> Escalation::reap_hooks(bool shutdown) {
  if (!hooks_) return {};
  return hooks_->reap(clock_.steady(), shutdown);
}

}  // namespace memopt::engine
