#include "memopt/readers/cgroupfs.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/error.hpp"
#include "memopt/readers/mountinfo.hpp"
#include "memopt/readers/procfs.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

using detail::Lines;
using detail::next_field;
using detail::path_within;
using detail::to_u64;
using detail::trim;

std::optional<std::uint64_t> parse_cgroup_limit(std::string_view text, std::string_view source) {
  const std::string_view value = trim(text);
  if (value == "max") return std::nullopt;
  const auto number = to_u64(value);
  if (!number)
    throw parse_error(source, 1, fmt::format("expected a number or 'max', got '{}'", value));
  return number;
}

std::uint64_t parse_cgroup_counter(std::string_view text, std::string_view source) {
  const std::string_view value = trim(text);
  const auto number = to_u64(value);
  if (!number) throw parse_error(source, 1, fmt::format("expected a number, got '{}'", value));
  return *number;
}

namespace {

/// Calls `on(key, value)` for every "key value" line of a flat-keyed cgroup file.
template <typename F>
void for_each_key_value(std::string_view text, std::string_view source, F&& on) {
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    std::string_view rest = *line;
    const std::string_view key = next_field(rest);
    const std::string_view value = next_field(rest);
    const auto number = to_u64(value);
    if (key.empty() || !number || !trim(rest).empty()) {
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'key number', got '{}'", *line));
    }
    on(key, *number);
  }
}

}  // namespace

CgroupStat parse_cgroup_stat(std::string_view text, int version, std::string_view source) {
  CgroupStat stat;
  const bool v1 = version == 1;
  for_each_key_value(text, source, [&](std::string_view key, std::uint64_t value) {
    if (key == (v1 ? "total_inactive_file" : "inactive_file"))
      stat.inactive_file = value;
    else if (key == (v1 ? "total_active_file" : "active_file"))
      stat.active_file = value;
    else if (key == (v1 ? "total_rss" : "anon"))
      stat.anon = value;
    else if (key == (v1 ? "total_cache" : "file"))
      stat.file = value;
    else if (key == (v1 ? "total_shmem" : "shmem"))
      stat.shmem = value;
    else if (v1 && key == "hierarchical_memory_limit")
      stat.hierarchical_memory_limit = value;
    else if (v1 && key == "hierarchical_memsw_limit")
      stat.hierarchical_memsw_limit = value;
  });
  if (!stat.inactive_file) {
    throw parse_error(source, 0,
                      fmt::format("{} is missing", v1 ? "total_inactive_file" : "inactive_file"));
  }
  return stat;
}

OomCounters parse_oom_counters(std::string_view text, std::string_view source) {
  OomCounters counters;
  for_each_key_value(text, source, [&](std::string_view key, std::uint64_t value) {
    if (key == "oom")
      counters.oom = value;
    else if (key == "oom_kill")
      counters.oom_kill = value;
    else if (key == "under_oom")
      counters.under_oom = value != 0;
  });
  return counters;
}

