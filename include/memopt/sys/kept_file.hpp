#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace memopt::sys {

/// The most a KeptFile reads: more than any statm (seven 20-digit numbers); a file that fills
/// it is not one of the small files kept open.
inline constexpr std::size_t kKeptFileBytes = 256;

/// A small kernel file kept open and read again from its start with one pread(2): one system
/// call a read instead of open, read and close (and read_into's fstat and read to the end).
/// For a file read every interval or every item: a process's statm in a monitor's scan, the
/// loop forecast's own statm. A procfs file of a process stays that process's: once it is
/// gone, a read fails with ESRCH, also when its pid has been given to another process.
/// Not thread-safe. The descriptor is close-on-exec.
class KeptFile {
 public:
  KeptFile() = default;
  ~KeptFile();
  KeptFile(KeptFile&& other) noexcept;
  KeptFile& operator=(KeptFile&& other) noexcept;
  KeptFile(const KeptFile&) = delete;
  KeptFile& operator=(const KeptFile&) = delete;

  /// Opens `path` read-only and non-blocking (a FIFO never blocks the caller); 0 or the errno.
  /// A file open before is closed first.
  [[nodiscard]] int open(const std::string& path);
  [[nodiscard]] bool is_open() const { return fd_ >= 0; }
  /// Whether the open file is on procfs, sysfs or a cgroup filesystem: the kernel's own files,
  /// which no one deletes or replaces (a captured tree's can be, and a kept one would go stale).
  [[nodiscard]] bool on_kernel_filesystem() const;

  /// The whole file into `out` (replacing its contents) with one pread at offset 0. Returns 0,
  /// the errno (ESRCH: the process is gone), or kFileTooLarge when it filled kKeptFileBytes
  /// (then `out` is empty). A closed KeptFile gives EBADF.
  [[nodiscard]] int read(std::string& out);

  /// The same into `buffer` (not zeroed first); `length` is what was read. kFileTooLarge when
  /// the file filled the buffer.
  [[nodiscard]] int read(std::span<char> buffer, std::size_t& length);

 private:
  int fd_ = -1;
};

/// A few files kept open by path, for a reader that reads the same files several times a
/// second (a monitor's quick readings: meminfo, a cgroup's usage, memory.stat, OOM counter).
/// Each is opened at its first read and read with one pread after that; only the kernel's own
/// files are kept (KeptFile::on_kernel_filesystem). A file on any other filesystem (a captured
/// tree's, which can be replaced) is refused once and remembered: it is read by path each time,
/// never opened to be looked at again. Where the
/// kept read cannot answer — the file is gone (a removed cgroup's files give ENODEV), it is larger
/// than kKeptFilesBytes — it is closed, and read by path with sys::read_optional/read_required,
/// whose answer (content, absence or the error naming the file) is the one returned; the next
/// read opens it again.
class KeptFiles {
 public:
  /// The most one kept file holds: memory.stat and meminfo are 1-3 KiB.
  static constexpr std::size_t kKeptFilesBytes = 16 << 10;

  /// As sys::read_optional (absent when the file is not there; throws Error otherwise).
  [[nodiscard]] std::optional<std::string> read_optional(const std::string& path);
  /// As sys::read_required (throws Error naming the file).
  [[nodiscard]] std::string read_required(const std::string& path);
  /// Closes them all and forgets the refused paths (the target moved: its old files must not
  /// keep its cgroup, and its new ones may be on another filesystem).
  void clear() {
    files_.clear();
    refused_.clear();
  }
  /// Files kept open.
  [[nodiscard]] std::size_t size() const { return files_.size(); }
  /// Whether `path` was refused (not on a kernel filesystem) and is read by path each time.
  [[nodiscard]] bool refused(const std::string& path) const;

 private:
  struct Entry {
    std::string path;
    KeptFile file;
  };
  /// The text of `path` through its kept file; absent when the kept read cannot answer.
  std::optional<std::string_view> read_kept(const std::string& path);

  std::vector<Entry> files_;
  std::vector<std::string> refused_;  ///< not the kernel's files: read by path
  std::unique_ptr<char[]> buffer_;
};

}  // namespace memopt::sys
