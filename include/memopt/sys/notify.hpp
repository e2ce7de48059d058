#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace memopt::sys {

/// Sleeps until the next tick or until the kernel reports something about a memory cgroup,
/// whichever comes first: v1 eventfds registered through `cgroup.event_control` (OOM, and
/// usage crossing each of the given thresholds), v2 `memory.events` changes (POLLPRI).
class CgroupNotifier {
 public:
  /// Registers what the cgroup at `dir` (version 1 or 2) offers. What cannot be registered
  /// (no permission, no such file) is described in `problems`; the notifier then just sleeps.
  CgroupNotifier(const std::string& dir, int version,
                 const std::vector<std::uint64_t>& usage_thresholds,
                 std::vector<std::string>& problems);
  /// A notifier that only sleeps.
  CgroupNotifier() = default;
  ~CgroupNotifier();
  CgroupNotifier(const CgroupNotifier&) = delete;
  CgroupNotifier& operator=(const CgroupNotifier&) = delete;
  CgroupNotifier(CgroupNotifier&& other) noexcept;
  CgroupNotifier& operator=(CgroupNotifier&& other) noexcept;

  /// Waits up to `timeout`; true when a notification arrived (and was consumed).
  bool wait(std::chrono::milliseconds timeout);

  /// How many kernel notifications are registered.
  [[nodiscard]] std::size_t watched() const { return fds_.size(); }

 private:
  void close_all() noexcept;
  struct Watch {
    int fd = -1;          ///< eventfd (v1) or memory.events (v2)
    int control_fd = -1;  ///< v1: the file the event is about, kept open while registered
    bool priority = false;
  };
  std::vector<Watch> fds_;
};

}  // namespace memopt::sys
