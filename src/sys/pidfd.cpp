#include "memopt/sys/pidfd.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <utility>

namespace memopt::sys {

Pidfd::Pidfd(pid_t pid) noexcept : pid_(pid) {
  const long fd = ::syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) {
    error_ = errno;
  } else {
    fd_ = static_cast<int>(fd);
  }
}

Pidfd::Pidfd(Pidfd&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), error_(other.error_), pid_(other.pid_) {}

Pidfd& Pidfd::operator=(Pidfd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    error_ = other.error_;
    pid_ = other.pid_;
  }
  return *this;
}

Pidfd::~Pidfd() {
  if (fd_ >= 0) ::close(fd_);
}

int Pidfd::send(int signal) const noexcept {
  if (fd_ < 0) return error_ != 0 ? error_ : EBADF;
  if (::syscall(SYS_pidfd_send_signal, fd_, signal, nullptr, 0) != 0) return errno;
  return 0;
}

bool Pidfd::exited() const noexcept {
  if (fd_ < 0) return error_ == ESRCH;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

}  // namespace memopt::sys
