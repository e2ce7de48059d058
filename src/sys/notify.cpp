#include "memopt/sys/notify.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

namespace memopt::sys {

namespace {

/// Registers a v1 cgroup event; returns the eventfd watch or an error text.
bool register_v1(const std::string& dir, const std::string& file, const std::string& args,
                 int& event_fd, int& control_fd, std::string& problem) {
  event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  // O_NONBLOCK: a FIFO put in a --sysfs tree must not block the monitor in open(2).
  control_fd = ::open((dir + "/" + file).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  const int event_control =
      ::open((dir + "/cgroup.event_control").c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK);
  bool ok = event_fd >= 0 && control_fd >= 0 && event_control >= 0;
  if (ok) {
    const std::string line = std::to_string(event_fd) + " " + std::to_string(control_fd) +
                             (args.empty() ? "" : " " + args);
    ok = ::write(event_control, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  }
  if (!ok) problem = dir + "/cgroup.event_control (" + file + "): " + std::strerror(errno);
  if (event_control >= 0) ::close(event_control);
  if (!ok) {
    if (event_fd >= 0) ::close(event_fd);
    if (control_fd >= 0) ::close(control_fd);
    event_fd = control_fd = -1;
  }
  return ok;
}

/// Without CAP_SYS_RESOURCE, Linux 6.5+ takes only PSI windows that are multiples of this.
constexpr std::chrono::microseconds kUnprivilegedWindow{2'000'000};

}  // namespace

bool on_pressure_filesystem(const std::string& path) {
  struct statfs fs {};
  if (::statfs(path.c_str(), &fs) != 0) return false;
  return fs.f_type == PROC_SUPER_MAGIC || fs.f_type == CGROUP2_SUPER_MAGIC;
}

std::string psi_trigger_spec(std::string_view kind, double stall_percent,
                             std::chrono::microseconds window) {
  const auto window_us = window.count();
  const auto threshold = std::clamp<std::int64_t>(
      std::llround(static_cast<double>(window_us) * stall_percent / 100.0), 1, window_us);
  return std::string(kind) + " " + std::to_string(threshold) + " " + std::to_string(window_us);
}

PsiTrigger::PsiTrigger(const std::string& path, std::string_view kind, double stall_percent,
                       std::chrono::microseconds window, std::string& problem) {
  const auto attempt = [&](std::chrono::microseconds w) {
    const int fd = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return errno;
    const std::string spec = psi_trigger_spec(kind, stall_percent, w);
    // The kernel ends the line at the last byte written: the terminating NUL goes too.
    if (::write(fd, spec.c_str(), spec.size() + 1) != static_cast<ssize_t>(spec.size() + 1)) {
      const int err = errno != 0 ? errno : EIO;
      ::close(fd);
      return err;
    }
    fd_ = fd;
    spec_ = spec;
    return 0;
  };
  errno = 0;
  int err = attempt(window);
  if (err == EINVAL && window.count() % kUnprivilegedWindow.count() != 0) {
    const auto rounded = (window.count() / kUnprivilegedWindow.count() + 1) * kUnprivilegedWindow;
    err = attempt(rounded);
  }
  if (err != 0) {
    problem = path + ": cannot register the PSI trigger \"" +
              psi_trigger_spec(kind, stall_percent, window) + "\": " + std::strerror(err);
    return;
  }
  path_ = path;
}

PsiTrigger::~PsiTrigger() {
  if (fd_ >= 0) ::close(fd_);
}

PsiTrigger::PsiTrigger(PsiTrigger&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      spec_(std::move(other.spec_)),
      path_(std::move(other.path_)) {}

PsiTrigger& PsiTrigger::operator=(PsiTrigger&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    spec_ = std::move(other.spec_);
    path_ = std::move(other.path_);
  }
  return *this;
}

CgroupNotifier::CgroupNotifier(const std::string& dir, int version,
                               const std::vector<std::uint64_t>& usage_thresholds,
                               std::vector<std::string>& problems) {
  if (version == 1) {
    v1_dir_ = dir;
    std::string problem;
    Watch w;
    if (register_v1(dir, "memory.oom_control", "", w.fd, w.control_fd, problem)) {
      fds_.push_back(w);
    } else {
      problems.push_back(problem);
    }
    for (const auto threshold : usage_thresholds) {
      if (register_v1(dir, "memory.usage_in_bytes", std::to_string(threshold), w.fd, w.control_fd,
                      problem)) {
        fds_.push_back(w);
      } else {
        problems.push_back(problem);
        break;  // the same reason would repeat for each threshold
      }
    }
  } else {
    // cgroup v2 files signal modification with POLLPRI (after a first read arms them).
    const std::string path = dir + "/memory.events";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // never a FIFO's wait
    if (fd >= 0) {
      char buffer[512];
      (void)!::read(fd, buffer, sizeof buffer);
      fds_.push_back({fd, -1, true});
    } else {
      problems.push_back(path + ": " + std::strerror(errno));
    }
  }
}

CgroupNotifier::~CgroupNotifier() { close_all(); }

CgroupNotifier::CgroupNotifier(CgroupNotifier&& other) noexcept
    : fds_(std::move(other.fds_)),
      triggers_(std::move(other.triggers_)),
      guard_(std::move(other.guard_)),
      v1_dir_(std::move(other.v1_dir_)),
      mark_(std::exchange(other.mark_, Watch{})) {
  other.fds_.clear();
  other.triggers_.clear();
}

CgroupNotifier& CgroupNotifier::operator=(CgroupNotifier&& other) noexcept {
  if (this != &other) {
    close_all();
    fds_ = std::move(other.fds_);
    triggers_ = std::move(other.triggers_);
    guard_ = std::move(other.guard_);
    v1_dir_ = std::move(other.v1_dir_);
    mark_ = std::exchange(other.mark_, Watch{});
    other.fds_.clear();
    other.triggers_.clear();
  }
  return *this;
}

void CgroupNotifier::close_all() noexcept {
  for (const auto& w : fds_) {
    ::close(w.fd);
    if (w.control_fd >= 0) ::close(w.control_fd);
  }
  fds_.clear();
  triggers_.clear();
  guard_ = PsiTrigger();
  close_mark();
}

void CgroupNotifier::close_mark() noexcept {
  if (mark_.fd >= 0) ::close(mark_.fd);
  if (mark_.control_fd >= 0) ::close(mark_.control_fd);
  mark_ = Watch{};
}

bool CgroupNotifier::set_usage_mark(std::optional<std::uint64_t> bytes) {
  // Closing the eventfd unregisters the old mark (the kernel drops an event whose eventfd is
  // released).
  close_mark();
  if (!bytes || v1_dir_.empty()) return false;
  std::string problem;
  return register_v1(v1_dir_, "memory.usage_in_bytes", std::to_string(*bytes), mark_.fd,
                     mark_.control_fd, problem);
}

void CgroupNotifier::watch_pressure(PsiTrigger trigger) {
  if (trigger.active()) triggers_.push_back(std::move(trigger));
}

void CgroupNotifier::set_guard(PsiTrigger trigger) { guard_ = std::move(trigger); }

Wakeup CgroupNotifier::wait(std::chrono::milliseconds timeout, std::span<const int> also) {
  std::vector<pollfd> polls;
  polls.reserve(fds_.size() + triggers_.size() + also.size() + 1);
  for (const auto& w : fds_)
    polls.push_back({w.fd, static_cast<short>(w.priority ? POLLPRI : POLLIN), 0});
  for (const auto& t : triggers_) polls.push_back({t.fd(), POLLPRI, 0});
  // poll(2) skips negative descriptors: an inactive guard or a missing signalfd costs nothing.
  polls.push_back({guard_.fd(), POLLPRI, 0});
  polls.push_back({mark_.fd, POLLIN, 0});
  for (const int fd : also) polls.push_back({fd, POLLIN, 0});
  const int ms = static_cast<int>(std::max<std::int64_t>(0, timeout.count()));
  int n = 0;
  do {
    n = ::poll(polls.data(), polls.size(), ms);
  } while (n < 0 && errno == EINTR);
  Wakeup wakeup;
  if (n <= 0) return wakeup;
  const std::size_t guard_at = fds_.size() + triggers_.size();
  for (std::size_t i = 0; i < fds_.size(); ++i) {
    if (polls[i].revents == 0) continue;
    wakeup.cgroup = true;
    if (fds_[i].priority) {
      // Re-read from the start to re-arm the notification.
      char buffer[512];
      ::lseek(fds_[i].fd, 0, SEEK_SET);
      (void)!::read(fds_[i].fd, buffer, sizeof buffer);
    } else {
      std::uint64_t count = 0;
      (void)!::read(fds_[i].fd, &count, sizeof count);
    }
  }
  // A PSI trigger is consumed by poll itself. POLLERR means the kernel dropped it (its cgroup
  // was removed): it would report POLLERR at once forever, so it is closed.
  for (std::size_t i = triggers_.size(); i-- > 0;) {
    const short revents = polls[fds_.size() + i].revents;
    if ((revents & (POLLERR | POLLNVAL)) != 0) {
      wakeup.lost.push_back(triggers_[i].path() + " (" + triggers_[i].spec() + ")");
      triggers_.erase(triggers_.begin() + static_cast<std::ptrdiff_t>(i));
    } else if ((revents & POLLPRI) != 0) {
      wakeup.pressure.push_back(triggers_[i].spec());
    }
  }
  const short guard_revents = polls[guard_at].revents;
  if ((guard_revents & (POLLERR | POLLNVAL)) != 0) {
    guard_ = PsiTrigger();  // guarded() says it is gone: the caller no longer sleeps long
    wakeup.woken = true;
  } else if ((guard_revents & POLLPRI) != 0) {
    wakeup.woken = true;
  }
  if (polls[guard_at + 1].revents != 0) {
    std::uint64_t count = 0;
    (void)!::read(mark_.fd, &count, sizeof count);
    wakeup.woken = true;
  }
  for (std::size_t i = guard_at + 2; i < polls.size(); ++i) {
    if (polls[i].revents != 0) wakeup.woken = true;
  }
  return wakeup;
}

}  // namespace memopt::sys
