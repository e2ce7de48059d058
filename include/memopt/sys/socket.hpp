#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>

// Unix stream sockets for the cooperative cleanup protocol: one request line, one answer line.
namespace memopt::sys {

/// The file name of process `pid`'s cleanup socket in a runtime directory: "<pid>.sock".
[[nodiscard]] std::string cleanup_socket_name(pid_t pid);

/// The pid a cleanup socket's file name stands for; absent for any other name.
[[nodiscard]] std::optional<pid_t> cleanup_socket_pid(std::string_view name);

/// Who is on the other end of a connected Unix socket (SO_PEERCRED).
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

/// An open socket file descriptor; move-only, closed when destroyed.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) noexcept : fd_(fd) {}
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& other) noexcept;
  Socket& operator=(Socket&& other) noexcept;
  ~Socket();

  [[nodiscard]] int fd() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

  /// Listens on a fresh socket file `path` (an old file there is replaced) with mode `mode`
  /// (set before anyone can connect). Throws Error naming the path when it cannot.
  [[nodiscard]] static Socket listen(const std::string& path, mode_t mode);

  /// Connects to the socket file `path`; std::nullopt with `err` set (ECONNREFUSED for a
  /// socket nobody listens on any more, EACCES for another user's, ETIMEDOUT when the server
  /// never takes the connection before `deadline`: a full backlog of a server that does not
  /// accept). Never blocks past `deadline`.
  [[nodiscard]] static std::optional<Socket> connect(
      const std::string& path, int& err,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::now() +
                                                       std::chrono::seconds(5));

  /// Waits up to `timeout` for a connection (or for `wake_fd`, when >= 0, to become readable,
  /// which returns std::nullopt). Returns the accepted connection.
  [[nodiscard]] std::optional<Socket> accept(std::chrono::milliseconds timeout, int wake_fd) const;

  /// The peer's credentials, as the kernel recorded them at connect time.
  [[nodiscard]] std::optional<PeerCredentials> peer() const noexcept;

  /// Writes all of `data` (MSG_NOSIGNAL). Returns 0 or the errno.
  [[nodiscard]] int send_all(std::string_view data) const noexcept;

  /// Reads up to the first '\n' (not included), at most `max_bytes`, waiting at most
  /// `timeout` in all. std::nullopt on timeout, error, or end of stream before a newline.
  [[nodiscard]] std::optional<std::string> receive_line(std::chrono::milliseconds timeout,
                                                        std::size_t max_bytes) const;

 private:
  int fd_ = -1;
};

/// Collects one line from bytes that arrive in pieces, never holding more than `max_bytes`
/// (the newline not counted). Each byte is looked at once: the search for the newline goes on
/// from where the last piece ended, so a long answer costs linear time, not quadratic.
class LineCollector {
 public:
  explicit LineCollector(std::size_t max_bytes) noexcept : max_bytes_(max_bytes) {}

  /// What happened to the line so far.
  enum class State { kCollecting, kComplete, kTooLong };

  /// Takes the next piece. Bytes after the newline are ignored. Past `max_bytes` without a
  /// newline the state turns kTooLong and the bytes held are released at once.
  State add(std::string_view piece);

  [[nodiscard]] State state() const noexcept { return state_; }
  /// The line without its newline (complete), or what arrived so far.
  [[nodiscard]] const std::string& line() const noexcept { return line_; }
  [[nodiscard]] std::string take() noexcept { return std::move(line_); }
  /// Every byte received, the ones dropped past the cap included.
  [[nodiscard]] std::size_t received_bytes() const noexcept { return received_; }

 private:
  std::size_t max_bytes_;
  std::size_t received_ = 0;
  State state_ = State::kCollecting;
  std::string line_;
};

/// One request line sent to a Unix socket and the one answer line read back
/// (exchange_lines). The fields up to `expected_peer` are the question, the rest the outcome.
struct LineExchange {
  std::string path;     ///< the socket file
  std::string request;  ///< sent followed by "\n"
  /// When set, the server must be this pid and uid (SO_PEERCRED; gid not compared), else the
  /// request is never sent and the outcome is kWrongPeer.
  std::optional<PeerCredentials> expected_peer;

  /// How the exchange ended.
  enum class Outcome {
    kAnswered,        ///< `answer` holds the line
    kConnectFailed,   ///< `err`: ECONNREFUSED (nobody listens), EACCES, ENOENT...
    kConnectTimeout,  ///< the server did not take the connection before the deadline
    kWrongPeer,       ///< `peer` is who it was (absent: unknown)
    kSendFailed,      ///< `err`, or ETIMEDOUT when the server did not read before the deadline
    kNoAnswer,        ///< no complete line before the deadline
    kClosed,          ///< the server hung up before a complete line (`err` when it failed)
    kTooLong,         ///< more than the cap without a newline; nothing of it is kept
  };
  Outcome outcome = Outcome::kNoAnswer;
  int err = 0;
  std::optional<PeerCredentials> peer;
  std::string answer;
  std::size_t received_bytes = 0;  ///< answer bytes read, also for kTooLong and kNoAnswer
};

/// Runs every exchange at once in one poll() loop (at most 256 sockets open together; the rest
/// start as others end), connect, send and receive included, and returns by `deadline` at the
/// latest however the servers behave: a server that streams bytes forever, sends more than
/// `max_answer_bytes` or never accepts costs no more than the deadline and `max_answer_bytes`
/// of memory while it lasts.
void exchange_lines(std::span<LineExchange> exchanges,
                    std::chrono::steady_clock::time_point deadline, std::size_t max_answer_bytes);

/// An eventfd used to wake a thread blocked in Socket::accept. Move-free; closed when destroyed.
class WakeEvent {
 public:
  WakeEvent();  ///< throws Error when no eventfd can be made
  ~WakeEvent();
  WakeEvent(const WakeEvent&) = delete;
  WakeEvent& operator=(const WakeEvent&) = delete;
  void signal() const noexcept;  ///< async-signal-safe: one write(2)
  /// Takes what signal() left, so that the descriptor polls quiet again.
  void drain() const noexcept;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace memopt::sys