namespace {

/// A memory controller hierarchy mounted under `<sysfs>/fs/cgroup`.
struct Hierarchy {
  int version = 0;
  std::string mount;  ///< e.g. "/sys/fs/cgroup/memory" or "/sys/fs/cgroup"
};

/// Where a process's cgroup path was found under a hierarchy's mount.
struct Resolved {
  std::string dir;
  bool remapped = false;  ///< leading components were dropped: not the path as it stands
};

/// Where `cgroup_path` lives under `mount`. When the path is not visible as it stands (a
/// container whose /sys/fs/cgroup is mounted at its own cgroup, without a cgroup namespace),
/// leading components are dropped until a directory with `probe` exists; the mount root last.
/// A remapped directory is only a guess: check_remap() decides whether it is the process's.
std::optional<Resolved> resolve(const std::string& mount, std::string_view cgroup_path,
                                const char* probe) {
  std::string_view rest = cgroup_path;
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  const std::string_view original = rest;
  for (;;) {
    std::string dir = rest.empty() ? mount : mount + "/" + std::string(rest);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (sys::exists(dir + "/" + probe)) return Resolved{std::move(dir), rest != original};
    if (rest.empty()) return std::nullopt;
    const auto slash = rest.find('/');
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  }
}

/// The directories from `dir` up to and including `mount`.
std::vector<std::string> self_and_ancestors(const std::string& dir, const std::string& mount) {
  std::vector<std::string> dirs{dir};
  std::string current = dir;
  while (current.size() > mount.size()) {
    current.erase(current.rfind('/'));
    dirs.push_back(current);
  }
  return dirs;
}

std::optional<std::uint64_t> min_limit(std::optional<std::uint64_t> a,
                                       std::optional<std::uint64_t> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

std::optional<std::uint64_t> read_counter(const std::string& path) {
  const auto text = sys::read_optional(path);
  if (!text) return std::nullopt;
  return parse_cgroup_counter(*text, path);
}

/// v1 values at or above kV1Unlimited are "no limit".
std::optional<std::uint64_t> v1_limit(std::optional<std::uint64_t> value) {
  if (value && *value >= kV1Unlimited) return std::nullopt;
  return value;
}

/// Runs `read` for an optional source: when it fails (unreadable, malformed) its values are
/// absent and a note `id` says which `what` is unknown and why (the file and line), instead
/// of the whole report ending. Only the usage and the limit are required.
template <typename F>
auto or_note(std::vector<model::Note>& notes, const char* id, std::string_view what, F&& read)
    -> decltype(read()) {
  try {
    return read();
  } catch (const Error& e) {
    notes.push_back({id, fmt::format("{} unknown: {}", what, e.what())});
    return {};
  }
}

void read_pressure(const std::string& path, model::CgroupMemory& cgroup,
                   std::vector<model::Note>& notes) {
  const auto text =
      or_note(notes, "psi_unreadable", "pressure", [&] { return sys::read_optional(path); });
  if (text) {
    cgroup.pressure = pressure_or_note(*text, path, notes);
  } else if (!sys::exists(path)) {
    notes.push_back(
        {"no_cgroup_psi", fmt::format("no cgroup pressure stall information: {} is absent", path)});
  }
}

/// memory.stat of the cgroup in `dir`; absent, with a note, when it is missing or malformed.
std::optional<CgroupStat> read_stat(const std::string& dir, int version,
                                    std::vector<model::Note>& notes,
                                    sys::KeptFiles* kept = nullptr) {
  const std::string path = dir + "/memory.stat";
  return or_note(notes, "memory_stat_unreadable",
                 "page cache, anon and shmem (the working set is the whole usage)",
                 [&]() -> std::optional<CgroupStat> {
                   const auto text =
                       kept != nullptr ? kept->read_optional(path) : sys::read_optional(path);
                   if (!text) throw Error(fmt::format("{} is absent", path));
                   return parse_cgroup_stat(*text, version, path);
                 });
}

/// A counter of an optional file; absent, with a note `id`, when the file is unreadable or
/// malformed; absent without one when it does not exist.
std::optional<std::uint64_t> optional_counter(const std::string& path, const char* id,
                                              std::string_view what,
                                              std::vector<model::Note>& notes) {
  return or_note(notes, id, what, [&] { return read_counter(path); });
}

/// Without memory.stat the inactive page cache is unknown and the working set is the whole
/// usage (as cAdvisor does): an over-estimate, never a made-up 0 for the cache.
void fill_stat(const std::optional<CgroupStat>& stat, model::CgroupMemory& cgroup) {
  cgroup.working_set_bytes = cgroup.usage_bytes;
  if (!stat) return;
  cgroup.inactive_file_bytes = stat->inactive_file;
  cgroup.active_file_bytes = stat->active_file;
  cgroup.anon_bytes = stat->anon;
  cgroup.file_bytes = stat->file;
  cgroup.shmem_bytes = stat->shmem;
  cgroup.working_set_bytes -= std::min(cgroup.usage_bytes, stat->inactive_file.value_or(0));
}

model::CgroupMemory read_v2(const std::string& dir, const std::string& mount, std::string path,
                            std::vector<model::Note>& notes) {
  model::CgroupMemory cgroup;
  cgroup.version = 2;
  cgroup.path = std::move(path);
  const std::string current_path = dir + "/memory.current";
  cgroup.usage_bytes = parse_cgroup_counter(sys::read_required(current_path), current_path);
  fill_stat(read_stat(dir, 2, notes), cgroup);

  bool swap_files = false;
  for (const auto& level : self_and_ancestors(dir, mount)) {
    if (const auto text = sys::read_optional(level + "/memory.max")) {
      cgroup.limit_bytes =
          min_limit(cgroup.limit_bytes, parse_cgroup_limit(*text, level + "/memory.max"));
    }
    const std::string swap_max = level + "/memory.swap.max";
    or_note(notes, "swap_unreadable", "swap limit", [&]() -> std::optional<int> {
      if (const auto text = sys::read_optional(swap_max)) {
        const auto limit = parse_cgroup_limit(*text, swap_max);
        swap_files = true;
        cgroup.swap_limit_bytes = min_limit(cgroup.swap_limit_bytes, limit);
      }
      return std::nullopt;
    });
  }
  cgroup.swap_usage_bytes =
      optional_counter(dir + "/memory.swap.current", "swap_unreadable", "swap use", notes);
  cgroup.swap_accounting = swap_files && cgroup.swap_usage_bytes.has_value();
  // A memory.swap.current that is there but odd has its own note.
  if (!cgroup.swap_accounting &&
      (cgroup.swap_usage_bytes || !sys::exists(dir + "/memory.swap.current"))) {
    notes.push_back(
        {"no_swap_accounting",
         fmt::format("swap use unknown: {}/memory.swap.current is absent (swap accounting off)",
                     dir)});
  }
  cgroup.peak_bytes = optional_counter(dir + "/memory.peak", "peak_unreadable", "peak", notes);
  if (!cgroup.peak_bytes && !sys::exists(dir + "/memory.peak")) {
    notes.push_back(
        {"no_peak", fmt::format("peak unknown: {}/memory.peak is absent (kernel < 5.19)", dir)});
  }
  const std::string events_path = dir + "/memory.events";
  const auto counters =
      or_note(notes, "oom_counters_unreadable", "OOM counts", [&]() -> std::optional<OomCounters> {
        const auto text = sys::read_optional(events_path);
        if (!text) return std::nullopt;
        return parse_oom_counters(*text, events_path);
      });
  if (counters) {
    cgroup.oom_events = counters->oom;
    cgroup.oom_kill_events = counters->oom_kill;
  }
  read_pressure(dir + "/memory.pressure", cgroup, notes);
  return cgroup;
}

model::CgroupMemory read_v1(const std::string& dir, const std::string& mount, std::string path,
                            const std::optional<std::string>& pressure_dir,
                            std::vector<model::Note>& notes) {
  model::CgroupMemory cgroup;
  cgroup.version = 1;
  cgroup.path = std::move(path);
  const std::string usage_path = dir + "/memory.usage_in_bytes";
  cgroup.usage_bytes = parse_cgroup_counter(sys::read_required(usage_path), usage_path);
  const auto stat = read_stat(dir, 1, notes);
  fill_stat(stat, cgroup);

  // hierarchical_memory_limit already folds in the ancestors (with use_hierarchy, the
  // default); without it, walk the visible ancestors ourselves.
  if (stat && stat->hierarchical_memory_limit) {
    cgroup.limit_bytes = v1_limit(stat->hierarchical_memory_limit);
  } else {
    for (const auto& level : self_and_ancestors(dir, mount)) {
      cgroup.limit_bytes =
          min_limit(cgroup.limit_bytes, v1_limit(read_counter(level + "/memory.limit_in_bytes")));
    }
  }

  const std::string memsw_path = dir + "/memory.memsw.usage_in_bytes";
  if (const auto memsw = optional_counter(memsw_path, "swap_unreadable", "swap use", notes)) {
    cgroup.swap_accounting = true;
    cgroup.swap_usage_bytes = *memsw - std::min(*memsw, cgroup.usage_bytes);
    auto memsw_limit = v1_limit(stat ? stat->hierarchical_memsw_limit : std::nullopt);
    if (!stat || !stat->hierarchical_memsw_limit) {
      memsw_limit = v1_limit(optional_counter(dir + "/memory.memsw.limit_in_bytes",
                                              "swap_unreadable", "swap limit", notes));
    }
    if (memsw_limit && cgroup.limit_bytes) {
      cgroup.swap_limit_bytes = *memsw_limit - std::min(*memsw_limit, *cgroup.limit_bytes);
    }
  } else if (!sys::exists(memsw_path)) {
    notes.push_back(
        {"no_swap_accounting",
         fmt::format("swap use unknown: {}/memory.memsw.usage_in_bytes is absent (swapaccount=0)",
                     dir)});
  }
  cgroup.peak_bytes =
      optional_counter(dir + "/memory.max_usage_in_bytes", "peak_unreadable", "peak", notes);
  const std::string oom_path = dir + "/memory.oom_control";
  const auto counters =
      or_note(notes, "oom_counters_unreadable", "OOM counts", [&]() -> std::optional<OomCounters> {
        const auto text = sys::read_optional(oom_path);
        if (!text) return std::nullopt;
        return parse_oom_counters(*text, oom_path);
      });
  if (counters) {
    cgroup.oom_kill_events = counters->oom_kill;
    cgroup.under_oom = counters->under_oom;
  }
  if (pressure_dir) {
    read_pressure(*pressure_dir + "/memory.pressure", cgroup, notes);
  } else {
    notes.push_back({"no_cgroup_psi",
                     "no cgroup pressure stall information: cgroup v1 has none and no v2 cgroup "
                     "of the same path is visible"});
  }
  return cgroup;
}

/// The hierarchies `<procfs>/self/mountinfo` names, mapped under the roots; none when it is
/// absent or malformed (then the usual paths are probed).
CgroupHierarchies mounted_hierarchies(const Roots& roots) {
  const std::string path = roots.procfs + "/self/mountinfo";
  try {
    const auto text = sys::read_optional(path);
    if (!text) return {};
    return cgroup_hierarchies(parse_mountinfo(*text, path), roots);
  } catch (const Error&) {
    return {};  // the usual paths below still find a hierarchy mounted where it usually is
  }
}

/// The v1 hierarchy that carries the memory controller ("memory", or a co-mount such as
/// "memory,hugetlb"), if mounted: where mountinfo says, else at the usual paths.
std::optional<std::string> find_v1_memory_mount(const Roots& roots) {
  if (auto mounted = mounted_hierarchies(roots).v1_memory) return mounted;
  const std::string cgroup_root = roots.sysfs + "/fs/cgroup";
  if (sys::exists(cgroup_root + "/memory/memory.usage_in_bytes")) return cgroup_root + "/memory";
  for (const auto& name : sys::list_directory(cgroup_root)) {
    std::string_view rest = name;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (rest.substr(0, comma) == "memory" &&
          sys::exists(cgroup_root + "/" + name + "/memory.usage_in_bytes")) {
        return cgroup_root + "/" + name;
      }
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    }
  }
  return std::nullopt;
}

/// The cgroup2 mount: where mountinfo says, else `<sysfs>/fs/cgroup` itself (unified), else
/// `.../unified` (hybrid).
std::optional<std::string> find_v2_mount(const Roots& roots) {
  if (auto mounted = mounted_hierarchies(roots).v2) return mounted;
  const std::string cgroup_root = roots.sysfs + "/fs/cgroup";
  for (std::string dir : {cgroup_root, cgroup_root + "/unified"}) {
    if (sys::exists(dir + "/cgroup.controllers")) return dir;
  }
  return std::nullopt;
}

}  // namespace

