#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

#include "memopt/engine.hpp"

// When the engine reads: a quick observation at each step, pressure averages at most once a
// second (at once when a PSI trigger fired), a full sample each interval, a closer look for a
// moment after a kernel notification, and the cooperating processes' forecasts. It only
// decides; the engine reads. Time comes from the injected EngineClock.
namespace memopt::engine {

using SteadyTime = std::chrono::steady_clock::time_point;

/// PSI averages change every 2 s: reading them more often than this gains nothing.
inline constexpr std::chrono::milliseconds kPressureEvery{1000};
/// A kernel notification can come a moment before the reading after it shows the level crossed
/// (measured on v1: 80% crossings otherwise seen at the next 250 ms tick, bench/monitor_bench.sh):
/// after a notification, look again this often...
inline constexpr std::chrono::milliseconds kSettleEvery{10};
/// ...for this long.
inline constexpr std::chrono::milliseconds kSettle{100};
/// While calm, the engine still reads at least this often: the host's available memory bounds
/// the container's, no cgroup threshold watches it, and it can fall without stalling anyone
/// (kswapd keeping up) — the host guard's PSI trigger would not wake the engine then.
inline constexpr std::chrono::milliseconds kCalmAtMost{10'000};
/// loop_forecast: cooperating processes are asked for their `stats` (which carry the forecasts
/// their loops said) this often at most.
inline constexpr std::chrono::milliseconds kForecastsEvery{2000};

/// The EngineClock with the real clocks where a test gave none.
[[nodiscard]] EngineClock real_clock(EngineClock clock);

class Scheduler {
 public:
  explicit Scheduler(EngineClock clock) : clock_(std::move(clock)) {}

  [[nodiscard]] SteadyTime now() const { return clock_.steady(); }

  /// The first step took its full sample at `now`: the next is an interval later; pressure
  /// is read at the next step.
  void start(SteadyTime now, std::chrono::milliseconds interval) {
    next_full_ = now + interval;
    next_pressure_ = now;
  }

  /// Whether the step at `now` reads pressure (due, or a trigger fired since the last reading);
  /// when it does, the next reading is due a second later.
  bool take_pressure(SteadyTime now, bool trigger_fired) {
    if (now < next_pressure_ && !trigger_fired) return false;
    next_pressure_ = now + kPressureEvery;
    return true;
  }

  /// Whether the step at `now` takes a full sample...
  [[nodiscard]] bool full_due(SteadyTime now) const { return now >= next_full_; }
  /// ...and, once taken, the next is an interval after `now` (a target found while it was
  /// taken waits for that one too).
  void full_taken(SteadyTime now, std::chrono::milliseconds interval) {
    next_full_ = now + interval;
  }

  /// A target found (again): its full figures at the next chance.
  void full_at_once() { next_full_ = clock_.steady(); }

  /// How long to wait for a kernel notification: shortly while the readings settle after
  /// one; else the watch interval, or while `calm` (the kernel wakes the engine at anything
  /// of the cgroup's that would change what it says) until the next full sample, kCalmAtMost
  /// at most; never past `deadline`.
  [[nodiscard]] std::chrono::milliseconds wait_timeout(
      std::chrono::milliseconds watch, bool calm = false,
      std::optional<SteadyTime> deadline = std::nullopt) const {
    const SteadyTime now = clock_.steady();
    const auto until = [now](SteadyTime t) {
      return std::max(std::chrono::milliseconds(0),
                      std::chrono::ceil<std::chrono::milliseconds>(t - now));
    };
    auto timeout = watch;
    if (now < settle_until_) {
      timeout = std::min(watch, kSettleEvery);
    } else if (calm) {
      timeout = std::min(until(next_full_), kCalmAtMost);
    }
    return deadline ? std::min(timeout, until(*deadline)) : timeout;
  }

  /// A cgroup notification woke the engine: look closely for a moment.
  void notified() { settle_until_ = clock_.steady() + kSettle; }

  /// Whether to ask for loop forecasts at `now` (the full interval when it is shorter than
  /// kForecastsEvery); when it does, the next ask waits.
  bool take_forecasts(SteadyTime now, std::chrono::milliseconds interval) {
    if (now < next_forecasts_) return false;
    next_forecasts_ = now + std::min<std::chrono::milliseconds>(kForecastsEvery, interval);
    return true;
  }

 private:
  EngineClock clock_;
  SteadyTime next_full_{};
  SteadyTime next_pressure_{};
  SteadyTime settle_until_{};
  SteadyTime next_forecasts_{};
};

}  // namespace memopt::engine
