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
#include <vector>

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
  LineCollector collector(max_bytes);
  char buffer[4096];
  for (;;) {
    pollfd fds{fd_, POLLIN, 0};
    const int ready = ::poll(&fds, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return std::nullopt;
    switch (collector.add({buffer, static_cast<std::size_t>(n)})) {
      case LineCollector::State::kComplete:
        return collector.take();
      case LineCollector::State::kTooLong:
        return std::nullopt;
      case LineCollector::State::kCollecting:
        break;
    }
    // A peer that keeps sending must not keep us past the deadline: poll(0) would always
    // find more.
    if (remaining_ms(deadline) <= 0) return std::nullopt;
  }
}

LineCollector::State LineCollector::add(std::string_view piece) {
  received_ += piece.size();
  if (state_ != State::kCollecting) return state_;
  // Only the new piece is searched: each byte once.
  const auto end = piece.find('\n');
  const auto kept = end == std::string_view::npos ? piece.size() : end;
  if (line_.size() + kept > max_bytes_) {
    state_ = State::kTooLong;
    std::string().swap(line_);
    return state_;
  }
  line_.append(piece.substr(0, kept));
  if (end != std::string_view::npos) state_ = State::kComplete;
  return state_;
}

namespace {

// The most sockets open at once: far below the usual 1024 descriptors, whatever number of
// cooperating processes a runtime directory lists.
constexpr std::size_t kMaxOpenExchanges = 256;
// A Unix connect() refused for a full backlog is retried this often (it cannot be polled).
constexpr int kConnectRetryMs = 20;

struct Pending {
  enum class Stage { kWaiting, kConnecting, kSending, kReceiving, kDone };
  Stage stage = Stage::kWaiting;
  Socket socket;
  std::size_t sent = 0;
  std::string request_line;
  LineCollector collector{0};
};

void finish(LineExchange& exchange, Pending& pending, LineExchange::Outcome outcome, int err = 0) {
  exchange.outcome = outcome;
  exchange.err = err;
  exchange.received_bytes = pending.collector.received_bytes();
  if (outcome == LineExchange::Outcome::kAnswered) exchange.answer = pending.collector.take();
  pending.collector = LineCollector(0);
  pending.socket = Socket();
  std::string().swap(pending.request_line);
  pending.stage = Pending::Stage::kDone;
}

// Tries to connect; on success checks the peer and moves on to sending.
void try_connect(LineExchange& exchange, Pending& pending, const sockaddr_un& address) {
  if (::connect(pending.socket.fd(), reinterpret_cast<const sockaddr*>(&address),
                sizeof(address)) != 0) {
    if (errno == EAGAIN || errno == EINTR || errno == EINPROGRESS) return;  // retried later
    return finish(exchange, pending, LineExchange::Outcome::kConnectFailed, errno);
  }
  exchange.peer = pending.socket.peer();
  if (const auto& want = exchange.expected_peer;
      want &&
      (!exchange.peer || exchange.peer->pid != want->pid || exchange.peer->uid != want->uid)) {
    return finish(exchange, pending, LineExchange::Outcome::kWrongPeer);
  }
  pending.stage = Pending::Stage::kSending;
}

void try_send(LineExchange& exchange, Pending& pending) {
  while (pending.sent < pending.request_line.size()) {
    const ssize_t n = ::send(pending.socket.fd(), pending.request_line.data() + pending.sent,
                             pending.request_line.size() - pending.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      return finish(exchange, pending, LineExchange::Outcome::kSendFailed, errno);
    }
    pending.sent += static_cast<std::size_t>(n);
  }
  pending.stage = Pending::Stage::kReceiving;
}

void try_receive(LineExchange& exchange, Pending& pending, std::string& buffer) {
  const ssize_t n = ::recv(pending.socket.fd(), buffer.data(), buffer.size(), 0);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return;
    return finish(exchange, pending, LineExchange::Outcome::kClosed, errno);
  }
  if (n == 0) return finish(exchange, pending, LineExchange::Outcome::kClosed);
  switch (pending.collector.add({buffer.data(), static_cast<std::size_t>(n)})) {
    case LineCollector::State::kComplete:
      return finish(exchange, pending, LineExchange::Outcome::kAnswered);
    case LineCollector::State::kTooLong:
      return finish(exchange, pending, LineExchange::Outcome::kTooLong);
    case LineCollector::State::kCollecting:
      return;
  }
}

}  // namespace

