#include "memopt/analysis/gpu_verdicts.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {

/// All of one process's NVML entries, keyed by its pid here (or NVML's when not matched).
struct ProcessEntries {
  std::uint32_t pid = 0;
  std::optional<int> local_pid;
  std::optional<std::string> name;
  std::optional<model::GpuProcessLife> life;
  std::optional<std::uint64_t> bytes;
  std::set<unsigned> gpus;     // NVML indices
  std::set<unsigned> devices;  // distinct physical devices: MIG slices share their minor
  std::vector<const model::GpuDevice*> on;
};

std::string who(const ProcessEntries& p) {
  std::string text = fmt::format("pid {}", p.local_pid.value_or(static_cast<int>(p.pid)));
  if (p.name) text += fmt::format(" ({})", *p.name);
  if (p.local_pid && *p.local_pid != static_cast<int>(p.pid)) {
    text += fmt::format(", NVML pid {}", p.pid);
  }
  return text;
}

std::string bytes_text(const std::optional<std::uint64_t>& bytes) {
  return bytes ? format_bytes(*bytes) : std::string("an unknown amount");
}

std::string gpu_list(const std::set<unsigned>& gpus) {
  std::vector<std::string> names;
  for (const unsigned g : gpus) names.push_back(std::to_string(g));
  if (names.size() == 1) return "GPU " + names.front();
  const std::string last = names.back();
  names.pop_back();
  return fmt::format("GPUs {} and {}", fmt::join(names, ", "), last);
}

std::optional<unsigned> to_index(std::string_view text) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// The NVML index of the GPU LOCAL_RANK names. CUDA numbers the visible devices from 0, so rank
// r means the r-th entry of CUDA_VISIBLE_DEVICES (an index or a UUID, possibly a prefix of
// one); one listed device is every CUDA ordinal the process can have: nothing to check.
std::optional<unsigned> expected_gpu(const model::GpuProcessLife& life,
                                     const std::vector<model::GpuDevice>& gpus) {
  if (!life.local_rank) return std::nullopt;
  const auto rank = static_cast<std::size_t>(*life.local_rank);
  if (!life.cuda_visible_devices) {
    for (const auto& gpu : gpus) {
      if (gpu.index == rank) return gpu.index;
    }
    return std::nullopt;
  }
  const auto& visible = *life.cuda_visible_devices;
  if (visible.size() < 2 || rank >= visible.size()) return std::nullopt;
  const std::string& token = visible[rank];
  if (const auto index = to_index(token)) {
    for (const auto& gpu : gpus) {
      if (gpu.index == *index) return gpu.index;
    }
    return std::nullopt;
  }
  for (const auto& gpu : gpus) {
    if (!token.empty() && gpu.uuid.starts_with(token)) return gpu.index;
  }
  return std::nullopt;
}

std::string holders_text(const std::vector<const model::GpuDevice*>& on,
                         std::optional<std::vector<model::GpuFileHolder>>& out) {
  std::vector<std::string> parts;
  std::set<int> seen;
  bool read = false;
  std::size_t unreadable = 0;
  std::vector<std::string> files;
  for (const auto* gpu : on) {
    if (!gpu->file_holders || !gpu->minor_number) continue;
    read = true;
    unreadable = std::max(unreadable, gpu->file_holders_unreadable);
    files.push_back(fmt::format("/dev/nvidia{}", *gpu->minor_number));
    if (!out) out.emplace();
    for (const auto& h : *gpu->file_holders) {
      if (!seen.insert(h.pid).second) continue;
      out->push_back(h);
      parts.push_back(h.name ? fmt::format("pid {} ({})", h.pid, *h.name)
                             : fmt::format("pid {}", h.pid));
    }
  }
  if (!read) return "";
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  if (parts.empty() && unreadable > 0) {
    // Not "outside this pid namespace": it may be one of the processes memopt may not look into.
    return fmt::format(
        "; no process whose open files memopt may read holds {} open, and those of {} other "
        "process(es) may not be read (another user's): run memopt as root, or `fuser -v "
        "/dev/nvidia*` as root, to name the holder",
        fmt::join(files, ", "), unreadable);
  }
  if (parts.empty()) {
    return fmt::format(
        "; no process here holds {} open (the holder is outside this pid "
        "namespace: `fuser -v /dev/nvidia*` on the host names it)",
        fmt::join(files, ", "));
  }
  return fmt::format("; {} held open by {}", fmt::join(files, ", "), fmt::join(parts, ", "));
}

GpuVerdict orphan(const ProcessEntries& p, OrphanReason reason) {
  GpuVerdict v;
  v.kind = GpuVerdictKind::kOrphan;
  v.pid = p.pid;
  v.local_pid = p.local_pid;
  v.name = p.name;
  v.reason = reason;
  v.bytes = p.bytes;
  v.gpus.assign(p.gpus.begin(), p.gpus.end());
  const std::string holders = holders_text(p.on, v.holders);
  const std::string where = fmt::format("{} on {}", bytes_text(p.bytes), gpu_list(p.gpus));
  switch (reason) {
    case OrphanReason::kGone:
      v.message = fmt::format("{} is gone, yet {} is still held for it{}", who(p), where, holders);
      v.fix =
          "the context lives on in a process that inherited the device file (a forked worker): "
          "end the holders named here (or `fuser -v /dev/nvidia*`), or restart the container";
      break;
    case OrphanReason::kZombie:
      v.message = fmt::format(
          "{} has exited but was not reaped (a zombie; its parent is pid {}), and {} is still "
          "held for it{}",
          who(p), p.life->ppid, where, holders);
      v.fix = fmt::format(
          "its parent (pid {}) must wait() for it; the memory stays with whoever inherited its "
          "device files: end the holders named here, or the parent",
          p.life->ppid);
      break;
    case OrphanReason::kReparented:
      v.message = fmt::format(
          "{} holds {}, and the process that started its group (pid {}) is gone: a worker or "
          "rank left behind, now a child of pid {}{}",
          who(p), where, p.life->pgid, p.life->ppid, holders);
      v.fix = fmt::format(
          "stop the leftover (kill {}) once you know it is not working for anyone; DataLoader "
          "workers and torchrun ranks end with their parent when it exits cleanly (use "
          "`torchrun`, not bare `multiprocessing`, and do not SIGKILL the parent)",
          p.local_pid.value_or(static_cast<int>(p.pid)));
      break;
  }
  return v;
}

