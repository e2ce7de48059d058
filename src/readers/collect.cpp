#include "memopt/readers/collect.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/error.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/readers/shm.hpp"
#include "memopt/sys/clock.hpp"
#include "memopt/sys/pidfd.hpp"
#include "memopt/sys/process.hpp"

namespace memopt::readers {

namespace {

/// v1 swap is memsw minus usage, two counters charged in separate per-CPU batches: with no
/// swap on the host at all, their difference is batching noise, and the truth is 0.
void settle_v1_swap(model::CgroupMemory& cgroup, const model::HostMemory& host) {
  if (cgroup.version == 1 && cgroup.swap_usage_bytes && host.swap_total_bytes == 0) {
    cgroup.swap_usage_bytes = 0;
  }
}

/// The processes of `location`'s subtree, or every process without one.
std::vector<model::ProcessMemory> read_processes_under(
    const Roots& roots, const CollectOptions& options,
    const std::optional<CgroupLocation>& location, std::vector<model::Note>& notes) {
  if (!location) return read_processes(roots, notes, options.process_cache);

  // On the live procfs of this pid namespace the subtree's cgroup.procs files list its members
  // as the pids seen here: one read per cgroup instead of one cgroup file per process.
  if (sys::is_live_procfs(roots.procfs)) {
    if (const auto listed = read_member_pids(*location)) {
      return read_processes(roots, notes, options.process_cache, sys::steady_now(), [&](int pid) {
        return std::binary_search(listed->begin(), listed->end(), pid);
      });
    }
  }
  const CgroupMembership members(*location);
  std::size_t unknown = 0;
  auto processes =
      read_processes(roots, notes, options.process_cache, sys::steady_now(), [&](int pid) {
        const auto inside = members.contains_pid(roots.procfs, pid);
        if (!inside) ++unknown;
        return inside.value_or(false);
      });
  if (unknown > 0) {
    notes.push_back(
        {"process_cgroup_unknown",
         fmt::format("{} process(es) left out: their cgroup file ({}/PID/cgroup) could not be "
                     "read, so they cannot be placed in cgroup {}",
                     unknown, roots.procfs, location->path)});
  }
  return processes;
}

std::vector<model::ProcessMemory> read_target_processes(
    const Roots& roots, const CollectOptions& options,
    const std::optional<CgroupLocation>& location, model::Sample& sample) {
  const bool explicit_target = options.target.kind != model::Target::Kind::kSelf;
  // memopt's own cgroup without a limit is host scope: its figures are the host's, and so are
  // the processes beside them.
  const bool subtree =
      location && sample.cgroup && (explicit_target || sample.cgroup->limit_bytes.has_value());
  sample.processes_host_wide = !subtree;
  return read_processes_under(roots, options, subtree ? location : std::nullopt, sample.notes);
}

void read_containers(const Roots& roots, const std::optional<CgroupLocation>& under,
                     model::Sample& sample) {
  std::vector<model::Note> notes;
  for (const auto& leaf : list_leaf_cgroups(roots, under, sample.notes)) {
    notes.clear();
    try {
      auto cgroup = read_cgroup_at(leaf, notes);
      if (!cgroup.limit_bytes) continue;
      settle_v1_swap(cgroup, sample.host);
      sample.containers.push_back(std::move(cgroup));
    } catch (const Error& e) {
      // One odd container must not cost the listing of every other one on the node.
      if (sys::exists(leaf.dir)) {
        sample.notes.push_back({"container_unreadable",
                                fmt::format("container {} not listed: {}", leaf.path, e.what())});
      }
      continue;
    }
    // What a kernel does not offer (no PSI, no peak) would repeat by the dozen; what is odd
    // in one container's files is said, naming them.
    for (auto& note : notes) {
      if (note.id != "no_cgroup_psi" && note.id != "no_swap_accounting" && note.id != "no_peak") {
        sample.notes.push_back(std::move(note));
      }
    }
  }
}

}  // namespace

model::Sample collect(const Roots& roots, const CollectOptions& options) {
  model::Sample sample;
  sample.timestamp = options.clock ? options.clock() : sys::wall_now();
  sample.target = options.target;
  sample.host = read_host_memory(roots);
  sample.host_pressure = read_host_pressure(roots, sample.notes);
  auto target = locate_target(roots, options.target, sample.notes);
  sample.cgroup_unreadable = std::move(target.unreadable);
  if (target.location) {
    try {
      sample.cgroup = read_cgroup_at(*target.location, sample.notes);
      settle_v1_swap(*sample.cgroup, sample.host);
    } catch (const Error& e) {
      // The target's own usage or limit: without them the level is unknown, not the host's.
      sample.cgroup_unreadable = e.what();
    }
  }
  if (options.processes && !sample.cgroup_unreadable) {
    sample.processes = read_target_processes(roots, options, target.location, sample);
  }
  if (options.containers) read_containers(roots, target.location, sample);
  if (options.shm && !sample.cgroup_unreadable) {
    sample.shm = read_shm_ledger(roots, shm_location(roots, sample), sample.notes);
  }
  if (options.fragmentation) sample.fragmentation = read_fragmentation(roots, sample.notes);
  if (options.gpus) {
    sample.gpus = options.nvml != nullptr ? options.nvml->read(roots, sample.notes)
                                          : read_gpus(roots, sample.notes);
  }
  return sample;
}

std::vector<model::ProcessMemory> collect_processes(const Roots& roots,
                                                    const CollectOptions& options, bool host_wide,
                                                    std::vector<model::Note>& notes) {
  if (host_wide) return read_processes_under(roots, options, std::nullopt, notes);
  auto target = locate_target(roots, options.target, notes);
  if (!target.location) return {};
  return read_processes_under(roots, options, target.location, notes);
}

}  // namespace memopt::readers
