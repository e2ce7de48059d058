#include "memopt/sys/notify.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace memopt::sys {

namespace {

/// Registers a v1 cgroup event; returns the eventfd watch or an error text.
bool register_v1(const std::string& dir, const std::string& file, const std::string& args,
                 int& event_fd, int& control_fd, std::string& problem) {
  event_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  control_fd = ::open((dir + "/" + file).c_str(), O_RDONLY | O_CLOEXEC);
  const int event_control = ::open((dir + "/cgroup.event_control").c_str(), O_WRONLY | O_CLOEXEC);
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

}  // namespace

CgroupNotifier::CgroupNotifier(const std::string& dir, int version,
                               const std::vector<std::uint64_t>& usage_thresholds,
                               std::vector<std::string>& problems) {
  if (version == 1) {
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
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
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

CgroupNotifier::CgroupNotifier(CgroupNotifier&& other) noexcept : fds_(std::move(other.fds_)) {
  other.fds_.clear();
}

CgroupNotifier& CgroupNotifier::operator=(CgroupNotifier&& other) noexcept {
  if (this != &other) {
    close_all();
    fds_ = std::move(other.fds_);
    other.fds_.clear();
  }
  return *this;
}

void CgroupNotifier::close_all() noexcept {
  for (const auto& w : fds_) {
    ::close(w.fd);
    if (w.control_fd >= 0) ::close(w.control_fd);
  }
  fds_.clear();
}

bool CgroupNotifier::wait(std::chrono::milliseconds timeout) {
  std::vector<pollfd> polls;
  polls.reserve(fds_.size());
  for (const auto& w : fds_)
    polls.push_back({w.fd, static_cast<short>(w.priority ? POLLPRI : POLLIN), 0});
  const int ms = static_cast<int>(std::max<std::int64_t>(0, timeout.count()));
  int n = 0;
  do {
    n = ::poll(polls.data(), polls.size(), ms);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  for (std::size_t i = 0; i < polls.size(); ++i) {
    if (polls[i].revents == 0) continue;
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
  return true;
}

}  // namespace memopt::sys
