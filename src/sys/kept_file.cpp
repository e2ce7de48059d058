#include "memopt/sys/kept_file.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

KeptFile::~KeptFile() {
  if (fd_ >= 0) ::close(fd_);
}

KeptFile::KeptFile(KeptFile&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

KeptFile& KeptFile::operator=(KeptFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

int KeptFile::open(const std::string& path) {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  return fd_ < 0 ? errno : 0;
}

bool KeptFile::on_kernel_filesystem() const {
  struct statfs fs {};
  if (fd_ < 0 || ::fstatfs(fd_, &fs) != 0) return false;
  switch (static_cast<unsigned long>(fs.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

int KeptFile::read(std::span<char> buffer, std::size_t& length) {
  length = 0;
  ssize_t n = 0;
  do {
    n = ::pread(fd_, buffer.data(), buffer.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno;
  if (static_cast<std::size_t>(n) == buffer.size()) return kFileTooLarge;
  length = static_cast<std::size_t>(n);
  return 0;
}

int KeptFile::read(std::string& out) {
  out.resize(kKeptFileBytes);  // the capacity stays: a read after the first allocates nothing
  std::size_t length = 0;
  const int err = read(out, length);
  out.resize(length);
  return err;
}

std::optional<std::string_view> KeptFiles::read_kept(const std::string& path) {
  auto entry =
      std::find_if(files_.begin(), files_.end(), [&](const Entry& e) { return e.path == path; });
  if (entry == files_.end()) {
    if (refused(path)) return std::nullopt;
    KeptFile file;
    // A file that cannot be opened is tried again next time (a cgroup created later); one that
    // opens but is not the kernel's stays refused: its filesystem does not change.
    if (file.open(path) != 0) return std::nullopt;
    if (!file.on_kernel_filesystem()) {
      refused_.push_back(path);
      return std::nullopt;
    }
    files_.push_back({path, std::move(file)});
    entry = files_.end() - 1;
  }
  if (!buffer_) buffer_ = std::make_unique<char[]>(kKeptFilesBytes);
  std::size_t length = 0;
  if (entry->file.read({buffer_.get(), kKeptFilesBytes}, length) != 0) {
    files_.erase(entry);
    return std::nullopt;
  }
  return std::string_view(buffer_.get(), length);
}

bool KeptFiles::refused(const std::string& path) const {
  return std::find(refused_.begin(), refused_.end(), path) != refused_.end();
}

std::optional<std::string> KeptFiles::read_optional(const std::string& path) {
  if (const auto text = read_kept(path)) return std::string(*text);
  return sys::read_optional(path);
}

std::string KeptFiles::read_required(const std::string& path) {
  if (const auto text = read_kept(path)) return std::string(*text);
  return sys::read_required(path);
}

}  // namespace memopt::sys
