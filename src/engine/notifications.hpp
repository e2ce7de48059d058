#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/engine.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/notify.hpp"

// The kernel's wakeups: v1 usage thresholds at each level boundary and v2 memory.events wake
// the engine as usage crosses them; PSI triggers wake it as the kernel sees stalls. Between
// them the engine sleeps.
namespace memopt::engine {

/// PSI triggers watch stalls within this window (the kernel's shortest is 500 ms).
inline constexpr std::chrono::microseconds kPressureWindow{1'000'000};
/// While the engine sleeps until its next full sample, the host's stalls above this share of
/// kPressureWindow wake it to read the host's available memory, which no cgroup threshold
/// watches (a container's available memory is the lesser of its headroom and the host's).
inline constexpr double kHostGuardStallPercent = 5;

class KernelNotifications {
 public:
  /// `options` is the engine's own (a reload changes its thresholds); notices go to `sink`.
  KernelNotifications(const EngineOptions& options, EngineSink& sink)
      : options_(options), sink_(sink) {}

  /// Whether a full sample armed the notifications for the target as it is now (false: never,
  /// or the target was found again since).
  [[nodiscard]] bool armed() const { return armed_; }
  void set_armed() { armed_ = true; }
  /// The target was found again: arm at its next full sample.
  void rearm_later() { armed_ = false; }
  /// The target is gone: its eventfds watched a cgroup that is no more; nothing to arm.
  void forget() {
    notifier_ = sys::CgroupNotifier();
    growth_mark_.reset();
    quiet_below_.reset();
    pressure_signalled_ = false;
    armed_ = true;
  }

  /// Registers the thresholds on `location` (whose limit is `limit_bytes`) and the PSI
  /// triggers on the pressure file the engine reads. `unreadable`: the target could not be
  /// read (no host averages stand in).
  void arm(const std::optional<readers::CgroupLocation>& location,
           std::optional<std::uint64_t> limit_bytes, bool unreadable);

  /// Sleeps until a notification, one of `also` readable, or `timeout`; true when a cgroup
  /// notification came. Fired PSI triggers are kept for the next reading
  /// (take_fired_triggers()).
  bool wait(std::chrono::milliseconds timeout, std::span<const int> also = {});

  /// The lowest usage at which the kernel wakes the engine, where every level's boundary is a
  /// registered v1 usage threshold: while the usage is below it, so is the working set (usage
  /// less inactive file), and no boundary is crossed without a wakeup. Absent where usage is
  /// not watched so (v2 has no usage thresholds; a registration failed).
  [[nodiscard]] std::optional<std::uint64_t> quiet_below() const { return quiet_below_; }
  /// Whether the stalls the engine watches wake it by themselves (PSI triggers on them, or
  /// none of the target's own to read): false while their averages are read every second.
  [[nodiscard]] bool pressure_signalled() const { return pressure_signalled_; }
  /// Whether the host's stalls wake the engine (EngineOptions::quiet_when_calm).
  [[nodiscard]] bool host_guarded() const { return notifier_.guarded(); }
  /// Whether, at a cgroup usage of `usage_bytes`, the kernel wakes the engine at anything that
  /// changes the level: below quiet_below(), stalls signalled, the host guarded.
  [[nodiscard]] bool wake_at_any_change(std::optional<std::uint64_t> usage_bytes) const {
    return quiet_below_ && usage_bytes && *usage_bytes < *quiet_below_ && pressure_signalled_ &&
           host_guarded();
  }

  /// v1: also wakes the engine once the usage rises past `bytes` (none: no mark), so that a
  /// calm engine sees growth that crosses no level (worker groups forming); re-registered only
  /// when it moves.
  void set_growth_mark(std::optional<std::uint64_t> bytes) {
    if (bytes == growth_mark_) return;
    growth_mark_ = notifier_.set_usage_mark(bytes) ? bytes : std::nullopt;
  }
  [[nodiscard]] bool trigger_fired() const { return !fired_triggers_.empty(); }
  /// The PSI triggers signalled since the last reading (each once).
  [[nodiscard]] std::vector<std::string> take_fired_triggers();

  /// How pressure is watched, said once in the next full sample's advice after a change...
  [[nodiscard]] std::optional<analysis::Advice> take_pressure_note();
  /// ...and kept for the reports refreshed between samples.
  [[nodiscard]] const std::optional<analysis::Advice>& pressure_advice() const {
    return pressure_advice_;
  }

 private:
  void arm_cgroup_notifications(const readers::CgroupLocation& location, std::uint64_t limit_bytes);
  void arm_pressure_triggers(const std::optional<readers::CgroupLocation>& location,
                             std::optional<std::uint64_t> limit_bytes, bool unreadable);
  void arm_host_guard();

  const EngineOptions& options_;
  EngineSink& sink_;
  sys::CgroupNotifier notifier_;
  bool armed_ = false;
  std::optional<std::uint64_t> quiet_below_;
  bool pressure_signalled_ = false;
  std::optional<std::uint64_t> growth_mark_;  ///< registered on notifier_
  std::vector<std::string> fired_triggers_;
  std::optional<analysis::Advice> pressure_note_;    ///< how pressure is watched, for a sample
  std::optional<analysis::Advice> pressure_advice_;  ///< the same, kept for refreshed reports
  std::string last_pressure_note_;
};

}  // namespace memopt::engine
