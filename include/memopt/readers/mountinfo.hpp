#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/sys/fs.hpp"

// `<procfs>/self/mountinfo` (proc(5), Linux 2.6.26+): where each file system is mounted, and
// from there where the cgroup hierarchies are, as the kernel's cgroup documentation says to
// find them instead of guessing paths.
namespace memopt::readers {

/// One line of mountinfo:
/// "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS".
struct MountInfo {
  std::string root;         ///< the directory of the file system mounted here ("/" or a subtree)
  std::string mount_point;  ///< as the reading process sees it, octal escapes (\040) decoded
  std::string fs_type;      ///< "cgroup", "cgroup2", "tmpfs", ...
  /// The per-superblock options; for a v1 cgroup hierarchy they name its controllers
  /// ("rw,memory", "rw,cpu,cpuacct", "rw,xattr,name=systemd").
  std::vector<std::string> super_options;
};

/// Parses mountinfo text. Throws Error naming `source` and the line when a line lacks the
/// fields before the " - " separator or the file system type after it.
[[nodiscard]] std::vector<MountInfo> parse_mountinfo(std::string_view text,
                                                     std::string_view source);

/// The cgroup hierarchies that hold memory accounting, as directories to read under the roots.
struct CgroupHierarchies {
  std::optional<std::string> v1_memory;  ///< the v1 hierarchy with the memory controller
  std::optional<std::string> v2;         ///< the cgroup2 (unified) hierarchy
};

/// Finds the hierarchies in `mounts` (parsed from `<procfs>/self/mountinfo`) and maps each mount
/// point into `roots`: a mount point under `roots.sysfs` is used as it is; one under /sys (a
/// tree captured on another machine, or the host's /sys mounted elsewhere) is read under
/// `roots.sysfs`; any other one only when `roots.sysfs` is "/sys" itself (the running system).
/// A hierarchy whose mapped directory does not exist is left out. The first match wins.
[[nodiscard]] CgroupHierarchies cgroup_hierarchies(const std::vector<MountInfo>& mounts,
                                                   const Roots& roots);

}  // namespace memopt::readers
