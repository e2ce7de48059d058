#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/roots.hpp"

// The only layer that touches the operating system. Everything above takes its paths as values.
namespace memopt::sys {

/// The roots of the running system: {"/proc", "/sys"} with this host's page size.
[[nodiscard]] Roots default_roots();

/// The file in a procfs tree that gives the page size of the kernel the tree was captured from
/// (decimal bytes). The kernel has no such file: only a captured tree carries it.
inline constexpr std::string_view kTreePageSizeFile = "page_size";

/// The page size of the kernel whose procfs is at `procfs`: the value of
/// `<procfs>/page_size` (kTreePageSizeFile) when the tree carries one, else this host's
/// (the live /proc, or a host's /proc mounted into a sidecar: the same kernel). Throws Error
/// naming the file when it holds anything but a power of two from 1 KiB to 1 MiB.
[[nodiscard]] std::uint64_t page_size_of(const std::string& procfs);

/// The roots at `procfs` and `sysfs`, with page_size_of(procfs).
[[nodiscard]] Roots roots_at(std::string procfs, std::string sysfs);

/// The most one kernel file may hold. The largest files memopt reads (memory.stat, smaps_rollup,
/// meminfo, a cgroup.procs of a busy host) hold kilobytes; a tree that offers more (a 1 GiB
/// file, a link to /dev/zero) is refused instead of costing memory. Also the cap on --config.
inline constexpr std::size_t kMaxKernelFileBytes = std::size_t{4} << 20;  // 4 MiB

/// read_into's codes beside errno values (negative, so they never collide with one).
inline constexpr int kNotRegularFile = -1;  ///< a FIFO, device, socket or directory
inline constexpr int kFileTooLarge = -2;    ///< more than kMaxKernelFileBytes

/// Reads a whole file into `out` (replacing its contents) with plain read(2) calls.
/// The file is opened non-blocking and read only when fstat(2) says it is a regular file
/// (procfs, sysfs and cgroupfs files are): a FIFO or device put in a --procfs/--sysfs tree
/// never blocks and never streams without end. Returns 0 on success, else the errno of the
/// failing call, kNotRegularFile, or kFileTooLarge (more than kMaxKernelFileBytes; `out` is
/// then empty); never throws. error_text() words all of them.
/// The buffer is reused across calls, so scanning many small files allocates once.
[[nodiscard]] int read_into(const std::string& path, std::string& out);

/// Reads a small procfs file that the kernel writes in one go (statm: one seq_file record)
/// with open, one read(2) and close: no fstat, no read to see the end. Used where one file a
/// process is read every interval (a monitor's change test over hundreds of processes), where
/// read_into's five calls are most of the cost. Whatever one read cannot settle — nothing
/// read (a FIFO), the buffer filled (a device, a longer file) — goes through read_into, so
/// the answer and its error codes are read_into's.
[[nodiscard]] int read_small(const std::string& path, std::string& out);

/// Reads at most `max_bytes` from the start of the regular file `path` into `out` (opened
/// non-blocking; a FIFO, device or directory is kNotRegularFile, never read). `truncated` says
/// whether the file held more. Returns 0 or the errno; never throws. For files that may be
/// larger than any kernel file should be and are needed only in part (a process's command
/// line: its arguments can fill megabytes).
[[nodiscard]] int read_head(const std::string& path, std::size_t max_bytes, std::string& out,
                            bool& truncated);

/// True for the errno values that mean "this file is not there": ENOENT, ENOTDIR, ENODEV,
/// ENXIO, ESRCH (a process that exited). Optional sources treat these as absent.
[[nodiscard]] bool is_absent_errno(int err) noexcept;

/// The file's contents, or std::nullopt when it is absent (see is_absent_errno).
/// Throws Error naming the path on any other failure (EACCES, EIO, ...).
[[nodiscard]] std::optional<std::string> read_optional(const std::string& path);

/// The file's contents; throws Error naming the path when it cannot be read at all.
[[nodiscard]] std::string read_required(const std::string& path);

/// Writes `content` to the existing file `path` (a kernel control file: no create, no
/// truncate semantics beyond what the kernel gives). Returns 0 or the errno; never throws.
[[nodiscard]] int write_file(const std::string& path, std::string_view content) noexcept;

/// Creates or replaces the regular file `path` with `content` (mode 0644 before umask).
/// Throws Error naming the path when it cannot.
void write_whole_file(const std::string& path, std::string_view content);

/// mkdir(2) with mode 0755. Returns 0 or the errno.
[[nodiscard]] int make_directory(const std::string& path) noexcept;

/// rmdir(2). Returns 0 or the errno.
[[nodiscard]] int remove_directory(const std::string& path) noexcept;

/// strerror(err) as a string; kNotRegularFile and kFileTooLarge in words.
[[nodiscard]] std::string error_text(int err);

/// True when `path` exists (any type).
[[nodiscard]] bool exists(const std::string& path) noexcept;

/// True when `path` is a directory.
[[nodiscard]] bool is_directory(const std::string& path) noexcept;

/// The numeric entries of `procfs` (process ids), unsorted. Throws Error when `procfs`
/// cannot be listed.
[[nodiscard]] std::vector<int> list_pids(const std::string& procfs);

/// The names of the entries of directory `path` ("." and ".." left out); empty when it
/// cannot be listed (why in `*error` when given: an errno, 0 when listed).
[[nodiscard]] std::vector<std::string> list_directory(const std::string& path,
                                                      int* error = nullptr);

/// True when file descriptor `fd` is a terminal.
[[nodiscard]] bool is_terminal(int fd) noexcept;

/// The value of environment variable `name`, if set.
[[nodiscard]] std::optional<std::string> environment(const char* name);

}  // namespace memopt::sys
