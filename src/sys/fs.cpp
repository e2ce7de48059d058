#include "memopt/sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/sys/state_file.hpp"

namespace memopt::sys {

Roots default_roots() { return Roots{}; }

namespace {

/// Opens `path` for reading without blocking (a FIFO never stalls the open) and keeps it only
/// when it is a regular file; 0 with `fd` and `st` set, else the errno or kNotRegularFile.
int open_regular(const std::string& path, int& fd, struct stat& st) {
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno;
  int err = 0;
  if (::fstat(fd, &st) != 0) {
    err = errno;
  } else if (!S_ISREG(st.st_mode)) {
    err = kNotRegularFile;
  }
  if (err != 0) {
    ::close(fd);
    fd = -1;
  }
  return err;
}

}  // namespace

int read_into(const std::string& path, std::string& out) {
  out.clear();
  int fd = -1;
  struct stat st {};
  if (const int err = open_regular(path, fd, st); err != 0) return err;
  if (static_cast<std::uint64_t>(st.st_size) > kMaxKernelFileBytes) {
    ::close(fd);
    return kFileTooLarge;
  }
  // procfs files report size 0, so read in chunks until EOF, one byte past the cap at most.
  constexpr std::size_t kChunk = 4096;
  int err = 0;
  for (;;) {
    const std::size_t old_size = out.size();
    if (old_size > kMaxKernelFileBytes) {
      err = kFileTooLarge;
      break;
    }
    out.resize(old_size + kChunk);
    const ssize_t n = ::read(fd, out.data() + old_size, kChunk);
    if (n < 0) {
      if (errno == EINTR) {
        out.resize(old_size);
        continue;
      }
      err = errno;
      out.resize(old_size);
      break;
    }
    out.resize(old_size + static_cast<std::size_t>(n));
    if (n == 0) break;
  }
  ::close(fd);
  if (err == kFileTooLarge) {
    out.clear();
    out.shrink_to_fit();
  }
  return err;
}

int read_small(const std::string& path, std::string& out) {
  // Larger than any statm (seven 20-digit numbers); a file that fills it is not one.
  constexpr std::size_t kOnce = 256;
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno;
  std::array<char, kOnce> buffer;
  ssize_t n = 0;
  do {
    n = ::read(fd, buffer.data(), buffer.size());
  } while (n < 0 && errno == EINTR);
  const int err = n < 0 ? errno : 0;
  ::close(fd);
  if (n <= 0 || static_cast<std::size_t>(n) == buffer.size()) {
    // EISDIR, EAGAIN, an empty read or a full one: read_into says what it is.
    if (err == ESRCH) return err;  // the process exited: nothing more to learn
    return read_into(path, out);
  }
  out.assign(buffer.data(), static_cast<std::size_t>(n));
  return 0;
}

bool is_absent_errno(int err) noexcept {
  return err == ENOENT || err == ENOTDIR || err == ENODEV || err == ENXIO || err == ESRCH;
}

namespace {
Error read_error(const std::string& path, int err) {
  return Error("cannot read " + path + ": " + error_text(err));
}
}  // namespace

std::optional<std::string> read_optional(const std::string& path) {
  std::string out;
  const int err = read_into(path, out);
  if (err == 0) return out;
  if (is_absent_errno(err)) return std::nullopt;
  throw read_error(path, err);
}

std::string read_required(const std::string& path) {
  std::string out;
  const int err = read_into(path, out);
  if (err != 0) throw read_error(path, err);
  return out;
}

int write_file(const std::string& path, std::string_view content) noexcept {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  // Control files take one write; a short write is an error, not something to continue.
  const ssize_t n = ::write(fd, content.data(), content.size());
  if (n < 0)
    err = errno;
  else if (static_cast<std::size_t>(n) != content.size())
    err = EIO;
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

namespace {

/// Writes all of `content` to `fd` (continuing short writes) and closes it; throws naming `path`.
void write_all_and_close(int fd, const std::string& path, std::string_view content) {
  std::size_t done = 0;
  int err = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) throw Error("cannot write " + path + ": " + std::strerror(err));
}

}  // namespace

void write_whole_file(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
  write_all_and_close(fd, path, content);
}

void create_new_file(const std::string& path, std::string_view content, unsigned mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                        static_cast<mode_t>(mode));
  if (fd < 0) {
    const int err = errno;
    throw Error("cannot create " + path + ": " + std::strerror(err) +
                (err == EEXIST ? " (a file or link is already there: it is left alone)" : ""));
  }
  write_all_and_close(fd, path, content);
}