namespace {

bool has_controller(const CgroupLine& line, std::string_view name) {
  return std::find(line.controllers.begin(), line.controllers.end(), name) !=
         line.controllers.end();
}

/// `parent` joined with a child cgroup's `name`, as /proc/PID/cgroup writes paths ("/" + "a" is
/// "/a").
std::string child_path(const std::string& parent, const std::string& name) {
  return (parent == "/" ? "" : parent) + "/" + name;
}

/// Visits the cgroup directory `dir` (the cgroup `path`) and every cgroup below it, depth
/// first. `visit(dir, path, children)` gets the names of the directory's subdirectories and
/// returns false to end the walk. The one tree walk: membership, listings and leaves use it.
template <typename Visit>
void walk_cgroups(const std::string& dir, const std::string& path, Visit&& visit) {
  std::vector<std::pair<std::string, std::string>> pending{{dir, path}};
  std::vector<std::string> children;
  while (!pending.empty()) {
    auto [here, at] = std::move(pending.back());
    pending.pop_back();
    children.clear();
    for (auto& name : sys::list_directory(here)) {
      if (sys::is_directory(here + "/" + name)) children.push_back(std::move(name));
    }
    if (!visit(here, at, children)) return;
    for (const auto& name : children) pending.emplace_back(here + "/" + name, child_path(at, name));
  }
}

/// Calls `on(pid)` for each pid the cgroup.procs file in `dir` lists.
template <typename On>
void for_each_listed_pid(const std::string& dir, std::string& buffer, On&& on) {
  if (sys::read_into(dir + "/cgroup.procs", buffer) != 0) return;
  Lines lines(buffer);
  while (const auto line = lines.next()) {
    if (const auto id = to_u64(trim(*line)); id && *id <= 0x7fffffff) on(static_cast<int>(*id));
  }
}

/// The cgroup (a path under `mount`) whose cgroup.procs lists `pid`, found by walking the
/// tree. For a process outside memopt's cgroup namespace (a sidecar's view of the model's
/// container on cgroup v2: its /proc/PID/cgroup reads "0::/../ctr"), with the host's cgroup
/// tree mounted at `--sysfs`: cgroup.procs lists pids as this pid namespace sees them.
std::optional<std::string> find_cgroup_listing(const std::string& mount, int pid) {
  std::optional<std::string> found;
  std::string procs;
  walk_cgroups(mount, "/", [&](const std::string& dir, const std::string& path, const auto&) {
    for_each_listed_pid(dir, procs, [&](int listed) {
      if (listed == pid && !found) found = path;
    });
    return !found;
  });
  return found;
}

/// A path outside this cgroup namespace ("/../ctr") resolved by looking for `pid` in the tree.
void resolve_outside_namespace(std::vector<CgroupLine>& lines, const Roots& roots, int pid,
                               std::vector<model::Note>& notes) {
  for (auto& line : lines) {
    if (line.path.rfind("/..", 0) != 0) continue;
    const bool v2 = line.hierarchy_id == 0 && line.controllers.empty();
    std::optional<std::string> mount =
        v2 ? find_v2_mount(roots)
           : (has_controller(line, "memory") ? find_v1_memory_mount(roots) : std::nullopt);
    if (!mount) continue;
    if (auto found = find_cgroup_listing(*mount, pid)) {
      notes.push_back({"cgroup_found_by_pid",
                       fmt::format("pid {}'s cgroup {} lies outside this cgroup namespace; found "
                                   "it as {} under {}",
                                   pid, line.path, *found, *mount)});
      line.path = std::move(*found);
    }
  }
}

/// Whether `dir` is a hierarchy's real root, not a container's cgroup mounted as the root: the
/// kernel writes cgroup.sane_behavior and release_agent (v1) only at the root, and the v2 root
/// has no memory.current.
bool hierarchy_root(const std::string& dir, int version) {
  if (version == 2) return !sys::exists(dir + "/memory.current");
  return sys::exists(dir + "/cgroup.sane_behavior") || sys::exists(dir + "/release_agent");
}

/// Why a remapped directory (resolve()) is not the cgroup of process `pid` (absent when
/// unknown), or nothing when it is: a directory found by dropping components is a guess
/// that must not turn into the host's root cgroup or another container.
std::optional<std::string> check_remap(const Resolved& resolved, const std::string& mount,
                                       int version, std::optional<int> pid) {
  if (!resolved.remapped) return std::nullopt;
  if (resolved.dir == mount && hierarchy_root(mount, version)) {
    return fmt::format("{} is the hierarchy's root cgroup, not the process's", mount);
  }
  if (!pid || !sys::exists(resolved.dir + "/cgroup.procs")) return std::nullopt;
  std::string procs;
  bool listed = false;
  for_each_listed_pid(resolved.dir, procs, [&](int p) { listed = listed || p == *pid; });
  if (listed) return std::nullopt;
  return fmt::format("{}/cgroup.procs does not list pid {}", resolved.dir, *pid);
}

/// The location of the cgroup a process's cgroup file names (`source`: that file; `pid`: the
/// process as cgroup.procs lists it, absent when unknown, as in a captured tree).
TargetCgroup locate_from_lines(const Roots& roots, const std::vector<CgroupLine>& lines,
                               const std::string& source, std::optional<int> pid,
                               std::vector<model::Note>& notes) {
  const CgroupLine* v1_memory = nullptr;
  const CgroupLine* v2 = nullptr;
  bool any_v1 = false;
  for (const auto& line : lines) {
    if (line.hierarchy_id == 0 && line.controllers.empty()) {
      v2 = &line;
    } else {
      any_v1 = true;
    }
    if (has_controller(line, "memory")) v1_memory = &line;
  }

  const std::string cgroup_root = roots.sysfs + "/fs/cgroup";
  const auto v2_mount = find_v2_mount(roots);
  std::optional<Resolved> v2_dir;
  if (v2 && v2_mount) v2_dir = resolve(*v2_mount, v2->path, "cgroup.procs");

  TargetCgroup result;
  // Never the root by fallback: a path that is not under the mount is unknown.
  const auto not_found = [&](const CgroupLine& line, const std::string& mount,
                             const std::string& why) {
    result.unreadable = fmt::format(
        "{} names the cgroup {}, which is not under {} ({}): the cgroup was removed, or "
        "{} is not the cgroup tree this process sees",
        source, line.path, mount, why, cgroup_root);
    return result;
  };
  const auto remapped_note = [&](const CgroupLine& line, const std::string& mount,
                                 const std::string& dir) {
    notes.push_back({"cgroup_path_remapped",
                     fmt::format("cgroup {} is not visible under {}; read {} instead (a container "
                                 "without a cgroup namespace)",
                                 line.path, mount, dir)});
  };
  if (v1_memory) {
    const auto mount = find_v1_memory_mount(roots);
    if (!mount) {
      result.unreadable = fmt::format(
          "{} names the v1 memory cgroup {} but no memory hierarchy is mounted under {}", source,
          v1_memory->path, cgroup_root);
      return result;
    }
    const auto dir = resolve(*mount, v1_memory->path, "memory.usage_in_bytes");
    if (!dir) return not_found(*v1_memory, *mount, "no directory on its path has memory files");
    if (auto why = check_remap(*dir, *mount, 1, pid)) {
      return not_found(*v1_memory, *mount, *mount + v1_memory->path + " does not exist; " + *why);
    }
    if (dir->remapped) remapped_note(*v1_memory, *mount, dir->dir);
    CgroupLocation location{1, *mount, dir->dir, v1_memory->path, std::nullopt};
    // On a hybrid host the v2 tree carries PSI, but only a v2 cgroup with the same path is
    // this container; another one (often the root) would be someone else's pressure.
    if (v2_dir && v2->path == v1_memory->path && !v2_dir->remapped) {
      location.pressure_dir = v2_dir->dir;
    }
    result.location = std::move(location);
    return result;
  }
  if (v2_dir) {
    if (auto why = check_remap(*v2_dir, *v2_mount, 2, pid)) {
      return not_found(*v2, *v2_mount, *v2_mount + v2->path + " does not exist; " + *why);
    }
    // The root cgroup has no memory.current: then there is no container limit to find.
    if (sys::exists(v2_dir->dir + "/memory.current")) {
      if (v2_dir->remapped) remapped_note(*v2, *v2_mount, v2_dir->dir);
      result.location = CgroupLocation{2, *v2_mount, v2_dir->dir, v2->path, v2_dir->dir};
      return result;
    }
  }
  // A v2-only host whose cgroup tree is not there to read: the process is in a cgroup that
  // may well have a limit, and the host's figures would pass for the container's.
  if (v2 && v2->path != "/" && !any_v1 && !v2_mount) {
    result.unreadable = fmt::format(
        "{} names the cgroup {} but no cgroup2 hierarchy is mounted "
        "under {}",
        source, v2->path, cgroup_root);
    return result;
  }
  notes.push_back({"no_memory_controller",
                   fmt::format("no cgroup memory controller found for this process under {}; "
                               "figures are the host's",
                               cgroup_root)});
  return result;
}

/// A cgroup named by the user: a directory under a memory hierarchy's mount, or a cgroup path
/// looked up in the memory hierarchy (v1 where mounted, else v2). Exact: no remapping.
TargetCgroup locate_named(const Roots& roots, const std::string& name) {
  const std::string cgroup_root = roots.sysfs + "/fs/cgroup";
  const auto v1_mount = find_v1_memory_mount(roots);
  const auto v2_mount = find_v2_mount(roots);
  TargetCgroup result;
  auto located = [&](int version, const std::string& mount, const std::string& path) {
    const std::string dir = path == "/" ? mount : mount + path;
    const char* probe = version == 1 ? "/memory.usage_in_bytes" : "/memory.current";
    if (!sys::exists(dir + probe)) {
      result.unreadable =
          sys::is_directory(dir)
              ? fmt::format("cgroup {} has no memory controller ({}{} is absent)", name, dir, probe)
              : fmt::format("cgroup {} not found: {} does not exist", name, dir);
      return;
    }
    CgroupLocation location{version, mount, dir, path, std::nullopt};
    if (version == 2) {
      location.pressure_dir = dir;
    } else if (v2_mount && sys::exists(*v2_mount + path + "/cgroup.procs")) {
      location.pressure_dir = *v2_mount + path;  // a hybrid host's v2 twin of the same path
    }
    result.location = std::move(location);
  };
  for (const auto& [version, mount] : {std::pair{1, v1_mount}, std::pair{2, v2_mount}}) {
    if (mount && path_within(name, *mount)) {
      located(version, *mount, name.size() == mount->size() ? "/" : name.substr(mount->size()));
      return result;
    }
  }
  if (path_within(name, cgroup_root)) {
    result.unreadable =
        fmt::format("{} is not inside a memory cgroup hierarchy ({}{})", name,
                    v1_mount ? *v1_mount : std::string(),
                    v2_mount ? (v1_mount ? " or " : "") + *v2_mount : std::string());
    return result;
  }
  if (v1_mount) {
    located(1, *v1_mount, name);
  } else if (v2_mount) {
    located(2, *v2_mount, name);
  } else {
    result.unreadable = fmt::format(
        "cannot find cgroup {}: no memory cgroup hierarchy is mounted under {}", name, cgroup_root);
  }
  return result;
}

}  // namespace

