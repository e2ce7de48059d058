#include "memopt/readers/kernel_log.hpp"

#include <fmt/format.h>

#include "memopt/sys/fs.hpp"
#include "memopt/sys/kernel_log.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

using detail::Lines;
using detail::to_u64;
using detail::trim;

namespace {

struct LogLine {
  std::optional<double> uptime_seconds;
  std::string_view message;
};

LogLine split_prefix(std::string_view line) {
  LogLine out{std::nullopt, line};
  if (!line.empty() && line.front() == '[') {
    const auto close = line.find(']');
    if (close == std::string_view::npos) return out;
    out.uptime_seconds = detail::to_non_negative_double(trim(line.substr(1, close - 1)));
    out.message = trim(line.substr(close + 1));
    return out;
  }
  // kmsg: "prio,seq,usec,flags[,...];message"
  const auto semi = line.find(';');
  if (semi == std::string_view::npos) return out;
  const std::string_view header = line.substr(0, semi);
  const auto c1 = header.find(',');
  const auto c2 = c1 == std::string_view::npos ? c1 : header.find(',', c1 + 1);
  const auto c3 = c2 == std::string_view::npos ? c2 : header.find(',', c2 + 1);
  if (c3 == std::string_view::npos || !to_u64(header.substr(0, c1))) return out;
  if (const auto usec = to_u64(header.substr(c2 + 1, c3 - c2 - 1))) {
    out.uptime_seconds = static_cast<double>(*usec) / 1e6;
  }
  out.message = line.substr(semi + 1);
  return out;
}

/// The value of `key=` in a comma-separated "oom-kill:" line.
std::optional<std::string_view> field(std::string_view message, std::string_view key) {
  std::size_t pos = 0;
  while ((pos = message.find(key, pos)) != std::string_view::npos) {
    if (pos == 0 || message[pos - 1] == ',' || message[pos - 1] == ':') {
      const auto start = pos + key.size();
      const auto end = message.find(',', start);
      return message.substr(start,
                            end == std::string_view::npos ? std::string_view::npos : end - start);
    }
    pos += key.size();
  }
  return std::nullopt;
}

}  // namespace

std::vector<KernelOomKill> parse_kernel_oom_kills(std::string_view text) {
  std::vector<KernelOomKill> kills;
  // "oom-kill:" comes just before its "Killed process" line and names the victim's cgroup.
  std::optional<std::pair<int, std::string>> memcg_of;
  Lines lines(text);
  while (const auto raw = lines.next()) {
    const LogLine line = split_prefix(*raw);
    const std::string_view message = line.message;
    if (message.rfind("oom-kill:", 0) == 0) {
      const auto pid = field(message, "pid=");
      const auto memcg = field(message, "task_memcg=");
      if (pid && memcg) {
        if (const auto n = to_u64(*pid); n && *n <= 0x7fffffff) {
          memcg_of = std::pair{static_cast<int>(*n), std::string(*memcg)};
        }
      }
      continue;
    }
    const auto at = message.find("Killed process ");
    if (at == std::string_view::npos) continue;
    // "Killed process 19634 (python3) total-vm:426168kB, anon-rss:261120kB, ..."
    std::string_view rest = message.substr(at + 15);
    const auto space = rest.find(' ');
    const auto pid = to_u64(rest.substr(0, space));
    const auto open = rest.find('(');
    const auto close = rest.rfind(')');
    if (!pid || *pid > 0x7fffffff || open == std::string_view::npos ||
        close == std::string_view::npos || close < open) {
      continue;
    }
    KernelOomKill kill;
    kill.pid = static_cast<int>(*pid);
    kill.name = std::string(rest.substr(open + 1, close - open - 1));
    kill.uptime_seconds = line.uptime_seconds;
    kill.line = std::string(trim(message));
    if (const auto anon = rest.find("anon-rss:"); anon != std::string_view::npos) {
      const auto end = rest.find("kB", anon);
      if (end != std::string_view::npos) {
        const auto kb = to_u64(rest.substr(anon + 9, end - anon - 9));
        if (kb && *kb <= UINT64_MAX / 1024) kill.anon_rss_bytes = *kb * 1024;
      }
    }
    if (memcg_of && memcg_of->first == kill.pid) kill.task_memcg = memcg_of->second;
    memcg_of.reset();
    kills.push_back(std::move(kill));
  }
  return kills;
}

std::vector<KernelOomKill> kills_in_cgroup(const std::vector<KernelOomKill>& kills,
                                           std::string_view cgroup_path) {
  std::vector<KernelOomKill> out;
  const std::string prefix = cgroup_path == "/" ? "/" : std::string(cgroup_path) + "/";
  for (const auto& kill : kills) {
    if (!kill.task_memcg || cgroup_path == "/" || *kill.task_memcg == cgroup_path ||
        kill.task_memcg->rfind(prefix, 0) == 0) {
      out.push_back(kill);
    }
  }
  return out;
}

std::optional<std::vector<KernelOomKill>> read_kernel_oom_kills(std::vector<model::Note>& notes) {
  const auto log = sys::read_kernel_log();
  if (!log.text) {
    notes.push_back(
        {"no_kernel_log", fmt::format("the kernel log ({}) is not readable here: {}; OOM victims "
                                      "are known only from the cgroup's counters",
                                      log.path, sys::error_text(log.error))});
    return std::nullopt;
  }
  return parse_kernel_oom_kills(*log.text);
}

std::optional<std::vector<KernelOomKill>> read_kernel_oom_kills(const Roots& roots,
                                                                std::vector<model::Note>& notes) {
  if (roots.procfs == sys::default_roots().procfs || sys::environment("MEMOPT_KERNEL_LOG")) {
    return read_kernel_oom_kills(notes);
  }
  const std::string path = roots.procfs + "/../kernel.log";
  if (const auto text = sys::read_optional(path)) return parse_kernel_oom_kills(*text);
  notes.push_back({"no_kernel_log",
                   fmt::format("{} is not this machine's: its kernel log is read only from {} or "
                               "$MEMOPT_KERNEL_LOG, and there is neither",
                               roots.procfs, path)});
  return std::nullopt;
}

}  // namespace memopt::readers
