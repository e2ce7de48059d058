#include "memopt/sys/self.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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
