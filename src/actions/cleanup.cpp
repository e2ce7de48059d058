#include "memopt/actions/cleanup.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "memopt/actions/socket_client.hpp"
#include "memopt/analysis/gpu_verdicts.hpp"
#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/readers/shm.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/sys/socket.hpp"  // cleanup_socket_name
#include "memopt/units.hpp"

namespace memopt::actions {

namespace {

bool is_permission_errno(int err) { return err == EACCES || err == EPERM || err == EROFS; }

std::optional<std::uint64_t> process_rss(const Roots& roots, int pid) {
  const auto path = roots.procfs + "/" + std::to_string(pid) + "/statm";
  std::string text;
  if (sys::read_into(path, text) != 0) return std::nullopt;
  return readers::parse_statm_rss(text, roots.page_size_bytes, path);
}

// What the container is charged (page cache included), else the host's use.
std::uint64_t charged(const MemoryState& state) {
  return state.container_usage_bytes.value_or(state.host_used_bytes);
}

std::int64_t drop(std::uint64_t before, std::uint64_t after) {
  return static_cast<std::int64_t>(before) - static_cast<std::int64_t>(after);
}

// The measure a step's release is judged by: the working set the level uses, else the host's
// use (which leaves reclaimable cache out already).
std::uint64_t working_set(const MemoryState& state) {
  return state.container_usage_bytes
             ? state.container_working_set_bytes.value_or(*state.container_usage_bytes)
             : state.host_used_bytes;
}

// Held around each step's measure-act-measure: a shed (the protector's thread) and an
// auto-cleanup (the engine's) that run at once take turns, so the bytes one step freed fall in
// its window alone and are never claimed again by another step.
std::mutex& step_mutex() {
  static std::mutex mutex;
  return mutex;
}

// Measures `act` alone: sets the step's usage and working-set drops.
template <typename Act>
auto measured(const Roots& roots, const model::Target& target, CleanupStepReport& step, Act&& act) {
  const std::lock_guard lock(step_mutex());
  const auto before = read_memory_state(roots, target);
  auto result = act();
  const auto after = read_memory_state(roots, target);
  step.reclaimed_bytes = drop(charged(before), charged(after));
  step.released_bytes = drop(working_set(before), working_set(after));
  return result;
}

// Writes `value` to a kernel control file as one step, measured around the write.
CleanupStepReport write_step(const Roots& roots, Actuator& actuator, const CleanupOptions& options,
                             std::string name, const std::string& path, const std::string& value) {
  CleanupStepReport step{std::move(name), "", "", std::nullopt};
  if (!sys::exists(path)) {
    step.status = "skipped";
    step.reason = path + " does not exist here";
    return step;
  }
  if (options.dry_run) {
    if (!sys::is_writable(path)) {
      step.status = "skipped";
      step.reason = "needs admin rights: " + path + " is not writable here";
    } else {
      step.status = "planned";
      step.reason = "would write '" + value + "' to " + path;
    }
    [[maybe_unused]] const int recorded = actuator.write(path, value);
    return step;
  }
  const int err =
      measured(roots, options.target, step, [&] { return actuator.write(path, value); });
  if (err == 0) {
    step.status = "done";
  } else if (err == EAGAIN) {
    // memory.reclaim: the kernel reclaimed less than asked, which is not a failure.
    step.status = "done";
    step.reason = "the kernel reclaimed less than the " + value + " bytes asked";
  } else if (is_permission_errno(err)) {
    step.reclaimed_bytes.reset();  // nothing ran: what moved meanwhile is not the step's
    step.released_bytes.reset();
    step.status = "skipped";
    step.reason = "needs admin rights: cannot write " + path + " (" + sys::error_text(err) + ")";
  } else {
    step.reclaimed_bytes.reset();
    step.released_bytes.reset();
    step.status = "failed";
    step.reason = "writing '" + value + "' to " + path + ": " + sys::error_text(err);
  }
  return step;
}

// The uid a process runs as: the owner of <procfs>/<pid> (absent when it exited).
std::optional<uid_t> process_uid(const Roots& roots, int pid) {
  uid_t uid = 0;
  mode_t mode = 0;
  if (!sys::file_owner(roots.procfs + "/" + std::to_string(pid), uid, mode)) return std::nullopt;
  return uid;
}

}  // namespace

std::vector<CleanupSocket> find_cleanup_sockets(const Roots& roots, const model::Target& target,
                                                const std::vector<std::string>& runtime_dirs,
                                                std::size_t& stale) {
  std::optional<readers::CgroupMembership> members;
  if (target.kind != model::Target::Kind::kHost) {
    std::vector<model::Note> notes;
    auto located = readers::locate_target(roots, target, notes);
    if (located.unreadable) return {};  // an unknown target: nobody is its process
    if (located.location &&
        (target.kind == model::Target::Kind::kPid || target.kind == model::Target::Kind::kCgroup)) {
      members.emplace(*located.location);
    }
  }
  std::vector<CleanupSocket> found;
  for (const auto& dir : runtime_dirs) {
    uid_t dir_owner = 0;
    mode_t dir_mode = 0;
    if (!sys::file_owner(dir, dir_owner, dir_mode)) continue;
    for (const auto& entry : sys::list_directory(dir)) {
      const auto pid = sys::cleanup_socket_pid(entry);
      if (!pid) continue;
      const auto uid = process_uid(roots, *pid);
      if (!uid) {
        ++stale;  // the process exited without stopping its server
        continue;
      }
      if (members && !members->contains_pid(roots.procfs, *pid).value_or(false)) continue;
      // A process with a socket in two runtime directories is one process, asked once.
      if (std::any_of(found.begin(), found.end(), [&](const auto& s) { return s.pid == *pid; }))
        continue;
      found.push_back({*pid, dir + "/" + entry, *uid, dir_owner});
    }
  }
  return found;
}

namespace {

CleanupStepReport cooperative_step(const Roots& roots, const CleanupOptions& options,
                                   std::vector<CooperatingProcess>& processes,
                                   std::size_t& stale_sockets) {
  CleanupStepReport step{"cooperative", "", "", std::nullopt};
  const uid_t own_uid = sys::effective_uid();
  std::vector<uid_t> expected_uids;
  for (const auto& socket :
       find_cleanup_sockets(roots, options.target, options.runtime_dirs, stale_sockets)) {
    CooperatingProcess process;
    process.pid = socket.pid;
    process.socket = socket.path;
    process.name = readers::read_process_name(roots, socket.pid);
    process.rss_before_bytes = process_rss(roots, socket.pid);
    if (own_uid != 0 && socket.process_uid != own_uid) {
      process.status = "skipped";
      process.reason = fmt::format("another user's process (uid {})", socket.process_uid);
    }
    processes.push_back(std::move(process));
    expected_uids.push_back(socket.dir_owner);
  }
  const std::string stale =
      stale_sockets == 0
          ? std::string()
          : fmt::format("; {} stale socket(s) of exited processes skipped", stale_sockets);
  if (processes.empty()) {
    step.status = "skipped";
    step.reason = "no process registered with serve_cleanup()" + stale;
    return step;
  }
  // All at once, under one deadline: a process that never answers costs the timeout once,
  // not once per process. A dry run only pings: a stale socket is not a process to ask. The
  // server must be who the socket's name and directory say (SO_PEERCRED: the pid in the name,
  // the directory owner's uid), and its answer must be possible (it cannot release more than
  // it held).
  const auto ask_all = [&](const std::string& request) {
    std::vector<SocketQuestion> questions;
    std::vector<std::size_t> asked;
    for (std::size_t i = 0; i < processes.size(); ++i) {
      if (!processes[i].status.empty()) continue;  // skipped already
      questions.push_back({processes[i].pid, processes[i].socket, expected_uids[i], request});
      asked.push_back(i);
    }
    const auto replies = ask_sockets(questions, options.request_timeout);
    for (std::size_t k = 0; k < asked.size(); ++k) {
      auto& process = processes[asked[k]];
      const auto& reply = replies[k];
      if (request != protocol::request_name(protocol::Request::kPing)) {
        process.rss_after_bytes = process_rss(roots, process.pid);
      }
      if (reply.answer) {
        apply_cleanup_answer(*reply.answer, request, process);
      } else {
        process.status = reply.stale ? "skipped" : "failed";
        process.reason = reply.failure;
      }
    }
    return asked.size();
  };
  if (options.dry_run) {
    (void)ask_all(std::string(protocol::request_name(protocol::Request::kPing)));
    const auto listening = static_cast<std::size_t>(std::count_if(
        processes.begin(), processes.end(), [](const auto& p) { return p.status == "planned"; }));
    step.status = listening > 0 ? "planned" : "skipped";
    step.reason = listening > 0 ? "would ask " + std::to_string(listening) +
                                      " process(es) to clean up" + stale
                                : "no process listens for a cleanup request" + stale;
    return step;
  }
  const auto asked =
      measured(roots, options.target, step, [&] { return ask_all(options.request); });
  std::size_t done = 0;
  std::size_t failed = 0;
  for (const auto& process : processes) {
    if (process.status == "done") ++done;
    if (process.status == "failed") ++failed;
  }
  // Only stale sockets or other users' processes is nothing to do.
  step.status = done > 0 ? "done" : failed > 0 ? "failed" : "skipped";
  step.reason =
      std::to_string(done) + " of " + std::to_string(asked) + " process(es) asked " +
      (options.request == protocol::request_name(protocol::Request::kShed) ? "shed"
                                                                           : "cleaned up") +
      stale;
  return step;
}

CleanupStepReport reclaim_step(const Roots& roots, Actuator& actuator,
                               const CleanupOptions& options) {
  std::vector<model::Note> notes;
  auto target = readers::locate_target(roots, options.target, notes);
  if (target.unreadable) return {"cgroup_reclaim", "failed", *target.unreadable, std::nullopt};
  const auto& location = target.location;
  if (!location) return {"cgroup_reclaim", "skipped", "no memory cgroup found", std::nullopt};
  if (location->version != 2) {
    return {"cgroup_reclaim", "skipped", "cgroup v1 has no memory.reclaim", std::nullopt};
  }
  const auto path = location->dir + "/memory.reclaim";
  if (!sys::exists(path)) {
    return {"cgroup_reclaim", "skipped", "memory.reclaim is absent (needs Linux 5.19+)",
            std::nullopt};
  }
  // Ask for the page cache: proactive reclaim of that much takes clean cache first.
  std::uint64_t amount = 0;
  try {
    const auto memory = readers::read_cgroup_at(*location, notes);
    amount = memory.file_bytes.value_or(memory.inactive_file_bytes.value_or(0));
  } catch (const Error& e) {
    return {"cgroup_reclaim", "failed", e.what(), std::nullopt};
  }
  if (amount == 0)
    return {"cgroup_reclaim", "skipped", "the cgroup holds no page cache", std::nullopt};
  return write_step(roots, actuator, options, "cgroup_reclaim", path, std::to_string(amount));
}

// The target's process holding the most memory (PSS, else RSS), memopt left out.
std::optional<MemoryHolder> largest_holder(const Roots& roots, const CleanupOptions& options,
                                           const std::vector<CooperatingProcess>& processes) {
  std::vector<model::Note> notes;
  std::optional<readers::CgroupMembership> members;
  if (auto location = readers::locate_target(roots, options.target, notes).location) {
    members.emplace(*location);
  }
  const int self = sys::self_pid();
  std::vector<model::ProcessMemory> found;
  try {
    found = readers::read_processes(
        roots, notes, nullptr, readers::ProcessCache::Clock::now(), [&](int pid) {
          return pid != self &&
                 (!members || members->contains_pid(roots.procfs, pid).value_or(false));
        });
  } catch (const Error&) {
    return std::nullopt;  // procfs cannot be listed: nobody to name
  }
  if (found.empty()) return std::nullopt;
  const auto& top = found.front();  // sorted by PSS, largest first
  MemoryHolder holder{top.pid, top.name, top.pss_bytes.value_or(top.rss_bytes), false};
  for (const auto& process : processes) {
    if (process.pid == top.pid && (process.status == "done" || process.status == "planned")) {
      holder.cooperates = true;
    }
  }
  return holder;
}

// drop_caches and compact_memory are host-wide: say so, they touch every container.
void note_host_wide(CleanupStepReport& step) {
  if (step.status != "done" && step.status != "planned") return;
  const std::string note = step.name == "drop_caches"
                               ? "acts on the whole host: every container's clean page cache"
                               : "acts on the whole host's memory";
  step.reason = step.reason.empty() ? note : step.reason + "; " + note;
}

}  // namespace

MemoryState read_memory_state(const Roots& roots, const model::Target& target) {
  MemoryState state;
  const auto host = readers::read_host_memory(roots);
  state.host_available_bytes = host.available_bytes;
  state.host_used_bytes =
      host.total_bytes > host.available_bytes ? host.total_bytes - host.available_bytes : 0;
  std::vector<model::Note> notes;
  if (const auto location = readers::locate_target(roots, target, notes).location) {
    try {
      const auto counters = readers::read_cgroup_counters(*location);
      state.container_usage_bytes = counters.usage_bytes;
      state.container_working_set_bytes = counters.working_set_bytes;
    } catch (const Error&) {
      // A cgroup removed mid-cleanup: judge by the host alone, as without one. A malformed
      // file in a cgroup that is still there is an error, not a vanished cgroup.
      if (sys::exists(location->dir)) throw;
      state.container_usage_bytes.reset();
    }
  }
  return state;
}

std::string ask_cooperating_process(const Roots& roots, int pid,
                                    const std::vector<std::string>& runtime_dirs,
                                    const std::string& request, std::chrono::milliseconds timeout) {
  if (!process_uid(roots, pid)) {
    throw Error(fmt::format("no process {} in {}", pid, roots.procfs));
  }
  const auto name = sys::cleanup_socket_name(pid);
  for (const auto& dir : runtime_dirs) {
    const auto path = dir + "/" + name;
    uid_t dir_owner = 0;
    mode_t dir_mode = 0;
    if (!sys::exists(path) || !sys::file_owner(dir, dir_owner, dir_mode)) continue;
    const auto reply = ask_sockets({{pid, path, dir_owner, request}}, timeout);
    if (!reply[0].answer) {
      throw Error(reply[0].stale
                      ? fmt::format("{}: pid {} no longer serves requests", reply[0].failure, pid)
                      : fmt::format("pid {}: {}", pid, reply[0].failure));
    }
    // Passed on re-written: every string in it printable, nothing deeper than JSON allows.
    auto parsed = protocol::parse_answer(*reply[0].answer);
    if (!parsed.error.empty()) {
      throw Error(fmt::format("pid {} answered on {}, but {}: {}", pid, path, parsed.error,
                              printable(std::string_view(*reply[0].answer).substr(0, 200))));
    }
    return parsed.json.dump();
  }
  throw Error(
      fmt::format("pid {} has no cleanup socket in {}: it does not serve requests (call "
                  "memopt.serve_cleanup() in it)",
                  pid,
                  runtime_dirs.empty() ? std::string("any runtime directory")
                                       : fmt::format("{}", fmt::join(runtime_dirs, ", "))));
}

namespace {

// The totals from before/after; a dry run released nothing and only estimates.
void set_totals(CleanupReport& report) {
  if (report.dry_run) {
    std::uint64_t estimate = 0;
    bool any = false;
    for (const auto& process : report.processes) {
      if (process.status != "planned") continue;
      any = true;
      estimate += process.rss_before_bytes.value_or(0);
    }
    if (any) report.would_release_estimate_bytes = estimate;
    return;
  }
  report.reclaimed_bytes = drop(charged(report.before), charged(report.after));
  report.released_bytes = drop(working_set(report.before), working_set(report.after));
  if (report.before.container_usage_bytes && report.after.container_usage_bytes) {
    report.page_cache_dropped_bytes = report.reclaimed_bytes - *report.released_bytes;
  }
}

}  // namespace

void note_gpu_owners(const std::vector<model::GpuDevice>& gpus, int self_pid,
                     CleanupReport& report) {
  model::Sample sample;
  sample.gpus = gpus;
  const auto verdicts = analysis::gpu_verdicts(sample);
  std::map<std::uint32_t, GpuMemoryOwner> owners;
  for (const auto& gpu : gpus) {
    for (const auto& entry : gpu.processes) {
      if (entry.local_pid == self_pid) continue;
      auto& owner = owners[entry.pid];
      owner.pid = entry.pid;
      owner.local_pid = entry.local_pid;
      if (!owner.name) owner.name = entry.name;
      if (entry.used_bytes) owner.bytes = owner.bytes.value_or(0) + *entry.used_bytes;
    }
  }
  for (auto& entry : owners) {
    // Named, not bound: clang does not capture a structured binding.
    const int pid = entry.first;
    auto& owner = entry.second;
    const auto orphan = std::find_if(verdicts.begin(), verdicts.end(), [&](const auto& v) {
      return v.pid == pid && v.kind == analysis::GpuVerdictKind::kOrphan;
    });
    const auto cooperating = std::find_if(report.processes.begin(), report.processes.end(),
                                          [&](const auto& p) { return owner.local_pid == p.pid; });
    owner.cooperates = cooperating != report.processes.end();
    if (orphan != verdicts.end()) {
      owner.how =
          fmt::format("no cleanup request can free it: {}; {}", orphan->message, orphan->fix);
    } else if (!owner.local_pid) {
      owner.how =
          "a process outside this pid namespace (another container): run memopt cleanup "
          "where it runs";
    } else if (owner.cooperates) {
      owner.how = fmt::format(
          "its own CUDA cache, freed only from inside it: {} through its "
          "cleanup socket {}",
          report.dry_run ? "it would be asked" : "asked", cooperating->socket);
    } else {
      owner.how =
          "its own CUDA cache, which only it can free (torch.cuda.empty_cache() in another "
          "process frees nothing of it): call torch.cuda.empty_cache() in that process, or "
          "memopt.serve_cleanup() there so that memopt cleanup can ask it";
    }
    report.gpu_owners.push_back(std::move(owner));
  }
}

std::int64_t steps_released(const CleanupReport& report) {
  std::int64_t sum = 0;
  for (const auto& step : report.steps) sum += step.released_bytes.value_or(0);
  return sum;
}

CleanupReport run_cooperative(const Roots& roots, const CleanupOptions& options) {
  CleanupReport report;
  report.dry_run = options.dry_run;
  report.before = read_memory_state(roots, options.target);
  report.steps.push_back(cooperative_step(roots, options, report.processes, report.stale_sockets));
  report.after = read_memory_state(roots, options.target);
  set_totals(report);
  return report;
}

void sweep_shm_orphans(const Roots& roots, Actuator& actuator, const CleanupOptions& options,
                       CleanupReport& report) {
  CleanupStepReport step{"shm_orphans", "", "", std::nullopt};
  model::Sample sample;
  sample.target = options.target;
  if (options.target.kind == model::Target::Kind::kCgroup && !options.shm_dir) {
    // The cgroup's /dev/shm is reached through one of its processes' mount namespace.
    readers::CollectOptions collect;
    collect.target = options.target;
    collect.gpus = false;
    collect.fragmentation = false;
    collect.shm = false;
    sample = readers::collect(roots, collect);
  }
  const auto where = options.shm_dir ? readers::ShmLocation{*options.shm_dir, std::nullopt}
                                     : readers::shm_location(roots, sample);
  report.shm_dir = where.dir;
  std::vector<model::Note> notes;
  const auto ledger = readers::read_shm_ledger(roots, where, notes, readers::kMaxShmEntries);
  if (!ledger) {
    step.status = "skipped";
    step.reason = notes.empty() ? where.dir + " cannot be read" : notes.back().message;
  } else if (!ledger->tmpfs) {
    step.status = "skipped";
    step.reason = where.dir + " is not a tmpfs: nothing there is swept";
  } else if (!ledger->owners_judged) {
    step.status = "skipped";
    step.reason = notes.empty() ? "owners cannot be judged" : notes.back().message;
  } else if (ledger->orphan_files == 0) {
    step.status = "skipped";
    step.reason = fmt::format("no orphan in {} ({} file(s))", where.dir, ledger->file_count);
  } else {
    std::size_t failed = 0;
    std::uint64_t removed = 0;
    auto sweep = [&] {
      for (const auto& file : ledger->files) {
        if (!file.orphan || (options.shm_owner && file.owner_pid != options.shm_owner)) continue;
        ShmRemoval r{printable(file.name), file.owner_pid, file.allocated_bytes, "", ""};
        // A pid reused since the ledger was read makes the owner alive again: keep the file.
        if (readers::shm_owner_alive(roots, *file.owner_pid)) continue;
        std::uint64_t bytes = 0;
        const int err = actuator.remove_shm_file(
            where.dir, file.name, {{ledger->device_major, ledger->device_minor}, file.inode},
            bytes);
        if (err != 0) {
          r.status = "failed";
          r.reason = sys::shm_error_text(err);
          ++failed;
        } else if (options.dry_run) {
          r.status = "planned";
        } else {
          r.status = "removed";
          r.bytes = bytes;
          removed += bytes;
        }
        report.shm_removals.push_back(std::move(r));
      }
      return 0;
    };
    if (options.dry_run) {
      (void)sweep();
      step.status = "planned";
    } else {
      measured(roots, options.target, step, sweep);
      step.status = failed == 0 ? "done" : "failed";
    }
    step.reason =
        fmt::format("{} orphan(s) in {}{}", report.shm_removals.size(), where.dir,
                    options.dry_run ? "" : fmt::format(": {} removed", format_bytes(removed)));
  }
  report.steps.push_back(std::move(step));
}

CleanupReport run_cleanup(const Roots& roots, Actuator& actuator, const CleanupOptions& options) {
  CleanupReport report;
  report.dry_run = options.dry_run;
  std::vector<model::Note> notes;
  if (auto target = readers::locate_target(roots, options.target, notes); target.unreadable) {
    // An unknown target has no processes and no cgroup to act on, and the host-wide steps
    // would act on everyone else: nothing is done, and each step says why.
    const std::string why =
        fmt::format("{} is unknown ({}): memopt acts on nothing outside the target",
                    options.target.describe(), *target.unreadable);
    for (const char* name : {"cooperative", "cgroup_reclaim", "drop_caches", "compact_memory"}) {
      report.steps.push_back({name, "failed", why, std::nullopt});
    }
    model::Target host;
    host.kind = model::Target::Kind::kHost;
    report.before = read_memory_state(roots, host);
    report.after = report.before;
    return report;
  }
  report.before = read_memory_state(roots, options.target);
  report.steps.push_back(cooperative_step(roots, options, report.processes, report.stale_sockets));
  report.steps.push_back(reclaim_step(roots, actuator, options));
  const auto vm = roots.procfs + "/sys/vm/";
  report.steps.push_back(write_step(roots, actuator, options, "drop_caches", vm + "drop_caches",
                                    options.aggressive ? "3" : "1"));
  note_host_wide(report.steps.back());
  if (options.aggressive) {
    report.steps.push_back(
        write_step(roots, actuator, options, "compact_memory", vm + "compact_memory", "1"));
    note_host_wide(report.steps.back());
  } else {
    report.steps.push_back({"compact_memory", "skipped", "only with --aggressive", std::nullopt});
  }
  if (options.sweep_shm) sweep_shm_orphans(roots, actuator, options, report);
  report.after = read_memory_state(roots, options.target);
  set_totals(report);
  report.largest_holder = largest_holder(roots, options, report.processes);
  return report;
}

}  // namespace memopt::actions
