#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

// This process's own allocator and identity: the OS calls the in-process library needs.
namespace memopt::sys {

/// glibc's view of the heap (mallinfo2, glibc 2.33+), in bytes.
struct HeapInfo {
  std::uint64_t in_use_bytes = 0;        ///< uordblks + hblkhd: allocated, including mmap'd blocks
  std::uint64_t arena_in_use_bytes = 0;  ///< uordblks: allocated in the arenas (no mmap'd blocks)
  /// fordblks: free chunks malloc keeps, including pages malloc_trim returned to the kernel.
  std::uint64_t free_bytes = 0;
};

/// The heap as mallinfo2 reports it now. Sums every arena; takes malloc's locks briefly.
[[nodiscard]] HeapInfo heap_info() noexcept;

/// The main arena's program break now (sbrk(0)): the end of the `[heap]` mapping's used part.
[[nodiscard]] std::uintptr_t program_break() noexcept;

/// How many bytes of this process's pages in [start, start + length) are resident (mincore;
/// the range is widened to whole pages). 0 when part of the range is not mapped.
[[nodiscard]] std::uint64_t resident_bytes_in(std::uintptr_t start, std::uintptr_t length);

/// Copies `size` bytes at `address` of this process's own memory into `out`
/// (process_vm_readv on itself): false, never a fault, when the memory is not mapped now.
[[nodiscard]] bool read_own_memory(std::uintptr_t address, void* out, std::size_t size) noexcept;

/// mallopt(M_TRIM_THRESHOLD, bytes): free heap above this at the top is given back at once
/// (what MALLOC_TRIM_THRESHOLD_ sets at start-up). Also fixes the threshold: glibc stops
/// raising it as mmap'd blocks are freed. False when glibc refused the value.
bool set_malloc_trim_threshold(std::size_t bytes) noexcept;

/// mallopt(M_ARENA_MAX, count): at most `count` malloc arenas from now on (arenas already
/// made stay). What MALLOC_ARENA_MAX sets at start-up. False when glibc refused the value.
bool set_malloc_arena_max(int count) noexcept;

/// malloc_trim(0): returns free heap pages of every arena to the kernel (madvise on whole
/// free pages, not only the top). True when some memory was released.
bool malloc_trim() noexcept;

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
