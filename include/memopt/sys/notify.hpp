#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace memopt::sys {

/// One PSI trigger (Documentation/accounting/psi.rst, Linux 5.2+): the kernel raises POLLPRI on
/// the file descriptor when tasks stalled on memory for at least `threshold` within a `window`.
/// Registered on `<procfs>/pressure/memory` or a v2 cgroup's `memory.pressure`; one trigger per
/// descriptor, removed when the descriptor closes.
class PsiTrigger {
 public:
  /// Opens `path` and writes the trigger `"<kind> <threshold_us> <window_us>"` (kind "some" or
  /// "full"). Without CAP_SYS_RESOURCE, Linux 6.5+ accepts only windows that are multiples of
  /// 2 s: a 1 s window refused with EINVAL is retried as 2 s with the threshold doubled, so the
  /// stalled share stays the same. When nothing can be registered (no PSI, EACCES, EINVAL, ...)
  /// the trigger is inactive and `problem` names the path and the reason. Any file takes the
  /// write: check on_pressure_filesystem() first.
  PsiTrigger(const std::string& path, std::string_view kind, double stall_percent,
             std::chrono::microseconds window, std::string& problem);
  /// An inactive trigger.
  PsiTrigger() = default;
  ~PsiTrigger();
  PsiTrigger(const PsiTrigger&) = delete;
  PsiTrigger& operator=(const PsiTrigger&) = delete;
  PsiTrigger(PsiTrigger&& other) noexcept;
  PsiTrigger& operator=(PsiTrigger&& other) noexcept;

  [[nodiscard]] bool active() const { return fd_ >= 0; }
  [[nodiscard]] int fd() const { return fd_; }
  /// The registered line, e.g. "some 100000 1000000" (microseconds); empty when inactive.
  [[nodiscard]] const std::string& spec() const { return spec_; }
  /// The file it is registered on.
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string spec_;
  std::string path_;
};

/// Whether `path` lies on procfs or cgroup2, where a write registers a PSI trigger. Elsewhere
/// (a captured tree under --procfs/--sysfs) PsiTrigger would write the line into a file.
[[nodiscard]] bool on_pressure_filesystem(const std::string& path);

/// The trigger line for a stall of `stall_percent` (0-100] of `window`: "some 150000 1000000"
/// for ("some", 15, 1 s). The threshold is at least 1 us and at most the window.
[[nodiscard]] std::string psi_trigger_spec(std::string_view kind, double stall_percent,
                                           std::chrono::microseconds window);

/// What ended a CgroupNotifier::wait.
struct Wakeup {
  bool cgroup = false;                ///< a cgroup notification (v1 eventfd, v2 memory.events)
  std::vector<std::string> pressure;  ///< specs of the PSI triggers that fired
  std::vector<std::string> lost;      ///< triggers the kernel dropped (POLLERR: cgroup removed)
  /// One of the descriptors given to wait() became readable, or the guard fired: nothing to
  /// report, only a reason to look again.
  bool woken = false;
  explicit operator bool() const { return cgroup || !pressure.empty(); }
};

/// Sleeps until the next tick or until the kernel reports something about a memory cgroup,
/// whichever comes first: v1 eventfds registered through `cgroup.event_control` (OOM, and
/// usage crossing each of the given thresholds), v2 `memory.events` changes (POLLPRI), and
/// PSI triggers added with watch_pressure() (POLLPRI).
class CgroupNotifier {
 public:
  /// Registers what the cgroup at `dir` (version 1 or 2) offers. What cannot be registered
  /// (no permission, no such file) is described in `problems`; the notifier then just sleeps.
  CgroupNotifier(const std::string& dir, int version,
                 const std::vector<std::uint64_t>& usage_thresholds,
                 std::vector<std::string>& problems);
  /// A notifier that only sleeps (until PSI triggers are added).
  CgroupNotifier() = default;
  ~CgroupNotifier();
  CgroupNotifier(const CgroupNotifier&) = delete;
  CgroupNotifier& operator=(const CgroupNotifier&) = delete;
  CgroupNotifier(CgroupNotifier&& other) noexcept;
  CgroupNotifier& operator=(CgroupNotifier&& other) noexcept;

  /// Also wakes when `trigger` fires; an inactive trigger is ignored.
  void watch_pressure(PsiTrigger trigger);

  /// A trigger that only ends a wait (Wakeup::woken), never reported as fired: the host's
  /// stalls while the caller sleeps long on a cgroup whose own figures it trusts to the
  /// thresholds, since the host running short shows first as stalls. Replaces the last one;
  /// an inactive trigger removes it.
  void set_guard(PsiTrigger trigger);
  /// Whether a guard is registered (and not dropped by the kernel).
  [[nodiscard]] bool guarded() const { return guard_.active(); }

  /// v1: also ends a wait (Wakeup::woken) once the cgroup's usage rises past `bytes`: a mark
  /// of growth for a caller that sleeps below every threshold. Replaces the last mark; none
  /// removes it. False where none can be registered (v2, no permission, a notifier that only
  /// sleeps): the caller must not count on it.
  bool set_usage_mark(std::optional<std::uint64_t> bytes);

  /// Waits up to `timeout`, or until one of `also` is readable (not read: its owner reads
  /// it); says what arrived (and was consumed). False: nothing to report.
  Wakeup wait(std::chrono::milliseconds timeout, std::span<const int> also = {});

  /// How many cgroup notifications are registered (PSI triggers not included).
  [[nodiscard]] std::size_t watched() const { return fds_.size(); }
  /// How many PSI triggers are active.
  [[nodiscard]] std::size_t pressure_triggers() const { return triggers_.size(); }

 private:
  void close_all() noexcept;
  struct Watch {
    int fd = -1;          ///< eventfd (v1) or memory.events (v2)
    int control_fd = -1;  ///< v1: the file the event is about, kept open while registered
    bool priority = false;
  };
  void close_mark() noexcept;
  std::vector<Watch> fds_;
  std::vector<PsiTrigger> triggers_;
  PsiTrigger guard_;
  std::string v1_dir_;  ///< the v1 cgroup whose usage a mark watches; empty otherwise
  Watch mark_;
};

}  // namespace memopt::sys