TargetCgroup locate_target(const Roots& roots, const model::Target& target,
                           std::vector<model::Note>& notes) {
  switch (target.kind) {
    case model::Target::Kind::kHost:
      return {};
    case model::Target::Kind::kCgroup:
      return locate_named(roots, target.cgroup);
    case model::Target::Kind::kSelf:
    case model::Target::Kind::kPid:
      break;
  }
  const bool by_pid = target.kind == model::Target::Kind::kPid;
  const std::string dir =
      roots.procfs + (by_pid ? "/" + std::to_string(target.pid) : std::string("/self"));
  const std::string source = dir + "/cgroup";
  const auto text = sys::read_optional(source);
  if (!text) {
    if (by_pid) {
      return {std::nullopt, fmt::format("no process {}: {} is absent", target.pid, source), true};
    }
    notes.push_back({"no_cgroup", fmt::format("no cgroup information: {} is absent", source)});
    return {};
  }
  // Read after the cgroup file: a process that had begun to exit when that was read is seen
  // exiting here. An exiting process's /proc/PID/cgroup reads "/" on v1 (and its v2 path may
  // end in " (deleted)"): the host's root cgroup is never the answer for it.
  std::optional<int> pid;
  const std::string stat_path = dir + "/stat";
  if (const auto stat = sys::read_optional(stat_path)) {
    if (by_pid) {
      const auto state = parse_proc_stat(*stat, stat_path);
      if (state.dead() || state.exiting()) {
        return {std::nullopt,
                fmt::format("process {} has exited ({}: {}); the cgroup it was in is not known "
                            "from it any more",
                            target.pid, stat_path,
                            state.dead()
                                ? fmt::format("state {}, a zombie not yet reaped by its parent",
                                              state.state)
                                : std::string("exiting")),
                true};
      }
      pid = target.pid;
    } else {
      std::string_view rest = *stat;
      if (const auto id = to_u64(next_field(rest)); id && *id <= 0x7fffffff) {
        pid = static_cast<int>(*id);
      }
    }
  } else if (by_pid && sys::exists(roots.procfs + "/self/stat")) {
    // A live procfs (it has /self/stat) without the pid's stat: it exited just now.
    return {std::nullopt, fmt::format("process {} has exited: {} is absent", target.pid, stat_path),
            true};
  }
  auto lines = parse_proc_cgroup(*text, source);
  for (const auto& line : lines) {
    constexpr std::string_view kDeleted = " (deleted)";
    if (line.path.size() > kDeleted.size() &&
        line.path.compare(line.path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0) {
      return {std::nullopt,
              fmt::format("{} names the cgroup {}, which was removed", source, line.path), true};
    }
  }
  if (by_pid) {
    resolve_outside_namespace(lines, roots, target.pid, notes);
  }
  for (const auto& line : lines) {
    if (line.path.rfind("/..", 0) == 0 &&
        (has_controller(line, "memory") || (line.hierarchy_id == 0 && line.controllers.empty()))) {
      return {std::nullopt,
              fmt::format("{} names {}, outside memopt's cgroup namespace: mount the host's "
                          "cgroup tree and pass --sysfs (see docs/deploy.md)",
                          source, line.path)};
    }
  }
  return locate_from_lines(roots, lines, source, pid, notes);
}

std::optional<CgroupLocation> locate_cgroup(const Roots& roots, std::vector<model::Note>& notes) {
  auto target = locate_target(roots, model::Target{}, notes);
  if (target.unreadable) {
    notes.push_back({"cgroup_unreadable", *target.unreadable});
  }
  return std::move(target.location);
}

CgroupMembership::CgroupMembership(const CgroupLocation& location)
    : version_(location.version), path_(location.path), dir_(location.dir) {}

std::optional<bool> CgroupMembership::contains(std::string_view cgroup_file) const {
  // Parsed by hand, not with parse_proc_cgroup: this runs for every process of every sample.
  detail::Lines lines(cgroup_file);
  while (const auto line = lines.next()) {
    const auto first = line->find(':');
    const auto second = first == std::string_view::npos ? first : line->find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view controllers = line->substr(first + 1, second - first - 1);
    bool ours = false;
    if (version_ == 2) {
      ours = line->substr(0, first) == "0" && controllers.empty();
    } else {
      std::string_view rest = controllers;
      while (!rest.empty() && !ours) {
        const auto comma = rest.find(',');
        ours = rest.substr(0, comma) == "memory";
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
      }
    }
    if (!ours) continue;
    const std::string_view path = line->substr(second + 1);
    if (path.substr(0, 3) == "/..") return std::nullopt;
    return path_within(path, path_);
  }
  return false;
}

std::optional<bool> CgroupMembership::contains_pid(const std::string& procfs, int pid) const {
  if (sys::read_into(fmt::format("{}/{}/cgroup", procfs, pid), buffer_) != 0) return std::nullopt;
  if (const auto inside = contains(buffer_)) return inside;
  if (!listed_) {
    listed_.emplace();
    walk_cgroups(dir_, path_, [&](const std::string& dir, const std::string&, const auto&) {
      for_each_listed_pid(dir, buffer_, [&](int listed) { listed_->push_back(listed); });
      return true;
    });
  }
  return std::find(listed_->begin(), listed_->end(), pid) != listed_->end();
}

std::optional<std::vector<int>> read_member_pids(const CgroupLocation& location) {
  std::vector<int> pids;
  std::string buffer;
  bool complete = true;
  walk_cgroups(location.dir, location.path,
               [&](const std::string& dir, const std::string&, const auto&) {
                 if (sys::read_into(dir + "/cgroup.procs", buffer) != 0) {
                   complete = false;  // vanished, or not a cgroup: each process is asked instead
                   return false;
                 }
                 Lines lines(buffer);
                 while (const auto line = lines.next()) {
                   const auto id = to_u64(trim(*line));
                   if (id && *id > 0 && *id <= 0x7fffffff) pids.push_back(static_cast<int>(*id));
                 }
                 return true;
               });
  if (!complete) return std::nullopt;
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::vector<CgroupLocation> list_leaf_cgroups(const Roots& roots,
                                              const std::optional<CgroupLocation>& under,
                                              std::vector<model::Note>& notes,
                                              std::size_t max_leaves) {
  CgroupLocation base;
  if (under) {
    base = *under;
  } else {
    const std::string cgroup_root = roots.sysfs + "/fs/cgroup";
    if (const auto v1 = find_v1_memory_mount(roots)) {
      base = {1, *v1, *v1, "/", std::nullopt};
    } else if (const auto v2 = find_v2_mount(roots)) {
      base = {2, *v2, *v2, "/", *v2};
    } else {
      notes.push_back(
          {"no_memory_controller", fmt::format("no memory cgroup hierarchy is mounted under {}: no "
                                               "containers to list",
                                               cgroup_root)});
      return {};
    }
  }
  const char* probe = base.version == 1 ? "/memory.usage_in_bytes" : "/memory.current";
  std::vector<CgroupLocation> leaves;
  walk_cgroups(base.dir, base.path,
               [&](const std::string& dir, const std::string& path,
                   const std::vector<std::string>& children) {
                 const bool leaf =
                     path != "/" && sys::exists(dir + probe) &&
                     std::none_of(children.begin(), children.end(), [&](const std::string& name) {
                       return sys::exists(dir + "/" + name + probe);
                     });
                 if (!leaf) return true;
                 if (leaves.size() == max_leaves) {
                   notes.push_back(
                       {"too_many_cgroups",
                        fmt::format("more than {} leaf cgroups under {}: the rest are not listed",
                                    max_leaves, base.dir)});
                   return false;
                 }
                 CgroupLocation location{base.version, base.mount, dir, path, std::nullopt};
                 if (base.version == 2) location.pressure_dir = dir;
                 leaves.push_back(std::move(location));
                 return true;
               });
  return leaves;
}

model::CgroupMemory read_cgroup_at(const CgroupLocation& location,
                                   std::vector<model::Note>& notes) {
  if (location.version == 1) {
    return read_v1(location.dir, location.mount, location.path, location.pressure_dir, notes);
  }
  return read_v2(location.dir, location.mount, location.path, notes);
}

CgroupCounters read_cgroup_counters(const CgroupLocation& location, sys::KeptFiles* kept) {
  const bool v1 = location.version == 1;
  CgroupCounters counters;
  const std::string usage_path = location.dir + (v1 ? "/memory.usage_in_bytes" : "/memory.current");
  counters.usage_bytes = parse_cgroup_counter(
      kept != nullptr ? kept->read_required(usage_path) : sys::read_required(usage_path),
      usage_path);
  // The notes were given by the full read (read_cgroup_at); the monitor reads these often.
  std::vector<model::Note> ignored;
  const auto stat = read_stat(location.dir, location.version, ignored, kept);
  const std::uint64_t inactive = stat ? stat->inactive_file.value_or(0) : 0;
  counters.working_set_bytes = counters.usage_bytes - std::min(counters.usage_bytes, inactive);
  const std::string oom_path = location.dir + (v1 ? "/memory.oom_control" : "/memory.events");
  counters.oom_kill_events = or_note(
      ignored, "oom_counters_unreadable", "OOM counts", [&]() -> std::optional<std::uint64_t> {
        const auto text =
            kept != nullptr ? kept->read_optional(oom_path) : sys::read_optional(oom_path);
        if (!text) return std::nullopt;
        return parse_oom_counters(*text, oom_path).oom_kill;
      });
  return counters;
}

std::optional<model::CgroupMemory> read_cgroup(const Roots& roots,
                                               std::vector<model::Note>& notes) {
  const auto location = locate_cgroup(roots, notes);
  if (!location) return std::nullopt;
  return read_cgroup_at(*location, notes);
}

}  // namespace memopt::readers
