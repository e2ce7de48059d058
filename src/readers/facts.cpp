#include "memopt/readers/facts.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/readers/kernel_log.hpp"
#include "memopt/readers/procfs.hpp"

namespace memopt::readers {

namespace {

/// How many of the largest processes to look at for thread counts.
constexpr std::size_t kThreadScan = 20;
/// A torch/version.py holds a few hundred bytes; more is not a version file.
constexpr std::size_t kVersionPyMaxBytes = 64 * 1024;

bool plausible_version(std::string_view v) {
  if (v.empty() || v.size() > 64 || v.front() < '0' || v.front() > '9') return false;
  return std::all_of(v.begin(), v.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
           c == '+' || c == '_' || c == '-';
  });
}

/// The mapped file of one maps line ("start-end perms offset dev inode   /path"), or empty.
std::string_view mapped_path(std::string_view line) {
  const auto slash = line.find('/');
  if (slash == std::string_view::npos) return {};
  const auto path = line.substr(slash);
  if (path.ends_with(" (deleted)")) return {};
  return path;
}

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

TorchInMaps torch_in_maps(std::string_view maps) {
  TorchInMaps found;
  while (!maps.empty()) {
    const auto newline = maps.find('\n');
    const auto path = mapped_path(maps.substr(0, newline));
    if (const auto slash = path.rfind('/'); !path.empty() && slash != std::string_view::npos) {
      const auto dir = path.substr(0, slash);
      const auto file = path.substr(slash + 1);
      if (file.starts_with("libtorch") && dir.ends_with("/torch/lib")) {
        found.package_dir = std::string(dir.substr(0, dir.size() - 4));
        return found;
      }
      if (file.starts_with("_C") && file.ends_with(".so") && dir.ends_with("/torch")) {
        found.package_dir = std::string(dir);
        return found;
      }
      if (file.starts_with("libtorch") && !found.versioned_library && version_of_library(file)) {
        found.versioned_library = std::string(file);
      }
    }
    if (newline == std::string_view::npos) break;
    maps.remove_prefix(newline + 1);
  }
  return found;
}

std::optional<std::string> parse_torch_version_py(std::string_view text) {
  while (!text.empty()) {
    const auto newline = text.find('\n');
    auto line = text.substr(0, newline);
    if (line.starts_with("__version__")) {
      // "__version__ = '2.3.0'" or "__version__: str = '2.3.0'"; never a call or an expression.
      if (const auto equals = line.find('='); equals != std::string_view::npos) {
        auto value = line.substr(equals + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (!value.empty() && (value.front() == '\'' || value.front() == '"')) {
          const char quote = value.front();
          value.remove_prefix(1);
          const auto close = value.find(quote);
          if (close != std::string_view::npos && plausible_version(value.substr(0, close))) {
            return std::string(value.substr(0, close));
          }
        }
      }
    }
    if (newline == std::string_view::npos) break;
    text.remove_prefix(newline + 1);
  }
  return std::nullopt;
}

std::optional<std::string> version_of_library(std::string_view file_name) {
  const auto so = file_name.find(".so.");
  if (so == std::string_view::npos) return std::nullopt;
  const auto version = file_name.substr(so + 4);
  if (!plausible_version(version) || !parse_major_minor(version)) return std::nullopt;
  return std::string(version);
}

std::optional<std::pair<unsigned, unsigned>> parse_major_minor(std::string_view version) {
  unsigned parts[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (digits < version.size() && version[digits] >= '0' && version[digits] <= '9') {
      if (digits >= 6) return std::nullopt;
      value = value * 10 + static_cast<unsigned>(version[digits] - '0');
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    parts[i] = value;
    version.remove_prefix(digits);
    if (i == 0) {
      if (version.empty() || version.front() != '.') return std::nullopt;
      version.remove_prefix(1);
    }
  }
  return std::pair{parts[0], parts[1]};
}

namespace {

/// The torch version in use, from a `stats` answer or a process's maps; else why it is unknown.
void read_torch(const Roots& roots, const model::Sample& sample,
                const std::vector<model::TorchVersion>& answered, model::Facts& facts) {
  if (!answered.empty()) {
    facts.torch = answered.front();
    return;
  }
  std::string maps;
  std::string text;
  const auto& processes = sample.processes;
  for (std::size_t i = 0; i < std::min(kThreadScan, processes.size()); ++i) {
    const auto& p = processes[i];
    if (sys::read_into(fmt::format("{}/{}/maps", roots.procfs, p.pid), maps) != 0) continue;
    const auto found = torch_in_maps(maps);
    if (found.package_dir) {
      // Through the process's root: the path is in its mount namespace, not memopt's.
      const std::string path =
          fmt::format("{}/{}/root{}/version.py", roots.procfs, p.pid, *found.package_dir);
      bool truncated = false;
      const int err = sys::read_head(path, kVersionPyMaxBytes, text, truncated);
      const auto version = err == 0 ? parse_torch_version_py(text) : std::nullopt;
      const auto mm = version ? parse_major_minor(*version) : std::nullopt;
      if (mm) {
        facts.torch = model::TorchVersion{
            p.pid, p.name, *version, mm->first, mm->second, *found.package_dir + "/version.py"};
        return;
      }
      facts.torch_unknown =
          err != 0 ? fmt::format(
                         "{} (pid {}) runs the torch in {}, whose version.py cannot be "
                         "read ({})",
                         p.name, p.pid, *found.package_dir, sys::error_text(err))
                   : fmt::format(
                         "{} (pid {}) runs the torch in {}, whose version.py names no "
                         "version",
                         p.name, p.pid, *found.package_dir);
    }
    if (found.versioned_library) {
      const auto version = *version_of_library(*found.versioned_library);
      const auto mm = *parse_major_minor(version);
      facts.torch = model::TorchVersion{p.pid,    p.name,    version,
                                        mm.first, mm.second, *found.versioned_library};
      facts.torch_unknown.clear();
      return;
    }
    if (!facts.torch_unknown.empty()) return;
  }
  if (facts.torch_unknown.empty()) {
    facts.torch_unknown =
        processes.empty() ? std::string("the target lists no process")
                          : fmt::format(
                                "none of the target's {} largest processes maps a torch library "
                                "(or their {}/PID/maps cannot be read)",
                                std::min(kThreadScan, processes.size()), roots.procfs);
  }
}

}  // namespace

model::Facts read_facts(const Roots& roots, const model::Sample& sample,
                        std::vector<model::Note>& notes,
                        const std::vector<model::TorchVersion>& answered) {
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
  read_torch(roots, sample, answered, facts);
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
