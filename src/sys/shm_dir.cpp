#include "memopt/sys/shm_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "memopt/sys/fs.hpp"

namespace memopt::sys {

namespace {

/// Closes a descriptor on every path out.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

DeviceNumber device_of(dev_t dev) { return {major(dev), minor(dev)}; }

DirEntry::Type type_of(mode_t mode) {
  if (S_ISREG(mode)) return DirEntry::Type::kRegular;
  if (S_ISLNK(mode)) return DirEntry::Type::kSymlink;
  if (S_ISDIR(mode)) return DirEntry::Type::kDirectory;
  return DirEntry::Type::kOther;
}

}  // namespace

int list_shm_directory(const std::string& dir, std::size_t max_entries, DirListing& out) {
  out = DirListing{};
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return errno;
  struct stat dir_st {};
  if (::fstat(fd.get(), &dir_st) != 0) return errno;
  out.device = device_of(dir_st.st_dev);
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) == 0) {
    out.tmpfs = fs.f_type == TMPFS_MAGIC;
    out.size_bytes = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
    out.used_bytes = static_cast<std::uint64_t>(fs.f_blocks - fs.f_bfree) * fs.f_frsize;
  }
  // fdopendir takes the descriptor over; a second one keeps fstatat relative to the same dir.
  Fd stat_fd(::dup(fd.get()));
  if (stat_fd.get() < 0) return errno;
  DIR* stream = ::fdopendir(fd.release());
  if (stream == nullptr) return errno;
  errno = 0;
  while (const dirent* entry = ::readdir(stream)) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == "..") continue;
    ++out.entry_count;
    if (out.entries.size() >= max_entries) continue;
    struct stat st {};
    if (::fstatat(stat_fd.get(), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    DirEntry e;
    e.name = std::string(name);
    e.type = type_of(st.st_mode);
    e.size_bytes = static_cast<std::uint64_t>(st.st_size);
    e.allocated_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
    e.id = {device_of(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
    e.modified_unix_seconds = st.st_mtim.tv_sec;
    out.entries.push_back(std::move(e));
  }
  const int err = errno;
  ::closedir(stream);
  return err;
}

std::vector<ShmFileId> open_file_ids(const std::string& procfs, int pid) {
  std::vector<ShmFileId> ids;
  const auto dir = procfs + "/" + std::to_string(pid) + "/fd";
  for (const auto& name : list_directory(dir)) {
    struct stat st {};
    if (::stat((dir + "/" + name).c_str(), &st) != 0) continue;  // closed meanwhile
    if (!S_ISREG(st.st_mode)) continue;
    ids.push_back({device_of(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
  }
  return ids;
}

std::optional<std::string> pid_namespace(const std::string& procfs, const std::string& pid) {
  std::array<char, 256> text{};
  const auto path = procfs + "/" + pid + "/ns/pid";
  const auto length = ::readlink(path.c_str(), text.data(), text.size());
  if (length <= 0) return std::nullopt;
  return std::string(text.data(), static_cast<std::size_t>(length));
}

int remove_shm_file(const std::string& dir, const std::string& name, const ShmFileId& expected,
                    std::uint64_t& allocated_bytes) {
  allocated_bytes = 0;
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return EINVAL;
  Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() < 0) return errno;
  struct stat dir_st {};
  if (::fstat(dir_fd.get(), &dir_st) != 0) return errno;
  Fd file(::openat(dir_fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (file.get() < 0) return errno;
  struct stat st {};
  if (::fstat(file.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return kNotRegular;
  if (st.st_dev != dir_st.st_dev) return kNotOnThatFileSystem;
  if (device_of(st.st_dev) != expected.device || st.st_ino != expected.inode) return kFileChanged;
  if (::unlinkat(dir_fd.get(), name.c_str(), 0) != 0) return errno;
  allocated_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512;
  return 0;
}

std::string shm_error_text(int err) {
  switch (err) {
    case kNotOnThatFileSystem:
      return "on another file system than the directory";
    case kFileChanged:
      return "replaced by another file since it was judged";
    case kNotRegular:
      return "not a regular file";
    default:
      return error_text(err);
  }
}

}  // namespace memopt::sys
