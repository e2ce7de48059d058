#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// A shared-memory directory (/dev/shm) as the kernel shows it: its file system, its entries
// stat(2)ed without following links, and removal that never follows a link or leaves it.
namespace memopt::sys {

/// A device number split as the kernel prints it in /proc/PID/maps ("00:1a").
struct DeviceNumber {
  unsigned major = 0;
  unsigned minor = 0;
  friend bool operator==(const DeviceNumber&, const DeviceNumber&) = default;
};

/// One file identity: the device of its file system and its inode.
struct ShmFileId {
  DeviceNumber device;
  std::uint64_t inode = 0;
  friend bool operator==(const ShmFileId&, const ShmFileId&) = default;
};

/// One entry of the directory, from fstatat(AT_SYMLINK_NOFOLLOW): a link is a link, never
/// what it points to.
struct DirEntry {
  enum class Type { kRegular, kSymlink, kDirectory, kOther };
  std::string name;
  Type type = Type::kOther;
  std::uint64_t size_bytes = 0;       ///< st_size: what the file says it holds
  std::uint64_t allocated_bytes = 0;  ///< st_blocks * 512: the pages tmpfs really holds
  ShmFileId id;
  std::int64_t modified_unix_seconds = 0;  ///< st_mtime
};

/// The directory and the file system it is on.
struct DirListing {
  DeviceNumber device;           ///< st_dev of the directory itself
  bool tmpfs = false;            ///< statfs f_type is TMPFS_MAGIC
  std::uint64_t size_bytes = 0;  ///< f_blocks * f_frsize
  std::uint64_t used_bytes = 0;  ///< (f_blocks - f_bfree) * f_frsize
  std::vector<DirEntry> entries;
  std::uint64_t entry_count = 0;  ///< every entry, also those past `max_entries`
};

/// Lists the directory `dir` (opened through links in its path, e.g. /proc/PID/root, but its
/// entries are never followed) with at most `max_entries` entries kept. Returns 0 or the errno
/// of opening or reading it; never throws.
[[nodiscard]] int list_shm_directory(const std::string& dir, std::size_t max_entries,
                                     DirListing& out);

/// The identities of the files process `pid` holds open: stat(2) through each
/// `<procfs>/<pid>/fd/N` link. Empty when the process exited or its fds are not readable.
[[nodiscard]] std::vector<ShmFileId> open_file_ids(const std::string& procfs, int pid);

/// The link text of `<procfs>/<pid>/ns/pid` ("pid:[4026531836]"), or absent when unreadable.
[[nodiscard]] std::optional<std::string> pid_namespace(const std::string& procfs,
                                                       const std::string& pid);

/// remove_shm_file's codes beside errno values (negative, never an errno).
inline constexpr int kNotOnThatFileSystem = -10;  ///< st_dev differs from the directory's
inline constexpr int kFileChanged = -11;          ///< not the inode that was judged
inline constexpr int kNotRegular = -12;           ///< a link, directory, FIFO, device, socket

/// Removes `name` from directory `dir` only when it is still the regular file `expected`
/// (same device as the directory, same inode): the directory is opened once, the entry is
/// opened relative to it with O_PATH|O_NOFOLLOW and fstat(2)ed, and unlinkat(2) removes it
/// relative to the same directory fd, so no link in `name` is ever followed and nothing
/// outside the directory is touched. `name` holding a '/' is refused (EINVAL). Sets
/// `allocated_bytes` to the blocks it held. Returns 0, an errno, or one of the codes above.
[[nodiscard]] int remove_shm_file(const std::string& dir, const std::string& name,
                                  const ShmFileId& expected, std::uint64_t& allocated_bytes);

/// Words for remove_shm_file's codes and errno values.
[[nodiscard]] std::string shm_error_text(int err);

}  // namespace memopt::sys
