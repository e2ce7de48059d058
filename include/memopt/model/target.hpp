#pragma once

#include <optional>
#include <string>
#include <string_view>

// What a command watches: memopt's own cgroup, another process's, a named cgroup, or the host.
namespace memopt::model {

/// The target of every command (`--cgroup PATH`, `--pid PID`; memopt's own cgroup by default).
/// A sidecar names the model container's cgroup or pid; a DaemonSet watches the host.
struct Target {
  enum class Kind {
    kSelf,    ///< the cgroup of `<procfs>/self/cgroup` (the default)
    kPid,     ///< the cgroup of `<procfs>/<pid>/cgroup`
    kCgroup,  ///< a cgroup path as /proc/PID/cgroup writes it, or a directory under the mount
    kHost,    ///< the whole host (`--cgroup /`): host figures, every process, labelled host-wide
  };
  Kind kind = Kind::kSelf;
  int pid = 0;         ///< kPid only
  std::string cgroup;  ///< kCgroup only: "/kubepods/pod1/ctr" or "/sys/fs/cgroup/memory/x"

  /// Words for messages and reports: "memopt's own cgroup", "pid 42", "cgroup /a/b", "host".
  [[nodiscard]] std::string describe() const;
  /// "self", "pid", "cgroup" or "host" (JSON `target.kind`).
  [[nodiscard]] std::string_view kind_name() const;
};

/// The target the flags ask for; throws Error(kUsage) when both are given, the pid is not
/// positive, or the path is empty or relative.
[[nodiscard]] Target make_target(const std::optional<std::string>& cgroup,
                                 const std::optional<int>& pid);

}  // namespace memopt::model
