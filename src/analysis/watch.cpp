#include "memopt/analysis/watch.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {

using std::chrono::duration;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

/// Per-process history kept for leak fits: at a 60 s interval, more than four hours.
constexpr std::size_t kMaxSeriesPoints = 256;
/// Working-set points kept for the forecast fit.
constexpr std::size_t kForecastPoints = 200;
/// A PSI trigger can fire every window; a new pressure event from one waits this long, the
/// span of the avg10 figures that re-arm it.
constexpr seconds kTriggerRefire{10};

double to_seconds(TimePoint at, TimePoint origin) { return duration<double>(at - origin).count(); }

std::string used_text(const EffectiveMemory& m) {
  return fmt::format("used {} of {} ({:.1f}%), {} available", format_bytes(m.used_bytes),
                     format_bytes(m.limit_bytes), m.used_percent, format_bytes(m.available_bytes));
}

}  // namespace

Watcher::Watcher(WatchParams params, std::size_t history_capacity)
    : params_(std::move(params)), history_(history_capacity), working_set_(kForecastPoints) {}

Level Watcher::level_with_hysteresis(const EffectiveMemory& memory) const {
  const Level raw = assess(memory, params_.thresholds).level;
  if (!started_ || raw >= level_) return raw;
  // Falling: judge against thresholds moved down by the margins, so a value dancing on a
  // threshold does not flap between two levels.
  Thresholds lowered = params_.thresholds;
  lowered.acceptable_percent -= params_.level_margin_percent;
  lowered.warning_percent -= params_.level_margin_percent;
  lowered.severe_percent -= params_.level_margin_percent;
  lowered.danger_available_bytes += params_.danger_margin_bytes;
  const Level falling = assess(memory, lowered).level;
  return std::max(raw, std::min(level_, falling));
}

const char* to_string(EventKind kind) noexcept {
  switch (kind) {
    case EventKind::kLevelChanged:
      return "level_changed";
    case EventKind::kOomKill:
      return "oom_kill";
    case EventKind::kPressure:
      return "pressure";
    case EventKind::kLeakSuspected:
      return "leak_suspected";
    case EventKind::kOomForecast:
      return "oom_forecast";
    case EventKind::kCleanup:
      return "cleanup";
    case EventKind::kShed:
      return "shed";
    case EventKind::kKill:
      return "kill";
    case EventKind::kTargetLost:
      return "target_lost";
    case EventKind::kTargetFound:
      return "target_found";
    case EventKind::kWorkersCopy:
      return "workers_copy";
    case EventKind::kGpuOrphan:
      return "gpu_orphan";
    case EventKind::kGpuWrongDevice:
      return "gpu_wrong_device";
    case EventKind::kShmFilling:
      return "shm_filling";
    case EventKind::kShmSweep:
      return "shm_sweep";
    case EventKind::kLoopForecast:
      return "loop_forecast";
    case EventKind::kHookFailed:
      return "hook_failed";
    case EventKind::kRecordingFailed:
      return "recording_failed";
    case EventKind::kPostmortem:
      return "postmortem";
    case EventKind::kMonitorStopped:
      return "monitor_stopped";
    case EventKind::kNotice:
      return "notice";
  }
  return "unknown";
}

std::optional<EventKind> parse_event_kind(std::string_view name) noexcept {
  for (int k = 0; k <= static_cast<int>(EventKind::kNotice); ++k) {
    const auto kind = static_cast<EventKind>(k);
    if (name == to_string(kind)) return kind;
  }
  return std::nullopt;
}

template <EventPayloadType P>
Event Watcher::make_event(P payload, const QuickObservation& o) const {
  return Event(std::move(payload), o.at, level_, o.memory);
}

