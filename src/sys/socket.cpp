#include "memopt/sys/socket.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <utility>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::sys {

namespace {

constexpr std::string_view kSocketSuffix = ".sock";

bool fill_address(const std::string& path, sockaddr_un& address) {
  address = {};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return true;
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

std::string cleanup_socket_name(pid_t pid) {
  return std::to_string(pid) + std::string(kSocketSuffix);
}

std::optional<pid_t> cleanup_socket_pid(std::string_view name) {
  if (name.size() <= kSocketSuffix.size() || !name.ends_with(kSocketSuffix)) return std::nullopt;
  name.remove_suffix(kSocketSuffix.size());
  pid_t pid = 0;
  const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), pid);
  if (ec != std::errc{} || end != name.data() + name.size() || pid <= 0) return std::nullopt;
  return pid;
}

Socket::Socket(Socket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

Socket Socket::listen(const std::string& path, mode_t mode) {
  sockaddr_un address{};
  if (!fill_address(path, address)) throw Error("socket path too long: " + path);
  Socket socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket.valid()) throw Error("cannot create a Unix socket: " + error_text(errno));
  ::unlink(path.c_str());
  // The umask makes the file private from the moment it exists; chmod then sets it exactly.
  const mode_t old_mask = ::umask(static_cast<mode_t>(~mode & 0777));
  const int rc = ::bind(socket.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
  const int bind_errno = errno;
  ::umask(old_mask);
  if (rc != 0) throw Error("cannot bind " + path + ": " + error_text(bind_errno));
  if (::chmod(path.c_str(), mode) != 0)
    throw Error("cannot chmod " + path + ": " + error_text(errno));
  if (::listen(socket.fd(), 16) != 0)
    throw Error("cannot listen on " + path + ": " + error_text(errno));
  return socket;
}

std::optional<Socket> Socket::connect(const std::string& path, int& err,
                                      std::chrono::steady_clock::time_point deadline) {
  sockaddr_un address{};
  if (!fill_address(path, address)) {
    err = ENAMETOOLONG;
    return std::nullopt;
  }
  // Non-blocking: a Unix connect() to a server whose backlog is full blocks until it accepts,
  // which a server that never accepts never does. Here it fails with EAGAIN; retry until the
  // deadline.
  Socket socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket.valid()) {
    err = errno;
    return std::nullopt;
  }
  for (;;) {
    if (::connect(socket.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0)
      break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      err = errno;
      return std::nullopt;
    }
    const int left = remaining_ms(deadline);
    if (left <= 0) {
      err = ETIMEDOUT;
      return std::nullopt;
    }
    ::poll(nullptr, 0, std::min(left, 20));
  }
  err = 0;
  return socket;
}

std::optional<Socket> Socket::accept(std::chrono::milliseconds timeout, int wake_fd) const {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  const int count = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(timeout.count()));
  if (count <= 0) return std::nullopt;
  if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) return std::nullopt;
  const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return std::nullopt;
  return Socket(fd);
}

std::optional<PeerCredentials> Socket::peer() const noexcept {
  ucred cred{};
  socklen_t length = sizeof(cred);
  if (::getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return std::nullopt;
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

int Socket::send_all(std::string_view data) const noexcept {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {  // a non-blocking socket whose peer does not read: wait a little
        pollfd fds{fd_, POLLOUT, 0};
        if (::poll(&fds, 1, 1000) > 0) continue;
      }
      return errno;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

std::optional<std::string> Socket::receive_line(std::chrono::milliseconds timeout,
                                                std::size_t max_bytes) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  char buffer[512];
  while (line.size() < max_bytes) {
    pollfd fds{fd_, POLLIN, 0};
    const int ready = ::poll(&fds, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return std::nullopt;
    line.append(buffer, static_cast<std::size_t>(n));
    if (const auto end = line.find('\n'); end != std::string::npos) {
      line.resize(end);
      return line;
    }
  }
  return std::nullopt;
}

WakeEvent::WakeEvent() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (fd_ < 0) throw Error("cannot create an eventfd: " + error_text(errno));
}

WakeEvent::~WakeEvent() {
  if (fd_ >= 0) ::close(fd_);
}

void WakeEvent::signal() const noexcept {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(fd_, &one, sizeof(one));
}

}  // namespace memopt::sys
