#include "memopt/sys/self.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <string_view>
#include <vector>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

HeapInfo heap_info() noexcept {
  const struct mallinfo2 info = ::mallinfo2();
  return HeapInfo{info.uordblks + info.hblkhd, info.uordblks, info.fordblks};
}

std::uintptr_t program_break() noexcept { return reinterpret_cast<std::uintptr_t>(::sbrk(0)); }

std::uint64_t resident_bytes_in(std::uintptr_t start, std::uintptr_t length) {
  const auto page = static_cast<std::uintptr_t>(page_size());
  const auto first = start / page * page;
  const auto end = (start + length + page - 1) / page * page;
  if (end <= first) return 0;
  std::vector<unsigned char> pages((end - first) / page);
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address of this process, from its maps
  if (::mincore(reinterpret_cast<void*>(first), end - first, pages.data()) != 0) return 0;
  std::uint64_t count = 0;
  for (const auto flags : pages) count += flags & 1U;
  return count * page;
}

bool read_own_memory(std::uintptr_t address, void* out, std::size_t size) noexcept {
  iovec local{out, size};
  // NOLINTNEXTLINE(performance-no-int-to-ptr): an address of this process, from its maps
  iovec remote{reinterpret_cast<void*>(address), size};
  return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(size);
}

bool set_malloc_trim_threshold(std::size_t bytes) noexcept {
  if (bytes > static_cast<std::size_t>(INT_MAX)) return false;
  return ::mallopt(M_TRIM_THRESHOLD, static_cast<int>(bytes)) == 1;
}

bool set_malloc_arena_max(int count) noexcept { return ::mallopt(M_ARENA_MAX, count) == 1; }

bool malloc_trim() noexcept { return ::malloc_trim(0) != 0; }

pid_t self_pid() noexcept { return ::getpid(); }

std::optional<bool> in_initial_pid_namespace(const std::string& procfs) {
  constexpr std::string_view kInitialNamespace = "pid:[4026531836]";  // PROC_PID_INIT_INO
  std::array<char, 64> target{};
  const auto path = procfs + "/self/ns/pid";
  const auto length = ::readlink(path.c_str(), target.data(), target.size());
  if (length <= 0) return std::nullopt;
  return std::string_view(target.data(), static_cast<std::size_t>(length)) == kInitialNamespace;
}

uid_t effective_uid() noexcept { return ::geteuid(); }

bool is_writable(const std::string& path) noexcept { return ::access(path.c_str(), W_OK) == 0; }

int make_directory_mode(const std::string& path, mode_t mode) noexcept {
  return ::mkdir(path.c_str(), mode) == 0 ? 0 : errno;
}

int remove_file(const std::string& path) noexcept {
  return ::unlink(path.c_str()) == 0 ? 0 : errno;
}

bool file_owner(const std::string& path, uid_t& uid, mode_t& mode) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return false;
  uid = st.st_uid;
  mode = st.st_mode;
  return true;
}

}  // namespace memopt::sys
