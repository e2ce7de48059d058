#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
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

/// An eventfd used to wake a thread blocked in Socket::accept. Move-free; closed when destroyed.
class WakeEvent {
 public:
  WakeEvent();  ///< throws Error when no eventfd can be made
  ~WakeEvent();
  WakeEvent(const WakeEvent&) = delete;
  WakeEvent& operator=(const WakeEvent&) = delete;
  void signal() const noexcept;
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace memopt::sys