std::vector<Event> Watcher::observe(const QuickObservation& o) {
  std::vector<Event> events;
  if (!started_) origin_ = o.at;
  if (last_at_ && o.at > *last_at_ && level_ != Level::kUnknown) {
    summary_.time_at_level[static_cast<std::size_t>(level_)] +=
        duration_cast<milliseconds>(o.at - *last_at_);
  }
  last_at_ = o.at;
  last_memory_ = o.memory;
  if (o.memory.scope != Scope::kUnknown) {
    summary_.peak_known = true;
    summary_.peak_used_bytes = std::max(summary_.peak_used_bytes, o.memory.used_bytes);
    summary_.peak_used_percent = std::max(summary_.peak_used_percent, o.memory.used_percent);
  }

  Level level = level_with_hysteresis(o.memory);
  // A fall is said once it has settled: two readings in a row at the same lower level. Memory
  // released by a kill drains through every level within a second; that is one change, from
  // the old level to the new, not one event (and one hook) per level. A rise is said at once.
  if (started_ && level < level_ && level != Level::kUnknown) {
    if (falling_ != level) {
      falling_ = level;
      level = level_;
    } else {
      falling_.reset();  // settled: said now
    }
  } else {
    falling_.reset();
  }
  if (!started_ && level > Level::kNormal) {
    // Started above normal: said at once (and hooks run), marked initial, not held back until
    // the level next changes.
    level_ = level;
    Event e = make_event(LevelChange{.previous = std::nullopt, .initial = true}, o);
    e.message = fmt::format("level {} at start: {}", to_string(level), used_text(o.memory));
    events.push_back(std::move(e));
  } else if (started_ && level != level_) {
    const Level previous = level_;
    level_ = level;
    Event e = make_event(LevelChange{.previous = previous}, o);
    e.message = fmt::format("level {} (was {}): {}", to_string(level), to_string(previous),
                            o.memory.scope == Scope::kUnknown ? "the target's memory cannot be read"
                                                              : used_text(o.memory));
    events.push_back(std::move(e));
  }
  level_ = level;
  started_ = true;

  if (o.oom_kills) {
    if (oom_kills_ && *o.oom_kills > *oom_kills_) {
      const std::uint64_t count = *o.oom_kills - *oom_kills_;
      Event e = make_event(OomKills{.count = count}, o);
      e.message =
          fmt::format("the OOM killer killed {} process(es) ({} in all)", count, *o.oom_kills);
      events.push_back(std::move(e));
    }
    oom_kills_ = o.oom_kills;
  }

  const bool triggered = !o.pressure_triggers.empty();
  if (o.pressure || triggered) {
    // A threshold of 0 is off: every average is at or above it.
    const auto above = [](double average, double threshold) {
      return threshold > 0 && average >= threshold;
    };
    const auto calm = [](double average, double threshold) {
      return threshold <= 0 || average < threshold / 2;
    };
    const bool high = o.pressure && (above(o.pressure->some_avg10, params_.pressure_some_avg10) ||
                                     above(o.pressure->full_avg10, params_.pressure_full_avg10));
    const bool trigger_cooled = !pressure_fired_at_ || o.at - *pressure_fired_at_ >= kTriggerRefire;
    // A trigger fires before the 10 s averages rise; when they catch up they tell of the same
    // stall. After an event raised by a trigger alone, only kTriggerRefire re-arms it.
    const bool held = pressure_by_trigger_ && !trigger_cooled;
    const bool reading_calm = o.pressure
                                  ? calm(o.pressure->some_avg10, params_.pressure_some_avg10) &&
                                        calm(o.pressure->full_avg10, params_.pressure_full_avg10)
                                  : trigger_cooled;
    if (!pressure_armed_ && !held && reading_calm) pressure_armed_ = true;
    if (pressure_armed_ && (high || (triggered && trigger_cooled))) {
      PressureFired fired{.pressure = o.pressure};
      if (triggered) fired.trigger = o.pressure_triggers.front();
      Event e = make_event(fired, o);
      const std::string stalled =
          o.pressure ? fmt::format("tasks stalled {:.1f}% (some) / {:.1f}% (full) of the last 10 s",
                                   o.pressure->some_avg10, o.pressure->full_avg10)
                     : std::string();
      if (high) {
        e.message = "memory pressure: " + stalled;
      } else {
        e.message =
            fmt::format("memory pressure: the kernel's PSI trigger \"{}\" fired", *fired.trigger);
        if (o.pressure) e.message += "; " + stalled;
      }
      events.push_back(std::move(e));
      pressure_armed_ = false;
      pressure_fired_at_ = o.at;
      pressure_by_trigger_ = !high;
    }
  }

  if (history_.empty() || o.at - history_.back().at >= seconds(1)) {
    history_.push(
        {o.at, o.memory.used_bytes, o.memory.limit_bytes, o.memory.available_bytes, level_});
  }

  const double step = std::max(1.0, params_.forecast.window_seconds / 150.0);
  const double t = to_seconds(o.at, origin_);
  if (o.memory.scope != Scope::kUnknown &&
      (working_set_.empty() || t - working_set_.back().t >= step)) {
    working_set_.push({t, static_cast<double>(o.memory.used_bytes)});
  }
  if (o.memory.scope == Scope::kContainer) {
    const auto points = working_set_.to_vector();
    const auto eta =
        forecast_limit(points, static_cast<double>(o.memory.limit_bytes), params_.forecast);
    const bool cooled = !forecast_fired_at_ ||
                        to_seconds(o.at, *forecast_fired_at_) >= params_.forecast.window_seconds;
    if (eta && cooled) {
      OomForecast forecast{.seconds_to_limit = *eta};
      if (const auto fit = fit_line(points))
        forecast.rate_mib_per_hour = fit->slope * 3600.0 / static_cast<double>(kMiB);
      Event e = make_event(forecast, o);
      e.message =
          fmt::format("at the current trend the working set reaches the {} limit in {:.0f} min",
                      format_bytes(o.memory.limit_bytes), *eta / 60.0);
      events.push_back(std::move(e));
      forecast_fired_at_ = o.at;
    }
  }
  for (const auto& e : events) ++summary_.events[to_string(e.kind())];
  return events;
}