void exchange_lines(std::span<LineExchange> exchanges,
                    std::chrono::steady_clock::time_point deadline, std::size_t max_answer_bytes) {
  std::vector<Pending> pending(exchanges.size());
  std::vector<sockaddr_un> addresses(exchanges.size());
  std::size_t next = 0;  // the first exchange not started yet
  std::size_t open = 0;
  std::string buffer(64 * 1024, '\0');
  std::vector<pollfd> fds;
  std::vector<std::size_t> polled;  // fds[k] belongs to exchange polled[k]
  for (;;) {
    // Start waiting exchanges while there is room.
    for (; next < exchanges.size() && open < kMaxOpenExchanges; ++next) {
      auto& exchange = exchanges[next];
      auto& p = pending[next];
      exchange.answer.clear();
      exchange.peer.reset();
      p.collector = LineCollector(max_answer_bytes);
      p.request_line = exchange.request + "\n";
      if (!fill_address(exchange.path, addresses[next])) {
        finish(exchange, p, LineExchange::Outcome::kConnectFailed, ENAMETOOLONG);
        continue;
      }
      p.socket = Socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!p.socket.valid()) {
        finish(exchange, p, LineExchange::Outcome::kConnectFailed, errno);
        continue;
      }
      p.stage = Pending::Stage::kConnecting;
      ++open;
    }
    open = 0;
    // Move each open exchange as far as it goes without waiting.
    fds.clear();
    polled.clear();
    bool connecting = false;
    for (std::size_t i = 0; i < next; ++i) {
      auto& p = pending[i];
      if (p.stage == Pending::Stage::kConnecting) try_connect(exchanges[i], p, addresses[i]);
      if (p.stage == Pending::Stage::kSending) try_send(exchanges[i], p);
      switch (p.stage) {
        case Pending::Stage::kConnecting:
          connecting = true;
          ++open;
          break;
        case Pending::Stage::kSending:
          fds.push_back({p.socket.fd(), POLLOUT, 0});
          polled.push_back(i);
          ++open;
          break;
        case Pending::Stage::kReceiving:
          fds.push_back({p.socket.fd(), POLLIN, 0});
          polled.push_back(i);
          ++open;
          break;
        case Pending::Stage::kWaiting:
        case Pending::Stage::kDone:
          break;
      }
    }
    if (open == 0 && next == exchanges.size()) return;
    int left = remaining_ms(deadline);
    if (left <= 0) break;
    if (connecting) left = std::min(left, kConnectRetryMs);
    const int ready = ::poll(fds.data(), fds.size(), left);
    if (ready < 0 && errno != EINTR) break;
    for (std::size_t k = 0; ready > 0 && k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      const std::size_t i = polled[k];
      auto& p = pending[i];
      if (p.stage == Pending::Stage::kReceiving) try_receive(exchanges[i], p, buffer);
      // kSending is retried at the top of the loop.
    }
  }
  for (std::size_t i = 0; i < exchanges.size(); ++i) {
    auto& p = pending[i];
    switch (p.stage) {
      case Pending::Stage::kWaiting:
      case Pending::Stage::kConnecting:
        finish(exchanges[i], p, LineExchange::Outcome::kConnectTimeout, ETIMEDOUT);
        break;
      case Pending::Stage::kSending:
        finish(exchanges[i], p, LineExchange::Outcome::kSendFailed, ETIMEDOUT);
        break;
      case Pending::Stage::kReceiving:
        finish(exchanges[i], p, LineExchange::Outcome::kNoAnswer);
        break;
      case Pending::Stage::kDone:
        break;
    }
  }
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

void WakeEvent::drain() const noexcept {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t n = ::read(fd_, &count, sizeof(count));  // EFD_NONBLOCK
}

}  // namespace memopt::sys
