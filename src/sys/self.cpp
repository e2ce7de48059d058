#include "memopt/sys/self.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string_view>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

HeapInfo heap_info() noexcept {
  const struct mallinfo2 info = ::mallinfo2();
  return HeapInfo{info.uordblks + info.hblkhd, info.fordblks};
}

bool malloc_trim() noexcept { return ::malloc_trim(0) != 0; }

int reset_peak_rss(const std::string& procfs) noexcept {
  return write_file(procfs + "/self/clear_refs", "5");
}

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
