#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/facts.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"

// OOM kills as the kernel logged them (`/dev/kmsg`, or `dmesg` text).
namespace memopt::readers {

/// One OOM kill from the kernel log.
using KernelOomKill = model::OomKill;

/// Finds OOM kills in kernel log text: /dev/kmsg records ("6,123,456789,-;message") or
/// dmesg lines ("[  12.345] message"), one per line. Lines that are neither are ignored;
/// a "Killed process" line that does not parse is skipped rather than guessed at.
[[nodiscard]] std::vector<KernelOomKill> parse_kernel_oom_kills(std::string_view text);

/// The kills whose victim was in `cgroup_path` or below it (all when the log does not say).
[[nodiscard]] std::vector<KernelOomKill> kills_in_cgroup(const std::vector<KernelOomKill>& kills,
                                                         std::string_view cgroup_path);

/// Reads the kernel log (`$MEMOPT_KERNEL_LOG`, default /dev/kmsg) and finds its OOM kills;
/// std::nullopt with a note when it cannot be read (containers usually lack CAP_SYSLOG).
[[nodiscard]] std::optional<std::vector<KernelOomKill>> read_kernel_oom_kills(
    std::vector<model::Note>& notes);

/// read_kernel_oom_kills() for the machine `roots` describe: on a captured tree (`--procfs`
/// other than /proc) never this machine's /dev/kmsg, but `$MEMOPT_KERNEL_LOG`, else the
/// tree's own `kernel.log` beside its proc directory (`<procfs>/../kernel.log`, kmsg or dmesg
/// lines), else nothing.
[[nodiscard]] std::optional<std::vector<KernelOomKill>> read_kernel_oom_kills(
    const Roots& roots, std::vector<model::Note>& notes);

}  // namespace memopt::readers