constexpr std::string_view kWrongDeviceFix =
    "call torch.cuda.set_device(local_rank) before any CUDA call, put tensors on "
    "f\"cuda:{local_rank}\" (never a bare \"cuda\"), and load checkpoints with "
    "torch.load(..., map_location=f\"cuda:{local_rank}\") or map_location=\"cpu\": each stray "
    "context costs 300-700 MiB on the other GPU";

std::optional<GpuVerdict> wrong_device(const ProcessEntries& p,
                                       const std::vector<model::GpuDevice>& gpus) {
  const auto expected = expected_gpu(*p.life, gpus);
  const bool several = p.devices.size() > 1;
  const bool elsewhere = expected && std::any_of(p.gpus.begin(), p.gpus.end(),
                                                 [&](unsigned g) { return g != *expected; });
  if (!several && !elsewhere) return std::nullopt;
  GpuVerdict v;
  v.kind = GpuVerdictKind::kWrongDevice;
  v.pid = p.pid;
  v.local_pid = p.local_pid;
  v.name = p.name;
  v.bytes = p.bytes;
  v.gpus.assign(p.gpus.begin(), p.gpus.end());
  v.local_rank = p.life->local_rank;
  v.expected_gpu = expected;
  std::string per_gpu;
  for (const auto* gpu : p.on) {
    for (const auto& entry : gpu->processes) {
      const int pid = entry.local_pid.value_or(static_cast<int>(entry.pid));
      if (pid != p.local_pid.value_or(static_cast<int>(p.pid))) continue;
      per_gpu += fmt::format("{}{} on GPU {}", per_gpu.empty() ? "" : ", ",
                             bytes_text(entry.used_bytes), gpu->index);
    }
  }
  if (expected) {
    v.message = fmt::format("{} has LOCAL_RANK={} (GPU {}) but contexts on {}: {}", who(p),
                            *p.life->local_rank, *expected, gpu_list(p.gpus), per_gpu);
  } else {
    v.message = fmt::format("{} has contexts on {}: {}", who(p), gpu_list(p.gpus), per_gpu);
  }
  v.fix = std::string(kWrongDeviceFix);
  if (!p.life->local_rank) {
    v.fix += "; a process meant to span GPUs (model parallel, device_map) can ignore this";
  }
  return v;
}

}  // namespace

std::string_view to_string(GpuVerdictKind kind) {
  return kind == GpuVerdictKind::kOrphan ? "gpu_orphan" : "gpu_wrong_device";
}

std::string_view to_string(OrphanReason reason) {
  switch (reason) {
    case OrphanReason::kGone:
      return "gone";
    case OrphanReason::kZombie:
      return "zombie";
    case OrphanReason::kReparented:
      return "reparented";
  }
  return "gone";
}

std::vector<GpuVerdict> gpu_verdicts(const model::Sample& sample) {
  std::map<int, ProcessEntries> processes;
  for (const auto& gpu : sample.gpus) {
    for (const auto& entry : gpu.processes) {
      if (!entry.life) continue;  // not visible here: no verdict
      const int key = entry.local_pid.value_or(static_cast<int>(entry.pid));
      auto& p = processes[key];
      p.pid = entry.pid;
      p.local_pid = entry.local_pid;
      if (!p.name) p.name = entry.name;
      if (!p.life) p.life = entry.life;
      if (entry.used_bytes) p.bytes = p.bytes.value_or(0) + *entry.used_bytes;
      p.gpus.insert(gpu.index);
      p.devices.insert(gpu.minor_number ? *gpu.minor_number + 0x10000u : gpu.index);
      if (std::find(p.on.begin(), p.on.end(), &gpu) == p.on.end()) p.on.push_back(&gpu);
    }
  }
  std::vector<GpuVerdict> orphans;
  std::vector<GpuVerdict> wrong;
  for (const auto& [key, p] : processes) {
    const auto& life = *p.life;
    if (!life.exists) {
      orphans.push_back(orphan(p, OrphanReason::kGone));
    } else if (life.state == 'Z' || life.state == 'X') {
      orphans.push_back(orphan(p, OrphanReason::kZombie));
    } else if (life.group_leader_gone &&
               (life.parent_is_init || (life.parent_sid && *life.parent_sid != life.sid))) {
      orphans.push_back(orphan(p, OrphanReason::kReparented));
    } else if (auto v = wrong_device(p, sample.gpus)) {
      wrong.push_back(std::move(*v));
    }
  }
  orphans.insert(orphans.end(), std::make_move_iterator(wrong.begin()),
                 std::make_move_iterator(wrong.end()));
  return orphans;
}

std::uint64_t orphaned_gpu_bytes(const std::vector<GpuVerdict>& verdicts) {
  std::uint64_t total = 0;
  for (const auto& v : verdicts) {
    if (v.kind == GpuVerdictKind::kOrphan && v.bytes) total += *v.bytes;
  }
  return total;
}

}  // namespace memopt::analysis
