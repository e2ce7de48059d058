#include "memopt/readers/gpu_attribution.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <string_view>
#include <utility>

#include "memopt/error.hpp"
#include "memopt/readers/facts.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/self.hpp"
#include "text.hpp"

namespace memopt::readers {

namespace {

using model::GpuAttribution;

// NVML writes "GPU-<uuid>" (or "MIG-<uuid>"); torch writes the bare UUID.
bool same_uuid(std::string_view nvml, std::string_view torch) {
  for (const std::string_view prefix : {"GPU-", "MIG-"}) {
    if (nvml.starts_with(prefix)) nvml.remove_prefix(prefix.size());
    if (torch.starts_with(prefix)) torch.remove_prefix(prefix.size());
  }
  return !torch.empty() && nvml.size() == torch.size() &&
         std::equal(nvml.begin(), nvml.end(), torch.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

bool fits(std::uint64_t used, const model::TorchDeviceMemory& device) {
  const std::uint64_t expected =
      device.reserved_bytes + device.context_bytes_estimate.value_or(kDefaultContextBytes);
  const std::uint64_t slack = kSelfReportSlackBytes + expected / 100 * kSelfReportSlackPercent;
  const std::uint64_t distance = used > expected ? used - expected : expected - used;
  return used >= device.reserved_bytes && distance <= slack;
}

bool matched_anywhere(const std::vector<model::GpuDevice>& gpus, int pid) {
  return std::any_of(gpus.begin(), gpus.end(), [pid](const auto& gpu) {
    return std::any_of(gpu.processes.begin(), gpu.processes.end(),
                       [pid](const auto& p) { return p.local_pid == pid; });
  });
}

struct Fit {
  std::size_t report, device, gpu, process;
};

void match_self_reports(std::vector<model::GpuDevice>& gpus,
                        const std::vector<model::ProcessStats>& reports) {
  std::vector<Fit> candidates;
  for (std::size_t r = 0; r < reports.size(); ++r) {
    if (reports[r].error || matched_anywhere(gpus, reports[r].pid)) continue;
    for (std::size_t d = 0; d < reports[r].torch.size(); ++d) {
      const auto& device = reports[r].torch[d];
      if (device.reserved_bytes == 0) continue;  // no memory there: nothing to recognise
      for (std::size_t g = 0; g < gpus.size(); ++g) {
        if (device.uuid && !same_uuid(gpus[g].uuid, *device.uuid)) continue;
        for (std::size_t p = 0; p < gpus[g].processes.size(); ++p) {
          const auto& entry = gpus[g].processes[p];
          if (entry.attributed_by != GpuAttribution::kNone || !entry.used_bytes) continue;
          if (fits(*entry.used_bytes, device)) candidates.push_back({r, d, g, p});
        }
      }
    }
  }
  for (const auto& fit : candidates) {
    const auto same_device = std::count_if(candidates.begin(), candidates.end(), [&](const Fit& f) {
      return f.report == fit.report && f.device == fit.device;
    });
    const auto same_entry = std::count_if(candidates.begin(), candidates.end(), [&](const Fit& f) {
      return f.gpu == fit.gpu && f.process == fit.process;
    });
    if (same_device != 1 || same_entry != 1) continue;  // more than one answer: none taken
    auto& entry = gpus[fit.gpu].processes[fit.process];
    entry.attributed_by = GpuAttribution::kSelfReport;
    entry.local_pid = reports[fit.report].pid;
  }
}

void match_by_elimination(std::vector<model::GpuDevice>& gpus, const DeviceFileHolders& holders) {
  struct DeviceFile {
    std::vector<model::GpuProcess*> unmatched;
    std::set<int> matched_pids;
    bool complete = true;  // every GPU behind this file lists its processes
  };
  std::map<unsigned, DeviceFile> files;
  for (auto& gpu : gpus) {
    if (!gpu.minor_number) continue;
    auto& file = files[*gpu.minor_number];
    file.complete = file.complete && gpu.processes_known;
    for (auto& entry : gpu.processes) {
      if (entry.attributed_by == GpuAttribution::kNone) {
        file.unmatched.push_back(&entry);
      } else if (entry.local_pid) {
        file.matched_pids.insert(*entry.local_pid);
      }
    }
  }
  for (auto& [minor, file] : files) {
    if (!file.complete || file.unmatched.size() != 1) continue;
    std::vector<int> candidates;
    for (const auto& [pid, minors] : holders) {
      if (minors.count(minor) != 0 && file.matched_pids.count(pid) == 0) candidates.push_back(pid);
    }
    if (candidates.size() != 1) continue;
    file.unmatched.front()->attributed_by = GpuAttribution::kElimination;
    file.unmatched.front()->local_pid = candidates.front();
  }
}

bool any_unmatched(const std::vector<model::GpuDevice>& gpus) {
  return std::any_of(gpus.begin(), gpus.end(), [](const auto& gpu) {
    return std::any_of(gpu.processes.begin(), gpu.processes.end(),
                       [](const auto& p) { return p.attributed_by == GpuAttribution::kNone; });
  });
}

}  // namespace

std::optional<unsigned> nvidia_device_minor(const sys::OpenFile& file) {
  if (file.char_major) {
    if (*file.char_major != kNvidiaMajor || !file.char_minor ||
        *file.char_minor >= kNvidiaFirstControlMinor) {
      return std::nullopt;
    }
    return file.char_minor;
  }
  constexpr std::string_view kPrefix = "/dev/nvidia";
  std::string_view path = file.target;
  if (!path.starts_with(kPrefix)) return std::nullopt;
  path.remove_prefix(kPrefix.size());
  unsigned minor = 0;
  const auto [end, ec] = std::from_chars(path.data(), path.data() + path.size(), minor);
  if (ec != std::errc{} || end != path.data() + path.size() || path.empty()) return std::nullopt;
  return minor;
}

DeviceFileHolders read_nvidia_device_holders(const Roots& roots, int exclude_pid,
                                             std::size_t* unreadable) {
  DeviceFileHolders holders;
  if (unreadable != nullptr) *unreadable = 0;
  for (const int pid : sys::list_pids(roots.procfs)) {
    if (pid == exclude_pid) continue;
    const auto files = sys::open_files(roots.procfs, pid);
    if (!files) {
      if (unreadable != nullptr) ++*unreadable;
      continue;
    }
    for (const auto& file : *files) {
      if (const auto minor = nvidia_device_minor(file)) holders[pid].insert(*minor);
    }
  }
  return holders;
}

void match_gpu_processes(std::vector<model::GpuDevice>& gpus,
                         const std::vector<model::ProcessStats>& reports,
                         const DeviceFileHolders& holders) {
  match_self_reports(gpus, reports);
  match_by_elimination(gpus, holders);
}

std::optional<int> parse_innermost_nspid(std::string_view status) {
  constexpr std::string_view kKey = "NSpid:";
  detail::Lines lines(status);
  while (const auto line = lines.next()) {
    if (!line->starts_with(kKey)) continue;
    std::string_view rest = line->substr(kKey.size());
    std::optional<std::uint64_t> last;
    for (auto field = detail::next_field(rest); !field.empty(); field = detail::next_field(rest)) {
      last = detail::to_u64(field);
    }
    if (!last || *last > 0x7fffffff) return std::nullopt;
    return static_cast<int>(*last);
  }
  return std::nullopt;
}

std::optional<int> parse_local_rank(std::string_view environ) {
  const auto value = parse_environ_value(environ, "LOCAL_RANK");
  if (!value) return std::nullopt;
  const auto rank = detail::to_u64(detail::trim(*value));
  if (!rank || *rank > 0xffff) return std::nullopt;
  return static_cast<int>(*rank);
}

std::optional<std::vector<std::string>> parse_cuda_visible_devices(std::string_view environ) {
  const auto value = parse_environ_value(environ, "CUDA_VISIBLE_DEVICES");
  if (!value) return std::nullopt;
  std::vector<std::string> devices;
  std::string_view rest = *value;
  while (true) {
    const auto comma = rest.find(',');
    const auto item = detail::trim(rest.substr(0, comma));
    if (!item.empty()) devices.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return devices;
}

namespace {

/// The stat fields a verdict needs (state, parent, process group, session); absent when the
/// line does not have them: no verdict rather than one on a guess.
std::optional<ProcStat> ids_of(std::string_view text, std::string_view source) {
  try {
    auto stat = parse_proc_stat(text, source);
    if (stat.pgrp && stat.session) return stat;
  } catch (const Error&) {
  }
  return std::nullopt;
}

std::optional<model::GpuProcessLife> read_life(const Roots& roots, int pid) {
  model::GpuProcessLife life;
  std::string text;
  const std::string stat_path = fmt::format("{}/{}/stat", roots.procfs, pid);
  if (const int err = sys::read_into(stat_path, text); err != 0) {
    // Gone only when the pid's directory is: a stat unreadable or missing beside it (a
    // captured tree) says nothing of its life.
    if (!sys::is_absent_errno(err) || sys::exists(fmt::format("{}/{}", roots.procfs, pid))) {
      return std::nullopt;
    }
    return life;
  }
  const auto ids = ids_of(text, stat_path);
  if (!ids) return std::nullopt;
  life.exists = true;
  life.state = ids->state;
  life.ppid = ids->ppid;
  life.pgid = *ids->pgrp;
  life.sid = *ids->session;
  life.group_leader_gone = life.pgid != pid && life.pgid > 0 &&
                           !sys::exists(fmt::format("{}/{}", roots.procfs, life.pgid));
  if (ids->ppid > 0) {
    const auto parent_path = fmt::format("{}/{}/stat", roots.procfs, ids->ppid);
    if (sys::read_into(parent_path, text) == 0) {
      if (const auto parent = ids_of(text, parent_path)) life.parent_sid = parent->session;
    }
    life.parent_is_init = ids->ppid == 1;
    if (!life.parent_is_init &&
        sys::read_into(fmt::format("{}/{}/status", roots.procfs, ids->ppid), text) == 0) {
      life.parent_is_init = parse_innermost_nspid(text) == 1;
    }
  }
  // Only these two variables are kept; the block itself (secrets) goes no further.
  if (sys::read_into(fmt::format("{}/{}/environ", roots.procfs, pid), text) == 0) {
    life.local_rank = parse_local_rank(text);
    life.cuda_visible_devices = parse_cuda_visible_devices(text);
  }
  return life;
}

bool looks_orphaned(const model::GpuProcessLife& life) {
  return !life.exists || life.state == 'Z' || life.group_leader_gone;
}

}  // namespace

void read_gpu_process_lives(const Roots& roots, std::vector<model::GpuDevice>& gpus) {
  const bool host_pids = sys::in_initial_pid_namespace(roots.procfs).value_or(false);
  bool suspect = false;
  for (auto& gpu : gpus) {
    for (auto& entry : gpu.processes) {
      entry.life.reset();
      if (!entry.local_pid && !host_pids) continue;  // NVML's pid means nothing here
      const int pid = entry.local_pid.value_or(static_cast<int>(entry.pid));
      entry.life = read_life(roots, pid);
      suspect = suspect || (entry.life && looks_orphaned(*entry.life) && gpu.minor_number);
    }
  }
  if (!suspect) return;
  std::size_t unreadable = 0;
  const auto holders = read_nvidia_device_holders(roots, sys::self_pid(), &unreadable);
  for (auto& gpu : gpus) {
    gpu.file_holders.reset();
    gpu.file_holders_unreadable = unreadable;
    if (!gpu.minor_number ||
        std::none_of(gpu.processes.begin(), gpu.processes.end(),
                     [](const auto& p) { return p.life && looks_orphaned(*p.life); })) {
      continue;
    }
    gpu.file_holders.emplace();
    for (const auto& [pid, minors] : holders) {
      if (minors.count(*gpu.minor_number) == 0) continue;
      gpu.file_holders->push_back({pid, read_process_name(roots, pid)});
    }
  }
}

void attribute_gpu_processes(const Roots& roots, std::vector<model::GpuDevice>& gpus,
                             const std::vector<model::ProcessStats>& reports,
                             std::vector<model::Note>& notes) {
  match_self_reports(gpus, reports);
  if (any_unmatched(gpus)) {
    match_by_elimination(gpus, read_nvidia_device_holders(roots, sys::self_pid()));
  }
  std::vector<std::string> without_minor;
  for (auto& gpu : gpus) {
    bool unmatched = false;
    for (auto& entry : gpu.processes) {
      if (entry.local_pid && !entry.name) entry.name = read_process_name(roots, *entry.local_pid);
      unmatched = unmatched || entry.attributed_by == GpuAttribution::kNone;
    }
    if (unmatched && !gpu.minor_number) without_minor.push_back(gpu.name);
  }
  if (!without_minor.empty()) {
    notes.push_back({"gpu_attribution_limited",
                     fmt::format("NVML gives no minor number for {}: the processes holding its "
                                 "/dev/nvidiaN open cannot be tied to it (no attribution by "
                                 "elimination there)",
                                 fmt::join(without_minor, ", "))});
  }
  note_unattributed_gpu_processes(roots, gpus, notes);
  read_gpu_process_lives(roots, gpus);
}

}  // namespace memopt::readers
