#include "memopt/sys/fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "memopt/error.hpp"

namespace memopt::sys {

Roots default_roots() { return Roots{"/proc", "/sys"}; }

int read_into(const std::string& path, std::string& out) {
  out.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return errno;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return err;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return kNotRegularFile;
  }
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

void write_whole_file(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot write " + path + ": " + std::strerror(errno));
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

std::vector<std::string> list_directory(const std::string& path) {
  std::vector<std::string> names;
  DIR* dir = ::opendir(path.c_str());
  if (dir == nullptr) return names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(dir);
  return names;
}

std::uint64_t page_size() noexcept {
  static const auto kSize = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return kSize;
}

bool is_terminal(int fd) noexcept { return ::isatty(fd) == 1; }

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read-only use
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

}  // namespace memopt::sys
