#pragma once

#include <sys/types.h>

// A handle on one process that cannot be fooled by pid reuse (pidfd_open, Linux 5.3+): a
// signal sent through it reaches that process or nobody.
namespace memopt::sys {

class Pidfd {
 public:
  Pidfd() = default;
  /// Opens a handle on `pid`; valid() is false (and error() the errno) when it cannot be
  /// opened: ESRCH when the process is gone, ENOSYS before Linux 5.3.
  explicit Pidfd(pid_t pid) noexcept;
  Pidfd(Pidfd&& other) noexcept;
  Pidfd& operator=(Pidfd&& other) noexcept;
  Pidfd(const Pidfd&) = delete;
  Pidfd& operator=(const Pidfd&) = delete;
  ~Pidfd();

  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  [[nodiscard]] int error() const noexcept { return error_; }
  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  /// Sends `signal` (pidfd_send_signal). Returns 0 or the errno (ESRCH: it has exited).
  [[nodiscard]] int send(int signal) const noexcept;

  /// Whether the process has exited (its pidfd is readable; a zombie counts as exited: its
  /// memory is already freed).
  [[nodiscard]] bool exited() const noexcept;

 private:
  int fd_ = -1;
  int error_ = 0;
  pid_t pid_ = 0;
};

}  // namespace memopt::sys
