#include "memopt/sys/statm.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::sys {

SelfStatm::SelfStatm(const std::string& procfs) : path_(procfs + "/self/statm") {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw Error("cannot open " + path_ + ": " + error_text(errno));
}

SelfStatm::~SelfStatm() {
  if (fd_ >= 0) ::close(fd_);
}

std::string_view SelfStatm::read() {
  ssize_t got = 0;
  do {
    got = ::pread(fd_, buffer_.data(), buffer_.size(), 0);
  } while (got < 0 && errno == EINTR);
  if (got < 0) throw Error("cannot read " + path_ + ": " + error_text(errno));
  return {buffer_.data(), static_cast<std::size_t>(got)};
}

}  // namespace memopt::sys
