#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

// This process's own allocator and identity: the OS calls the in-process library needs.
namespace memopt::sys {

/// glibc's view of the heap (mallinfo2, glibc 2.33+), in bytes.
struct HeapInfo {
  std::uint64_t in_use_bytes = 0;  ///< uordblks + hblkhd: allocated, including mmap'd blocks
  std::uint64_t free_bytes = 0;    ///< fordblks: free but retained by malloc (not returned)
};

/// The heap as mallinfo2 reports it now. Sums every arena; takes malloc's locks briefly.
[[nodiscard]] HeapInfo heap_info() noexcept;

/// malloc_trim(0): returns free heap pages of every arena to the kernel (madvise on whole
/// free pages, not only the top). True when some memory was released.
bool malloc_trim() noexcept;

/// Resets this process's peak resident set (VmHWM) by writing "5" to
/// `<procfs>/self/clear_refs` (Linux 4.0+). Returns 0 or the errno.
[[nodiscard]] int reset_peak_rss(const std::string& procfs) noexcept;

/// getpid().
[[nodiscard]] pid_t self_pid() noexcept;

/// Whether this process lives in the initial pid namespace (`<procfs>/self/ns/pid` is the
/// kernel's PROC_PID_INIT_INO), where its pid is the one the host, and NVML, see. False in a
/// container's own pid namespace; absent when the link cannot be read.
[[nodiscard]] std::optional<bool> in_initial_pid_namespace(const std::string& procfs);

/// geteuid().
[[nodiscard]] uid_t effective_uid() noexcept;

/// access(path, W_OK) == 0: this process may write `path` (EROFS counts as not writable).
[[nodiscard]] bool is_writable(const std::string& path) noexcept;

/// mkdir(2) with `mode` (e.g. 0700). Returns 0 or the errno.
[[nodiscard]] int make_directory_mode(const std::string& path, mode_t mode) noexcept;

/// unlink(2). Returns 0 or the errno.
[[nodiscard]] int remove_file(const std::string& path) noexcept;

/// The owner uid and mode bits of `path` (lstat); false when it cannot be examined.
[[nodiscard]] bool file_owner(const std::string& path, uid_t& uid, mode_t& mode) noexcept;

}  // namespace memopt::sys
