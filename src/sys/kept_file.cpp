#include "memopt/sys/kept_file.hpp"

#include <fcntl.h>
#include <unistd.h>

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

int KeptFile::read(std::string& out) {
  out.resize(kKeptFileBytes);  // the capacity stays: a read after the first allocates nothing
  ssize_t n = 0;
  do {
    n = ::pread(fd_, out.data(), out.size(), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    const int err = errno;
    out.clear();
    return err;
  }
  if (static_cast<std::size_t>(n) == kKeptFileBytes) {
    out.clear();
    return kFileTooLarge;
  }
  out.resize(static_cast<std::size_t>(n));
  return 0;
}

}  // namespace memopt::sys
