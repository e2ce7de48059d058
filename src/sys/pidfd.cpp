#include "memopt/sys/pidfd.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <utility>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

std::optional<FileId> file_id(const std::string& path) noexcept {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}

std::optional<FileId> self_executable() noexcept { return file_id("/proc/self/exe"); }

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

int Pidfd::read_live(LiveProcess& out) const {
  if (fd_ < 0) return error_ != 0 ? error_ : EBADF;
  // The live kernel's own procfs, whatever --procfs says: a pidfd reaches only its processes.
  const std::string dir = "/proc/" + std::to_string(pid_);
  int err = read_into(dir + "/stat", out.stat);
  if (err == 0) err = read_into(dir + "/cgroup", out.cgroup);
  if (err != 0) return err == ENOENT ? ESRCH : err;
  out.exe = file_id(dir + "/exe");
  // Still there after the reads: the files were this process's (its pid cannot have been
  // given to another before it is reaped). Signal 0 checks existence and sends nothing.
  if (exited()) return ESRCH;
  return send(0);
}

bool is_live_procfs(const std::string& procfs) {
  std::array<char, 32> target{};
  const auto path = procfs + "/self";
  const auto length = ::readlink(path.c_str(), target.data(), target.size());
  if (length <= 0 || static_cast<std::size_t>(length) >= target.size()) return false;
  return std::string(target.data(), static_cast<std::size_t>(length)) == std::to_string(::getpid());
}

}  // namespace memopt::sys
