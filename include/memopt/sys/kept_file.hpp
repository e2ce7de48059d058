#pragma once

#include <cstddef>
#include <string>

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

  /// The whole file into `out` (replacing its contents) with one pread at offset 0. Returns 0,
  /// the errno (ESRCH: the process is gone), or kFileTooLarge when it filled kKeptFileBytes
  /// (then `out` is empty). A closed KeptFile gives EBADF.
  [[nodiscard]] int read(std::string& out);

 private:
  int fd_ = -1;
};

}  // namespace memopt::sys
