#pragma once

#include <optional>
#include <string>
#include <string_view>

// Files in memopt's state directory (the history database, its lock, post-mortem files), which
// root may write: nothing another user planted there is followed or overwritten.
// Implemented in src/sys/fs.cpp.
namespace memopt::sys {

/// Creates the regular file `path` with `content` and `mode`, refusing to follow a link or to
/// touch a file already there (O_CREAT | O_EXCL | O_NOFOLLOW): a link or file planted at `path`
/// is left as it is. Throws Error naming the path when it cannot.
void create_new_file(const std::string& path, std::string_view content, unsigned mode = 0644);

/// Why `path` must not be opened as a state file (a database, a lock file), or nullopt when it
/// is absent or a regular file: a symbolic link (dangling or not; lstat(2), never followed), a
/// FIFO, device, socket or directory.
[[nodiscard]] std::optional<std::string> state_file_problem(const std::string& path);

/// Why directory `dir` is not safe to keep state in, or nullopt when it is: it must be a
/// directory owned by this user or root and, when this process is root, writable by no one else
/// (no group or other write bit), so that no other user can plant a link for root to follow.
[[nodiscard]] std::optional<std::string> state_directory_problem(const std::string& dir);

/// An exclusive flock(2) on a lock file, held until destruction.
class FileLock {
 public:
  /// Locks `path` (created 0600 when absent, never through a link) without waiting. Returns
  /// nullopt with `holder` set to the pid the holder wrote into it (0 when unknown) when
  /// another process holds it; throws Error naming the path when it cannot be opened.
  [[nodiscard]] static std::optional<FileLock> try_lock(const std::string& path, long& holder);
  ~FileLock();
  FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace memopt::sys
