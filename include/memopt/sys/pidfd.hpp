#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <string>

// A handle on one process that cannot be fooled by pid reuse (pidfd_open, Linux 5.3+): a
// signal sent through it reaches that process or nobody. Also what the live kernel says about
// the process behind such a handle, which protect checks before it signals.
namespace memopt::sys {

/// A file's identity (device and inode): the same across renames, hard links and a path that
/// now names another file.
struct FileId {
  dev_t device = 0;
  ino_t inode = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
};

/// The identity of the file `path` names, following links (stat(2)); for `<procfs>/PID/exe`,
/// the executable that process runs. Absent when it cannot be examined (a kernel thread, a
/// process that exited, no permission).
[[nodiscard]] std::optional<FileId> file_id(const std::string& path) noexcept;

/// The identity of this process's own executable (/proc/self/exe): every process running the
/// same file is memopt, whatever it is called.
[[nodiscard]] std::optional<FileId> self_executable() noexcept;

/// What the live kernel says about one process, read from `/proc/PID` of this process's pid
/// namespace.
struct LiveProcess {
  std::string stat;           ///< /proc/PID/stat (start time: field 22)
  std::string cgroup;         ///< /proc/PID/cgroup
  std::optional<FileId> exe;  ///< /proc/PID/exe, when it can be examined
};

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
  /// The descriptor (readable once the process has exited: poll(2) it), -1 when not valid().
  [[nodiscard]] int descriptor() const noexcept { return fd_; }

  /// Sends `signal` (pidfd_send_signal). Returns 0 or the errno (ESRCH: it has exited).
  [[nodiscard]] int send(int signal) const noexcept;

  /// Whether the process has exited (its pidfd is readable; a zombie counts as exited: its
  /// memory is already freed).
  [[nodiscard]] bool exited() const noexcept;

  /// Reads the held process's stat, cgroup and executable from the live /proc, then checks
  /// through the handle that it has not exited: a pid is not reused while its process exists,
  /// so what was read is this process's and no other's. Returns 0 or the errno (ESRCH: gone,
  /// before or while it was read).
  [[nodiscard]] int read_live(LiveProcess& out) const;

 private:
  int fd_ = -1;
  int error_ = 0;
  pid_t pid_ = 0;
};

/// Whether `procfs` is the live procfs of this process's pid namespace (`<procfs>/self` names
/// this process's pid): the pids it lists are the ones a pidfd reaches. A captured tree, or the
/// /proc of another pid namespace mounted elsewhere, is not.
[[nodiscard]] bool is_live_procfs(const std::string& procfs);

}  // namespace memopt::sys
