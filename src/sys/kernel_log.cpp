#include "memopt/sys/kernel_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

KernelLog read_kernel_log() {
  KernelLog log;
  if (const auto path = environment("MEMOPT_KERNEL_LOG")) {
    log.path = *path;
    std::string text;
    log.error = read_into(log.path, text);
    if (log.error == 0) log.text = std::move(text);
    return log;
  }
  log.path = "/dev/kmsg";
  const int fd = ::open(log.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    log.error = errno;
    return log;
  }
  // Each read returns one record; EAGAIN means the ring has been read to its end, EPIPE that
  // records were overwritten while reading (skip ahead and go on).
  std::string text;
  char record[8192];
  for (;;) {
    const ssize_t n = ::read(fd, record, sizeof record);
    if (n > 0) {
      text.append(record, static_cast<std::size_t>(n));
      if (text.back() != '\n') text.push_back('\n');
      continue;
    }
    if (n < 0 && (errno == EINTR || errno == EPIPE)) continue;
    if (n < 0 && errno != EAGAIN) log.error = errno;
    break;
  }
  ::close(fd);
  if (log.error == 0) log.text = std::move(text);
  return log;
}

}  // namespace memopt::sys