std::optional<std::string> state_file_problem(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return path + ": " + std::strerror(errno);
  }
  if (S_ISLNK(st.st_mode)) {
    return path + " is a symbolic link: memopt does not follow links in its state directory";
  }
  if (!S_ISREG(st.st_mode)) return path + " is not a regular file";
  return std::nullopt;
}

std::optional<std::string> state_directory_problem(const std::string& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return dir + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return dir + " is not a directory";
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    return "the state directory " + dir + " belongs to another user (uid " +
           std::to_string(st.st_uid) + ")";
  }
  // Root follows no link another user planted: as root, only root may write the directory. A
  // user's own monitor (a sidecar as nobody in an emptyDir, 0777) risks only what it may write.
  if (::geteuid() == 0 && (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "the state directory " + dir +
           " is writable by other users, who could plant links in it for root to follow "
           "(chmod go-w it, or name a subdirectory, which memopt creates 0700)";
  }
  return std::nullopt;
}

std::optional<FileLock> FileLock::try_lock(const std::string& path, long& holder) {
  holder = 0;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw Error("cannot open the lock file " + path + ": " + std::strerror(errno));
  FileLock lock(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error("the lock file " + path + " is not a regular file");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err != EWOULDBLOCK) {
      throw Error("cannot lock " + path + ": " + std::strerror(err));
    }
    char text[32] = {};
    const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
    if (n > 0) holder = std::strtol(text, nullptr, 10);
    return std::nullopt;
  }
  // The holder's pid, for the message the next one gets.
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const auto n = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return lock;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

int make_directory(const std::string& path) noexcept {
  return ::mkdir(path.c_str(), 0755) == 0 ? 0 : errno;
}

int remove_directory(const std::string& path) noexcept {
  return ::rmdir(path.c_str()) == 0 ? 0 : errno;
}

std::string error_text(int err) {
  if (err == kNotRegularFile) return "not a regular file (a FIFO, device or directory), refused";
  if (err == kFileTooLarge) {
    return "larger than " + std::to_string(kMaxKernelFileBytes >> 20) +
           " MiB, more than any file memopt reads may be, refused";
  }
  return std::strerror(err);
}

bool exists(const std::string& path) noexcept {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool is_directory(const std::string& path) noexcept {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<int> list_pids(const std::string& procfs) {
  DIR* dir = ::opendir(procfs.c_str());
  if (dir == nullptr) throw read_error(procfs, errno);
  std::vector<int> pids;
  while (const dirent* entry = ::readdir(dir)) {
    const char* name = entry->d_name;
    if (*name < '1' || *name > '9') continue;
    int pid = 0;
    bool numeric = true;
    for (const char* c = name; *c != '\0'; ++c) {
      if (*c < '0' || *c > '9' || pid > 99'999'999) {
        numeric = false;
        break;
      }
      pid = pid * 10 + (*c - '0');
    }
    if (numeric) pids.push_back(pid);
  }
  ::closedir(dir);
  return pids;
}

std::vector<std::string> list_directory(const std::string& path, int* error) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (error != nullptr) *error = dir == nullptr ? errno : 0;
  if (dir == nullptr) return names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

std::uint64_t page_size_of(const std::string& procfs) {
  const std::string path = procfs + "/" + std::string(kTreePageSizeFile);
  const auto text = read_optional(path);
  if (!text) return page_size();
  std::string_view value(*text);
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.remove_suffix(1);
  std::uint64_t bytes = 0;
  const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), bytes);
  constexpr std::uint64_t kSmallest = 1 << 10;
  constexpr std::uint64_t kLargest = 1 << 20;
  if (err != std::errc() || end != value.data() + value.size() || !std::has_single_bit(bytes) ||
      bytes < kSmallest || bytes > kLargest) {
    throw Error("while reading " + path +
                ": expected the page size in bytes (a power of two from 1024 to 1048576), got '" +
                printable(value.substr(0, 40)) + "'");
  }
  return bytes;
}

Roots roots_at(std::string procfs, std::string sysfs) {
  const std::uint64_t page = page_size_of(procfs);
  return Roots{std::move(procfs), std::move(sysfs), page};
}

bool is_terminal(int fd) noexcept { return ::isatty(fd) == 1; }

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

int read_head(const std::string& path, std::size_t max_bytes, std::string& out, bool& truncated) {
  out.clear();
  truncated = false;
  int fd = -1;
  struct stat st {};
  if (const int err = open_regular(path, fd, st); err != 0) return err;
  // One byte past the cap says whether there was more.
  out.resize(max_bytes + 1);
  std::size_t got = 0;
  int err = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (err != 0) {
    out.clear();
    return err;
  }
  truncated = got > max_bytes;
  out.resize(std::min(got, max_bytes));
  return 0;
}

}  // namespace memopt::sys