void Watcher::restart_target() {
  oom_kills_.reset();
  working_set_ = model::RingBuffer<Point>(kForecastPoints);
  forecast_fired_at_.reset();
  shm_last_.reset();
  shm_armed_ = true;
}

std::vector<Event> Watcher::observe_processes(TimePoint at,
                                              const std::vector<model::ProcessMemory>& processes) {
  std::vector<Event> events;
  if (!started_) return events;
  const double t = to_seconds(at, origin_);
  std::set<int> seen;
  const std::size_t count = std::min(params_.leak_processes, processes.size());
  for (std::size_t i = 0; i < count; ++i) {
    const auto& p = processes[i];
    seen.insert(p.pid);
    auto& series = processes_[p.pid];
    series.name = p.name;
    // One allocation for the series' whole life: no regrowth, no heap fragments left behind.
    if (series.points.capacity() < kMaxSeriesPoints) series.points.reserve(kMaxSeriesPoints);
    if (series.points.size() >= kMaxSeriesPoints) series.points.erase(series.points.begin());
    series.points.push_back({t, static_cast<double>(p.pss_bytes.value_or(p.rss_bytes))});
    const auto verdict = detect_leak(series.points, params_.leak);
    const bool cooled =
        !series.fired_at || to_seconds(at, *series.fired_at) >= params_.leak.window_seconds;
    if (verdict && cooled) {
      Event e(LeakSuspicion{.process = {p.pid, p.name},
                            .rate_mib_per_hour = verdict->slope_mib_per_hour,
                            .r2 = verdict->r2},
              at, level_, last_memory_);
      const double window = params_.leak.window_seconds;
      e.message = fmt::format(
          "{} (pid {}) grows steadily: {:.1f} MiB/hour over {} (fit r2 {:.2f})", p.name, p.pid,
          verdict->slope_mib_per_hour,
          window < 120 ? fmt::format("{:.0f} s", window) : fmt::format("{:.0f} min", window / 60),
          verdict->r2);
      series.fired_at = at;
      events.push_back(std::move(e));
    }
  }
  // Forget processes that exited or left the top list: bounded memory.
  for (auto it = processes_.begin(); it != processes_.end();) {
    it = seen.count(it->first) != 0 ? std::next(it) : processes_.erase(it);
  }
  for (const auto& e : events) ++summary_.events[to_string(e.kind())];
  return events;
}

std::vector<Event> Watcher::observe_shm(TimePoint at, const model::ShmLedger& shm) {
  std::vector<Event> events;
  std::optional<double> rate;
  if (shm_last_ && at > shm_last_->first) {
    const double dt = std::chrono::duration<double>(at - shm_last_->first).count();
    rate = (static_cast<double>(shm.used_bytes) - static_cast<double>(shm_last_->second)) / dt;
  }
  shm_last_ = {at, shm.used_bytes};
  const double percent = shm_used_percent(shm);
  std::optional<double> to_full;
  if (rate && *rate > 0) {
    const auto free = shm.size_bytes - std::min(shm.size_bytes, shm.used_bytes);
    to_full = static_cast<double>(free) / *rate;
  }
  const auto& p = params_.shm;
  const bool high = p.used_percent > 0 && percent >= p.used_percent;
  const bool soon = p.horizon_seconds > 0 && to_full && *to_full < p.horizon_seconds;
  if (!high && !soon) {
    shm_armed_ = true;
    return events;
  }
  if (!shm_armed_) return events;
  shm_armed_ = false;
  Event e(ShmFilling{.used_bytes = shm.used_bytes,
                     .size_bytes = shm.size_bytes,
                     .bytes_per_second = rate,
                     .seconds_to_full = to_full},
          at, level_, last_memory_);
  e.message = fmt::format(
      "/dev/shm is {:.0f}% full ({} of {}){}: DataLoader workers get a bus error or \"unable to "
      "write to file </torch_...>\" when it is full; give the container more (docker run "
      "--shm-size, a Kubernetes emptyDir with medium: Memory), or fewer workers / a smaller "
      "prefetch_factor",
      percent, format_bytes(shm.used_bytes), format_bytes(shm.size_bytes),
      to_full ? fmt::format(", full in {:.0f} s at {}/s", *to_full,
                            format_bytes(static_cast<std::uint64_t>(*rate)))
              : std::string());
  events.push_back(std::move(e));
  for (const auto& ev : events) ++summary_.events[to_string(ev.kind())];
  return events;
}

bool CleanupSchedule::should_start(Level level, Clock::time_point now, bool running) {
  if (running || level < at_) return false;
  if (last_start_ && now - *last_start_ < cooldown_) return false;
  last_start_ = now;
  return true;
}

}  // namespace memopt::analysis
