#include "memopt/actions/sandbox.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <thread>

#include "memopt/error.hpp"
#include "memopt/sys/process.hpp"

namespace memopt::actions {

namespace {

constexpr std::string_view kPrefix = "memopt-run-";

void write_control(const std::string& path, std::string_view value) {
  if (const int err = sys::write_file(path, value); err != 0) {
    throw Error(fmt::format("cannot write '{}' to {}: {}", value, path, sys::error_text(err)));
  }
}

/// On v2 a child gets the memory controller only if the parent delegates it.
void require_v2_delegation(const std::string& parent) {
  const std::string control = parent + "/cgroup.subtree_control";
  const auto enabled = sys::read_optional(control).value_or("");
  if (enabled.find("memory") != std::string::npos) return;
  // Enabling it fails with EBUSY while the parent holds processes (this one, at least), the
  // cgroup v2 "no internal processes" rule; only a delegated or empty parent works.
  if (sys::write_file(control, "+memory") == 0) return;
  throw Error(
      fmt::format("cgroup v2: the memory controller is not delegated to children of {} "
                  "(cgroup.subtree_control); run memopt from a delegated cgroup, e.g. "
                  "systemd-run --scope -p Delegate=yes",
                  parent));
}

std::vector<int> pids_in(const std::string& dir) {
  std::vector<int> pids;
  const auto text = sys::read_optional(dir + "/cgroup.procs").value_or("");
  int pid = 0;
  bool digits = false;
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      pid = pid * 10 + (c - '0');
      digits = true;
    } else if (digits) {
      pids.push_back(pid);
      pid = 0;
      digits = false;
    }
  }
  if (digits) pids.push_back(pid);
  return pids;
}

void kill_all_in(const std::string& dir) {
  // cgroup.kill (v2, 5.14+) also catches processes forked while we signal.
  if (sys::write_file(dir + "/cgroup.kill", "1") == 0) return;
  for (const int pid : pids_in(dir)) sys::send_signal(pid, SIGKILL);
}

/// Kills what runs in `dir` and removes it, retrying while the kernel lets go of the tasks.
bool kill_and_remove(const std::string& dir) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (pids_in(dir).empty() && sys::remove_directory(dir) == 0) return true;
    kill_all_in(dir);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::optional<std::uint64_t> read_number(const std::string& path) {
  const auto text = sys::read_optional(path);
  if (!text) return std::nullopt;
  return readers::parse_cgroup_counter(*text, path);
}

/// The parent directory of `dir`, or empty at `mount`.
std::string parent_of(const std::string& dir, const std::string& mount) {
  if (dir.size() <= mount.size()) return {};
  return dir.substr(0, dir.rfind('/'));
}

std::uint64_t sum_v1_oom_kills(const std::string& dir, int depth, int& budget) {
  std::uint64_t sum = 0;
  const std::string path = dir + "/memory.oom_control";
  if (const auto text = sys::read_optional(path)) {
    sum += readers::parse_oom_counters(*text, path).oom_kill.value_or(0);
  }
  if (depth >= 16) return sum;
  for (const auto& name : sys::list_directory(dir)) {
    if (--budget < 0) break;
    const std::string child = dir + "/" + name;
    if (sys::is_directory(child) && sys::exists(child + "/memory.oom_control")) {
      sum += sum_v1_oom_kills(child, depth + 1, budget);
    }
  }
  return sum;
}

}  // namespace

std::unique_ptr<Sandbox> Sandbox::create(const readers::CgroupLocation& own,
                                         std::optional<std::uint64_t> limit,
                                         std::optional<std::uint64_t> swap) {
  if (own.version == 2) require_v2_delegation(own.dir);

  readers::CgroupLocation location = own;
  const std::string name = fmt::format("{}{}", kPrefix, ::getpid());
  location.dir += "/" + name;
  location.path = (own.path == "/" ? "" : own.path) + "/" + name;
  location.pressure_dir = own.version == 2 ? std::optional(location.dir) : std::nullopt;
  if (const int err = sys::make_directory(location.dir); err != 0) {
    throw Error(fmt::format("cannot create cgroup {}: {}", location.dir, sys::error_text(err)));
  }
  std::unique_ptr<Sandbox> sandbox(new Sandbox(location));
  const std::string& dir = sandbox->location_.dir;
  if (own.version == 1) {
    if (limit) write_control(dir + "/memory.limit_in_bytes", std::to_string(*limit));
    if (swap) {
      if (!limit) throw Error("--swap needs --limit", Error::Kind::kUsage);
      if (!sys::exists(dir + "/memory.memsw.limit_in_bytes")) {
        throw Error(
            "--swap: swap accounting is off on this host (memory.memsw.* absent; boot with "
            "swapaccount=1)");
      }
      write_control(dir + "/memory.memsw.limit_in_bytes", std::to_string(*limit + *swap));
    }
    // A fresh cgroup starts at 0, but the counter is ours to reset from now on.
    (void)sys::write_file(dir + "/memory.max_usage_in_bytes", "0");
  } else {
    if (limit) write_control(dir + "/memory.max", std::to_string(*limit));
    if (swap) write_control(dir + "/memory.swap.max", std::to_string(*swap));
  }
  return sandbox;
}

Sandbox::~Sandbox() { remove(); }

std::vector<int> Sandbox::pids() const { return pids_in(location_.dir); }

