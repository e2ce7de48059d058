#pragma once

#include <optional>
#include <string>
#include <vector>

// The files a process holds open, as /proc/PID/fd shows them.
namespace memopt::sys {

/// One open file descriptor: where `<procfs>/<pid>/fd/<n>` links to and, for a character
/// device, its major and minor numbers (stat through the link; nothing is opened).
struct OpenFile {
  std::string target;  ///< the link's text: "/dev/nvidia0", "socket:[123]", ...
  std::optional<unsigned> char_major;
  std::optional<unsigned> char_minor;
};

/// The open files of process `pid` under `procfs`: empty when the process has exited,
/// std::nullopt when its fd directory may not be read (another user's process, without root or
/// CAP_SYS_PTRACE).
[[nodiscard]] std::optional<std::vector<OpenFile>> open_files(const std::string& procfs, int pid);

}  // namespace memopt::sys
