#include "memopt/readers/facts.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/readers/kernel_log.hpp"
#include "memopt/readers/procfs.hpp"

namespace memopt::readers {

namespace {

/// How many of the largest processes to look at for thread counts.
constexpr std::size_t kThreadScan = 20;

}  // namespace

std::optional<std::string> parse_environ_value(std::string_view environ, std::string_view name) {
  while (!environ.empty()) {
    const auto end = environ.find('\0');
    const std::string_view entry = environ.substr(0, end);
    if (entry.size() > name.size() && entry.substr(0, name.size()) == name &&
        entry[name.size()] == '=') {
      return std::string(entry.substr(name.size() + 1));
    }
    if (end == std::string_view::npos) break;
    environ.remove_prefix(end + 1);
  }
  return std::nullopt;
}

bool maps_show_python(std::string_view maps) {
  while (!maps.empty()) {
    const auto newline = maps.find('\n');
    const auto line = maps.substr(0, newline);
    // "start-end perms offset dev inode   /path/to/file"
    if (const auto slash = line.rfind('/'); slash != std::string_view::npos) {
      const auto file = line.substr(slash + 1);
      if (file.starts_with("python") || file.starts_with("libpython")) return true;
    }
    if (newline == std::string_view::npos) break;
    maps.remove_prefix(newline + 1);
  }
  return false;
}

model::Facts read_facts(const sys::Roots& roots, const model::Sample& sample,
                        std::vector<model::Note>& notes) {
  model::Facts facts;
  if (sample.cgroup_unreadable) {
    // An unknown target: the log's kills are other cgroups' (or the host's), never its own.
    notes.push_back({"kernel_log_not_attributed",
                     fmt::format("{} is unknown: the kernel log's OOM kills are not attributed "
                                 "to it",
                                 sample.target.describe())});
  } else if (auto kills = read_kernel_oom_kills(roots, notes)) {
    // Only the target's victims, where the log names their cgroup.
    const auto& cg = sample.cgroup;
    facts.kernel_oom_kills = cg ? kills_in_cgroup(*kills, cg->path) : std::move(*kills);
  }
  facts.shm = read_mount(roots, "/dev/shm");
  const auto& processes = sample.processes;
  for (std::size_t i = 0; i < std::min(kThreadScan, processes.size()); ++i) {
    const auto threads = read_thread_count(roots, processes[i].pid);
    if (threads && (!facts.most_threads || *threads > facts.most_threads->threads)) {
      facts.most_threads = model::ThreadCount{processes[i].pid, processes[i].name, *threads};
    }
  }

  std::string text;
  int last_error = 0;
  for (const auto& p : processes) {
    const std::string path = fmt::format("{}/{}/environ", roots.procfs, p.pid);
    if (const int err = sys::read_into(path, text); err != 0) {
      if (!sys::is_absent_errno(err)) last_error = err;
      continue;
    }
    facts.environment_of = model::ThreadCount{p.pid, p.name, 0};
    facts.malloc_arena_max = parse_environ_value(text, "MALLOC_ARENA_MAX");
    facts.malloc_trim_threshold = parse_environ_value(text, "MALLOC_TRIM_THRESHOLD_");
    facts.pytorch_cuda_alloc_conf = parse_environ_value(text, "PYTORCH_CUDA_ALLOC_CONF");
    facts.python_unbuffered = parse_environ_value(text, "PYTHONUNBUFFERED");
    facts.python_dont_write_bytecode = parse_environ_value(text, "PYTHONDONTWRITEBYTECODE");
    std::string maps;
    facts.environment_is_python =
        p.name.starts_with("python") ||
        (sys::read_into(fmt::format("{}/{}/maps", roots.procfs, p.pid), maps) == 0 &&
         maps_show_python(maps));
    break;
  }
  if (!facts.environment_of && !processes.empty()) {
    notes.push_back(
        {"environment_unreadable",
         fmt::format("allocator settings unknown: no listed process's {}/PID/environ could be "
                     "read{}",
                     roots.procfs,
                     last_error != 0 ? " (" + sys::error_text(last_error) + ")" : std::string())});
  }
  return facts;
}

}  // namespace memopt::readers
