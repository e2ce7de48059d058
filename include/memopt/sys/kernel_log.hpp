#pragma once

#include <optional>
#include <string>

namespace memopt::sys {

/// What reading the kernel log gave.
struct KernelLog {
  std::string path;                 ///< what was read
  std::optional<std::string> text;  ///< one record per line; absent when unreadable
  int error = 0;                    ///< the errno when absent
};

/// Reads the kernel's log ring without waiting for new records: `$MEMOPT_KERNEL_LOG` when set
/// (a file of kmsg or dmesg lines, for tests and captured logs), else /dev/kmsg (needs
/// CAP_SYSLOG or kernel.dmesg_restrict=0).
[[nodiscard]] KernelLog read_kernel_log();

}  // namespace memopt::sys