void Sandbox::read(analysis::RunSample& sample) {
  const bool v1 = location_.version == 1;
  const std::string& dir = location_.dir;
  // The peak first, then the counters: the interval's peak is never below the usage read.
  if (v1) {
    const std::string peak_path = dir + "/memory.max_usage_in_bytes";
    sample.interval_peak_usage_bytes = read_number(peak_path);
    // Reset to the current usage: the next read covers only what follows.
    if (sample.interval_peak_usage_bytes) (void)sys::write_file(peak_path, "0");
  } else {
    sample.interval_peak_usage_bytes = read_number(dir + "/memory.peak");
  }
  const std::string usage_path = dir + (v1 ? "/memory.usage_in_bytes" : "/memory.current");
  sample.usage_bytes = readers::parse_cgroup_counter(sys::read_required(usage_path), usage_path);
  const std::string stat_path = dir + "/memory.stat";
  const auto stat =
      readers::parse_cgroup_stat(sys::read_required(stat_path), location_.version, stat_path);
  sample.inactive_file_bytes = stat.inactive_file.value_or(0);
  sample.working_set_bytes =
      sample.usage_bytes - std::min(sample.usage_bytes, sample.inactive_file_bytes);
  if (sample.interval_peak_usage_bytes) {
    sample.interval_peak_usage_bytes =
        std::max(*sample.interval_peak_usage_bytes, sample.usage_bytes);
  }
}

void Sandbox::kill_all() { kill_all_in(location_.dir); }

bool Sandbox::remove() {
  if (removed_) return true;
  // Orphans the command left behind die with the sandbox, as they would with a container.
  removed_ = kill_and_remove(location_.dir);
  return removed_;
}

std::vector<std::string> sweep_orphaned_sandboxes(const readers::CgroupLocation& own,
                                                  const std::string& procfs,
                                                  std::vector<std::string>& problems) {
  std::vector<std::string> swept;
  for (const auto& name : sys::list_directory(own.dir)) {
    if (name.rfind(kPrefix, 0) != 0) continue;
    const std::string_view digits = std::string_view(name).substr(kPrefix.size());
    int owner = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), owner);
    if (ec != std::errc() || end != digits.data() + digits.size()) continue;
    const std::string dir = own.dir + "/" + name;
    if (owner != ::getpid()) {
      // A live memopt owns it; another program with that pid means the owner is gone.
      const auto comm = sys::read_optional(fmt::format("{}/{}/comm", procfs, owner));
      if (comm && comm->rfind("memopt", 0) == 0) continue;
    }
    if (kill_and_remove(dir)) {
      swept.push_back(dir);
    } else {
      problems.push_back(fmt::format("could not remove the leftover cgroup {}", dir));
    }
  }
  return swept;
}

std::vector<analysis::EnclosingCgroup> enclosing_cgroups(const readers::CgroupLocation& own) {
  std::vector<analysis::EnclosingCgroup> levels;
  const bool v1 = own.version == 1;
  std::string path = own.path.empty() ? "/" : own.path;
  for (std::string dir = own.dir; !dir.empty(); dir = parent_of(dir, own.mount)) {
    analysis::EnclosingCgroup level;
    level.path = path;
    level.dir = dir;
    const auto slash = path.rfind('/');
    path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    try {
      if (v1) {
        const auto limit = read_number(dir + "/memory.limit_in_bytes");
        if (limit && *limit < readers::kV1Unlimited) level.limit_bytes = limit;
      } else if (const auto text = sys::read_optional(dir + "/memory.max")) {
        level.limit_bytes = readers::parse_cgroup_limit(*text, dir + "/memory.max");
      }
      const auto usage = read_number(dir + (v1 ? "/memory.usage_in_bytes" : "/memory.current"));
      const auto stat_text = sys::read_optional(dir + "/memory.stat");
      if (usage && stat_text) {
        level.usage_bytes = *usage;
        level.inactive_file_bytes =
            readers::parse_cgroup_stat(*stat_text, own.version, dir + "/memory.stat")
                .inactive_file.value_or(0);
        levels.push_back(level);
      }
    } catch (const Error&) {
      // A level that does not parse cannot be judged; the others and the host still are.
      continue;
    }
  }
  return levels;
}

OomScope oom_scope(const std::optional<readers::CgroupLocation>& own) {
  OomScope scope{std::nullopt, "the host"};
  if (!own) return scope;
  const auto levels = enclosing_cgroups(*own);
  // Levels run innermost first: the last one with a limit is the container.
  std::optional<std::string> container_dir;
  std::optional<std::string> container_path;
  for (const auto& level : levels) {
    if (level.limit_bytes) {
      container_dir = level.dir;
      container_path = level.path;
    }
  }
  if (!container_dir) return scope;
  readers::CgroupLocation location = *own;
  location.dir = *container_dir;
  location.path = *container_path;
  return OomScope{location, "cgroup " + *container_path};
}

std::optional<std::uint64_t> count_oom_kills(const OomScope& scope, const std::string& procfs) {
  try {
    if (!scope.cgroup) {
      const std::string path = procfs + "/vmstat";
      const auto text = sys::read_optional(path);
      if (!text) return std::nullopt;
      const auto pos = text->find("\noom_kill ");
      if (pos == std::string::npos) return std::nullopt;  // Linux < 4.13
      const auto start = pos + 10;
      return readers::parse_cgroup_counter(
          std::string_view(*text).substr(start, text->find('\n', start) - start), path);
    }
    if (scope.cgroup->version == 1) {
      int budget = 10000;  // a bound on a pathological tree, not a limit any container meets
      return sum_v1_oom_kills(scope.cgroup->dir, 0, budget);
    }
    const std::string path = scope.cgroup->dir + "/memory.events";
    const auto text = sys::read_optional(path);
    if (!text) return std::nullopt;
    return readers::parse_oom_counters(*text, path).oom_kill;
  } catch (const Error&) {
    return std::nullopt;  // unknown, and said so, rather than a made-up 0
  }
}

}  // namespace memopt::actions
