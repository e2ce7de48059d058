#include "engine/notifications.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>

#include "engine/scheduler.hpp"

namespace memopt::engine {

void KernelNotifications::arm(const std::optional<readers::CgroupLocation>& location,
                              std::optional<std::uint64_t> limit_bytes, bool unreadable) {
  notifier_ = sys::CgroupNotifier();
  growth_mark_.reset();
  quiet_below_.reset();
  pressure_signalled_ = false;
  if (!options_.kernel_notifications) return;
  if (location && limit_bytes) arm_cgroup_notifications(*location, *limit_bytes);
  arm_pressure_triggers(location, limit_bytes, unreadable);
  if (quiet_below_ && options_.quiet_when_calm) arm_host_guard();
}

void KernelNotifications::arm_cgroup_notifications(const readers::CgroupLocation& location,
                                                   std::uint64_t limit_bytes) {
  const auto& t = options_.config.watch.thresholds;
  const double limit = static_cast<double>(limit_bytes);
  std::vector<std::uint64_t> thresholds;
  for (const double percent : {t.acceptable_percent, t.warning_percent, t.severe_percent}) {
    thresholds.push_back(static_cast<std::uint64_t>(limit * percent / 100.0));
  }
  if (limit_bytes > t.danger_available_bytes)
    thresholds.push_back(limit_bytes - t.danger_available_bytes);
  std::vector<std::string> problems;
  notifier_ = sys::CgroupNotifier(location.dir, location.version, thresholds, problems);
  if (location.version == 1 && problems.empty()) {
    quiet_below_ = *std::min_element(thresholds.begin(), thresholds.end());
  }
  for (const auto& p : problems) {
    sink_.on_notice(fmt::format("no kernel notification ({}); polling every {} ms", p,
                                options_.config.watch_interval.count()));
  }
}

/// The cgroup's memory.pressure, or the host's when the engine watches the host. Says once (a
/// note in the next sample; a notice when it falls back) how pressure is watched.
void KernelNotifications::arm_pressure_triggers(
    const std::optional<readers::CgroupLocation>& location,
    std::optional<std::uint64_t> limit_bytes, bool unreadable) {
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
    path = options_.roots.procfs + "/pressure/memory";
  }
  if (!path.empty() && !sys::on_pressure_filesystem(path)) {
    problems.push_back(path + " is not on procfs or cgroup2 (a captured tree?)");
    path.clear();
  }
  std::vector<std::string> specs;
  if (!path.empty()) {
    const auto& w = options_.config.watch;
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
  // No stalls of the target's own to read (v1), or every one watched is a trigger.
  pressure_signalled_ = host_averages || (!specs.empty() && problems.empty());
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
    if (note.message != last_pressure_note_) sink_.on_notice(note.message);
  }
  if (note.message != last_pressure_note_) {
    last_pressure_note_ = note.message;
    pressure_note_ = std::move(note);
  }
}

void KernelNotifications::arm_host_guard() {
  const std::string path = options_.roots.procfs + "/pressure/memory";
  if (!sys::on_pressure_filesystem(path)) return;
  std::string problem;  // none registered: the engine reads every watch interval, as before
  notifier_.set_guard(
      sys::PsiTrigger(path, "some", kHostGuardStallPercent, kPressureWindow, problem));
}

bool KernelNotifications::wait(std::chrono::milliseconds timeout, std::span<const int> also) {
  auto wakeup = notifier_.wait(timeout, also);
  if (!wakeup.lost.empty()) pressure_signalled_ = false;  // their averages are read from now on
  for (const auto& lost : wakeup.lost) {
    sink_.on_notice(
        fmt::format("the kernel dropped the PSI trigger on {}; reading pressure "
                    "averages every {} ms",
                    lost, kPressureEvery.count()));
  }
  fired_triggers_.insert(fired_triggers_.end(), wakeup.pressure.begin(), wakeup.pressure.end());
  return wakeup.cgroup;
}

std::vector<std::string> KernelNotifications::take_fired_triggers() {
  auto fired = std::move(fired_triggers_);
  fired_triggers_.clear();
  return fired;
}

std::optional<analysis::Advice> KernelNotifications::take_pressure_note() {
  if (!pressure_note_) return std::nullopt;
  pressure_advice_ = std::move(*pressure_note_);
  pressure_note_.reset();
  return pressure_advice_;
}

}  // namespace memopt::engine
