#include "memopt/analysis/diagnose.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "memopt/analysis/shm.hpp"
#include "memopt/analysis/sizing.hpp"
#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {

constexpr std::uint64_t kDockerDefaultShm = 64 * kMiB;
/// A thread count from which glibc's per-thread arenas (up to 8 per core) hold real memory.
constexpr unsigned kManyThreads = 16;

int rank(const std::string& severity) {
  if (severity == "critical") return 0;
  if (severity == "warning") return 1;
  return 2;
}

void oom_findings(const Report& report, const model::Facts& facts, std::vector<Finding>& out) {
  const auto& cg = report.sample.cgroup;
  const std::uint64_t counted = cg && cg->oom_kill_events ? *cg->oom_kill_events : 0;
  const std::size_t logged = facts.kernel_oom_kills ? facts.kernel_oom_kills->size() : 0;
  if (counted == 0 && logged == 0) return;
  std::string evidence;
  if (cg && cg->oom_kill_events) {
    evidence = fmt::format("the cgroup's oom_kill counter is {}", *cg->oom_kill_events);
  }
  if (facts.kernel_oom_kills) {
    for (const auto& kill : *facts.kernel_oom_kills) {
      evidence += fmt::format(
          "{}kernel log: killed {} (pid {}){}", evidence.empty() ? "" : "; ", kill.name, kill.pid,
          kill.anon_rss_bytes
              ? fmt::format(" holding {} anonymous memory", format_bytes(*kill.anon_rss_bytes))
              : std::string());
    }
  }
  const std::uint64_t kills = std::max<std::uint64_t>(counted, logged);
  if (report.memory.scope == Scope::kContainer) {
    const auto doubled = recommend_limit(2 * report.memory.limit_bytes);
    out.push_back(
        {"oom_killed", "critical",
         fmt::format("The OOM killer has killed {} process(es) in this container", kills), evidence,
         fmt::format("raise the limit (e.g. `docker update {}`), then measure the real peak with "
                     "`memopt run --limit {} -- <your command>` and size the container from it",
                     doubled.docker_flags, docker_size(doubled.memory_bytes))});
  } else {
    out.push_back(
        {"oom_killed", "critical",
         fmt::format("The OOM killer has killed {} process(es) in this cgroup tree", kills),
         evidence,
         "no limit applies here, so the kills came from a limit further down or from the host "
         "running "
         "out: measure the command with `memopt run -- <your command>` and size its container from "
         "it"});
  }
}

void level_findings(const Report& report, std::vector<Finding>& out) {
  const auto& m = report.memory;
  if (report.status.level == Level::kUnknown) {
    out.push_back({"memory_unknown", "critical", "The target's memory cannot be read",
                   report.status.reasons.empty() ? std::string() : report.status.reasons.back(),
                   "point --cgroup/--pid at the container, or mount the host's /sys into this one "
                   "and pass --sysfs"});
    return;
  }
  if (report.status.level < Level::kWarning) return;
  const std::string severity = report.status.level == Level::kWarning ? "warning" : "critical";
  out.push_back(
      {"memory_" + std::string(to_string(report.status.level)), severity,
       fmt::format("Memory is at the {} level", to_string(report.status.level)),
       report.status.reasons.empty() ? std::string() : report.status.reasons.front(),
       fmt::format("free what can be freed with `memopt cleanup`; to keep the working set of {} at "
                   "or below 60%, run with {}",
                   format_bytes(m.used_bytes), recommend_for_peak(m.used_bytes).docker_flags)});
}

void model_findings(const Report& report, const AnalysisOptions& options,
                    std::vector<Finding>& out) {
  if (!options.model || report.memory.scope == Scope::kUnknown ||
      report.memory.limit_bytes >= options.model->minimum_bytes)
    return;
  out.push_back({"limit_below_model_minimum", "critical",
                 fmt::format("The limit is below {}'s minimum", options.model->name),
                 fmt::format("limit {} < minimum {} (the seed's sizing table)",
                             format_bytes(report.memory.limit_bytes),
                             format_bytes(options.model->minimum_bytes)),
                 recommend_limit(options.model->recommended_bytes).docker_flags});
}

// A --shm-size value for Docker: `bytes` rounded up to a multiple of 256 MiB, in "m".
std::string docker_shm_size(std::uint64_t bytes) {
  const std::uint64_t step = 256 * kMiB;
  return fmt::format("{}m", (bytes + step - 1) / step * 256);
}

// What the target's /dev/shm ledger shows: full, too small for the workers seen now,
// orphans, and shared memory that is not in /dev/shm at all.
void shm_ledger_findings(const Report& report, std::vector<Finding>& out) {
  const auto& shm = *report.sample.shm;
  const double percent = shm_used_percent(shm);
  if (percent >= ShmFillParams{}.used_percent) {
    out.push_back(
        {"dev_shm_filling", "warning", "/dev/shm is nearly full",
         fmt::format("/dev/shm ({}) is {:.0f}% full: {} of {}; DataLoader workers get a bus error "
                     "or 'unable to write to file </torch_...>' when it is full",
                     shm.path, percent, format_bytes(shm.used_bytes), format_bytes(shm.size_bytes)),
         "docker run --shm-size=2g (Kubernetes: an emptyDir with medium: Memory and a sizeLimit at "
         "/dev/shm), or fewer num_workers / a smaller prefetch_factor"});
  }
  // The workers seen now, each holding up to its largest share: what the size must fit.
  std::map<int, std::uint64_t> by_owner;
  for (const auto& f : shm.files) {
    if (f.owner_pid && f.owner_alive.value_or(true)) by_owner[*f.owner_pid] += f.allocated_bytes;
  }
  std::uint64_t largest = 0;
  for (const auto& [pid, bytes] : by_owner) largest = std::max(largest, bytes);
  const std::uint64_t needed = largest * by_owner.size();
  if (by_owner.size() > 1 && needed > shm.size_bytes) {
    out.push_back(
        {"dev_shm_undersized", "warning", "/dev/shm is smaller than its workers need",
         fmt::format("{} processes hold /dev/shm files now, the largest {}; {} x {} = {} is more "
                     "than its size {}",
                     by_owner.size(), format_bytes(largest), by_owner.size(), format_bytes(largest),
                     format_bytes(needed), format_bytes(shm.size_bytes)),
         fmt::format("docker run --shm-size={} or more (Kubernetes: emptyDir medium: Memory)",
                     docker_shm_size(needed + needed / 2))});
  }
  if (shm.owners_judged && shm.orphan_files > 0) {
    out.push_back(
        {"dev_shm_orphans", "warning", "/dev/shm holds files of dead processes",
         fmt::format("{} file(s) in {} whose owner died and that no process holds keep {}: tmpfs "
                     "never frees a file when its process exits (torch's file_system sharing "
                     "strategy leaves these when workers are killed)",
                     shm.orphan_files, shm.path, format_bytes(shm.orphan_bytes)),
         "memopt cleanup (removes exactly these; --dry-run lists them); in the code, "
         "torch.multiprocessing.set_sharing_strategy('file_descriptor')"});
  }
  if (const auto split = split_shmem(report.sample); split &&
                                                     split->other_bytes >= kDockerDefaultShm &&
                                                     split->other_bytes * 2 > split->shmem_bytes) {
    out.push_back(
        {"shmem_outside_dev_shm", "info", "Most shared memory is not in /dev/shm",
         fmt::format("the cgroup's shmem is {}, of which {} is not in /dev/shm files: {}; "
                     "docker stats leaves it out, the kernel charges it to the container",
                     format_bytes(split->shmem_bytes), format_bytes(split->other_bytes),
                     kShmemElsewhere),
         "pinned memory (DataLoader pin_memory=True) counts here: budget for it in the limit"});
  }
}

void shm_findings(const Report& report, const model::Facts& facts, std::vector<Finding>& out) {
  const auto& ledger = report.sample.shm;
  if (ledger) shm_ledger_findings(report, out);
  // The target's own /dev/shm where the ledger read it (a sidecar's own mount is not the
  // model's), else memopt's mount.
  std::optional<std::uint64_t> size;
  std::string fs_type;
  if (ledger && ledger->size_bytes > 0) {
    size = ledger->size_bytes;
    fs_type = ledger->tmpfs ? "tmpfs" : "file system";
  } else if (facts.shm) {
    size = facts.shm->size_bytes;
    fs_type = facts.shm->fs_type;
  }
  if (!size || *size > kDockerDefaultShm) return;
  out.push_back(
      {"small_dev_shm", "warning", "/dev/shm is too small for DataLoader workers",
       fmt::format(
           "/dev/shm is a {} {} (Docker's default is 64 MiB); PyTorch DataLoader workers pass "
           "batches through it and die with 'bus error' when it fills",
           format_bytes(*size), fs_type),
       "docker run --shm-size=1g (Kubernetes: mount an emptyDir with medium: Memory at /dev/shm)"});
}

void available_findings(const Report& report, std::vector<Finding>& out) {
  const auto& m = report.memory;
  const auto& t = report.thresholds;
  if (m.scope == Scope::kUnknown || m.available_bytes >= t.minimum_available_bytes) return;
  out.push_back(
      {"available_below_minimum", "critical",
       fmt::format("Available memory is below the {} minimum",
                   format_bytes(t.minimum_available_bytes)),
       fmt::format("{} available of a {} {} limit", format_bytes(m.available_bytes),
                   format_bytes(m.limit_bytes), to_string(m.scope)),
       fmt::format("the next model load or batch may be OOM-killed: free memory with `memopt "
                   "cleanup`, or run with {}",
                   recommend_for_peak(m.used_bytes).docker_flags)});
}

void pressure_findings(const Report& report, std::vector<Finding>& out) {
  const auto& cg = report.sample.cgroup;
  const auto p = effective_pressure(report.sample, report.memory.scope);
  const double threshold = report.thresholds.pressure_advice_percent;
  if (!p || p->some_avg10 < threshold) return;
  out.push_back(
      {"memory_pressure", p->full_avg10 >= threshold ? "critical" : "warning",
       "Tasks are stalling on memory (thrashing)",
       fmt::format("PSI some avg10 {:.1f}%, full avg10 {:.1f}% ({})", p->some_avg10, p->full_avg10,
                   cg && cg->pressure ? "this cgroup" : "the host"),
       "the working set does not fit: raise the limit or reduce batch size; `memopt cleanup` frees "
       "reclaimable cache"});
}

/// One PYTORCH_CUDA_ALLOC_CONF option with the torch releases that know it (docs/pytorch.md,
/// "Allocator settings by torch version", says where each number comes from).
struct AllocatorOption {
  std::string_view name;
  /// The first release memopt advises it for: one known to have it.
  std::pair<unsigned, unsigned> advise_from;
  /// Releases before this one lack it for certain: setting it there fails CUDA's first
  /// allocation with "Unrecognized CachingAllocator option".
  std::pair<unsigned, unsigned> absent_before;
};

constexpr AllocatorOption kAllocatorOptions[] = {
    {"max_split_size_mb", {1, 10}, {1, 8}},
    {"garbage_collection_threshold", {1, 12}, {1, 12}},
    {"backend", {2, 0}, {1, 13}},
    {"expandable_segments", {2, 1}, {2, 1}},
};

const AllocatorOption& allocator_option(std::string_view name) {
  for (const auto& option : kAllocatorOptions) {
    if (option.name == name) return option;
  }
  throw std::logic_error("unknown allocator option");
}

std::string version_text(std::pair<unsigned, unsigned> v) {
  return fmt::format("{}.{}", v.first, v.second);
}

std::string torch_whose(const model::TorchVersion& torch) {
  return fmt::format("torch {} in {} (pid {}, from {})", torch.version, torch.name, torch.pid,
                     torch.source);
}

/// PYTORCH_CUDA_ALLOC_CONF: options the torch in use lacks (its first CUDA allocation raises),
/// and, with a GPU and the variable unset, the options that fit that torch: only those.
void torch_allocator_findings(const Report& report, const model::Facts& facts,
                              const std::string& whose, std::vector<Finding>& out) {
  const auto version =
      facts.torch ? std::optional(std::pair{facts.torch->major, facts.torch->minor}) : std::nullopt;
  if (facts.pytorch_cuda_alloc_conf) {
    if (!version) return;
    // "<option>:<value>,<option2>:<value2>"
    std::string_view conf = *facts.pytorch_cuda_alloc_conf;
    std::vector<std::string> lacking;
    while (!conf.empty()) {
      const auto comma = conf.find(',');
      auto entry = conf.substr(0, comma);
      const auto colon = entry.find(':');
      const auto key = entry.substr(0, colon);
      for (const auto& option : kAllocatorOptions) {
        if (option.name == key && *version < option.absent_before) {
          lacking.push_back(
              fmt::format("{} (from torch {})", key, version_text(option.advise_from)));
        }
      }
      if (comma == std::string_view::npos) break;
      conf.remove_prefix(comma + 1);
    }
    if (lacking.empty()) return;
    out.push_back(
        {"pytorch_cuda_alloc_conf_unsupported", "critical",
         "PYTORCH_CUDA_ALLOC_CONF names an option this torch does not know",
         fmt::format("PYTORCH_CUDA_ALLOC_CONF={} is set {}, and {} does not know {}: its first "
                     "CUDA allocation raises \"Unrecognized CachingAllocator option\"",
                     *facts.pytorch_cuda_alloc_conf, whose, torch_whose(*facts.torch),
                     fmt::join(lacking, ", ")),
         "remove those options from PYTORCH_CUDA_ALLOC_CONF, or upgrade torch"});
    return;
  }
  if (report.sample.gpus.empty()) return;
  const std::string unset =
      fmt::format("PYTORCH_CUDA_ALLOC_CONF is not set {} and a GPU is present", whose);
  const std::string independent =
      "call memopt.cleanup_gpu_memory() (torch.cuda.empty_cache) between phases, such as after "
      "loading the model and after evaluation";
  if (!version) {
    out.push_back(
        {"pytorch_cuda_alloc_conf", "info",
         "PyTorch's CUDA allocator is not tuned; the torch version is unknown",
         fmt::format("{}; the torch version is unknown: {}. An option the torch in use does not "
                     "know makes its first CUDA allocation fail, so memopt names none",
                     unset, facts.torch_unknown.empty() ? "not found" : facts.torch_unknown),
         fmt::format("{}; to tune the allocator, find the version (python -c 'import torch; "
                     "print(torch.__version__)') and see docs/pytorch.md for the options it knows",
                     independent)});
    return;
  }
  const auto& expandable = allocator_option("expandable_segments");
  const auto& max_split = allocator_option("max_split_size_mb");
  if (*version >= expandable.advise_from) {
    out.push_back({"pytorch_cuda_alloc_conf", "info", "PyTorch's CUDA allocator is not tuned",
                   fmt::format("{}; {} has expandable_segments (from torch {})", unset,
                               torch_whose(*facts.torch), version_text(expandable.advise_from)),
                   "set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to cut fragmentation of "
                   "GPU memory"});
  } else if (*version >= max_split.advise_from) {
    out.push_back(
        {"pytorch_cuda_alloc_conf", "info", "PyTorch's CUDA allocator is not tuned",
         fmt::format("{}; {} predates expandable_segments (torch {})", unset,
                     torch_whose(*facts.torch), version_text(expandable.advise_from)),
         fmt::format("when torch.cuda.memory_summary() shows much memory reserved but not "
                     "allocated, set PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128 (from torch "
                     "{}); torch {} and later have a better option (docs/pytorch.md)",
                     version_text(max_split.advise_from), version_text(expandable.advise_from))});
  } else {
    out.push_back(
        {"pytorch_cuda_alloc_conf", "info", "PyTorch's CUDA allocator cannot be tuned here",
         fmt::format("{}; {} predates the allocator options memopt advises (max_split_size_mb "
                     "from torch {}, expandable_segments from {})",
                     unset, torch_whose(*facts.torch), version_text(max_split.advise_from),
                     version_text(expandable.advise_from)),
         fmt::format("leave PYTORCH_CUDA_ALLOC_CONF unset; {}", independent)});
  }
}

void environment_findings(const Report& report, const model::Facts& facts,
                          std::vector<Finding>& out) {
  // Whose environment: the target's own process, never memopt's. Unknown: nothing to say.
  if (!facts.environment_of) return;
  const std::string whose = fmt::format("in the environment of {} (pid {})",
                                        facts.environment_of->name, facts.environment_of->pid);
  if (facts.most_threads && facts.most_threads->threads >= kManyThreads &&
      !facts.malloc_arena_max) {
    out.push_back(
        {"malloc_arenas", "warning", "Many threads and no MALLOC_ARENA_MAX",
         fmt::format("{} (pid {}) runs {} threads and MALLOC_ARENA_MAX is not set {}; glibc gives "
                     "threads up to 8 arenas per core, each keeping freed memory",
                     facts.most_threads->name, facts.most_threads->pid, facts.most_threads->threads,
                     whose),
         "set MALLOC_ARENA_MAX=2 in the container's environment"});
  }
  if (!facts.malloc_trim_threshold) {
    out.push_back(
        {"malloc_trim_threshold", "info", "glibc keeps freed heap by default",
         fmt::format("MALLOC_TRIM_THRESHOLD_ is not set {} (glibc returns freed heap top only "
                     "above 128 KiB, and adjusts that upwards)",
                     whose),
         "set MALLOC_TRIM_THRESHOLD_=10000 (the seed's value), or call memopt's cleanup in the "
         "process (malloc_trim)"});
  }
  torch_allocator_findings(report, facts, whose, out);
  // Python reads both as set when non-empty.
  const auto unset = [](const std::optional<std::string>& value) {
    return !value || value->empty();
  };
  if (facts.environment_is_python && unset(facts.python_unbuffered)) {
    out.push_back(
        {"python_unbuffered", "info", "Python's output is buffered",
         fmt::format("PYTHONUNBUFFERED is not set {}: Python buffers stdout and stderr when they "
                     "are not a terminal (a container's log), so the last lines before an OOM "
                     "kill are lost with the process",
                     whose),
         "set PYTHONUNBUFFERED=1 in the container's environment (Dockerfile: ENV "
         "PYTHONUNBUFFERED=1)"});
  }
  if (facts.environment_is_python && unset(facts.python_dont_write_bytecode)) {
    out.push_back(
        {"python_dont_write_bytecode", "info", "Python writes bytecode files at run time",
         fmt::format("PYTHONDONTWRITEBYTECODE is not set {}: Python writes a .pyc beside each "
                     "module it imports that has none, into the container's writable layer, "
                     "whose page cache (memory, on a tmpfs) is charged to this container",
                     whose),
         "set PYTHONDONTWRITEBYTECODE=1 in the container's environment, or compile the "
         "bytecode into the image (python -m compileall)"});
  }
  const auto& host = report.sample.host;
  if (host.swap_total_bytes && *host.swap_total_bytes == 0) {
    out.push_back(
        {"swap_off", "info", "No swap",
         "SwapTotal is 0: the OOM killer acts with no slow-down first",
         "give the container swap (docker run --memory=X --memory-swap=2X) on a host with a swap "
         "file: fallocate -l 2G /swapfile && chmod 600 /swapfile && mkswap /swapfile && swapon "
         "/swapfile"});
  }
}

void gpu_findings(const Report& report, std::vector<Finding>& out) {
  for (const auto& gpu : report.sample.gpus) {
    if (gpu.total_bytes == 0 ||
        used_percent(gpu.used_bytes, gpu.total_bytes) <= report.thresholds.gpu_advice_percent)
      continue;
    out.push_back(
        {"gpu_memory_high", "warning", fmt::format("GPU {} memory is nearly full", gpu.index),
         fmt::format("{} used of {} on {}", format_bytes(gpu.used_bytes),
                     format_bytes(gpu.total_bytes), gpu.name),
         "call memopt.cleanup_gpu_memory() (torch.cuda.empty_cache) in the owning process, or run "
         "`memopt cleanup`"});
  }
}

void gpu_verdict_findings(const Report& report, std::vector<Finding>& out) {
  for (const auto& v : report.gpu_verdicts) {
    std::string title;
    if (v.kind == GpuVerdictKind::kWrongDevice) {
      title = "A process has a CUDA context on the wrong GPU";
    } else if (v.reason == OrphanReason::kZombie) {
      title = "GPU memory is held for a zombie process";
    } else if (v.reason == OrphanReason::kReparented) {
      title = "GPU memory is held by a worker whose parent died";
    } else {
      title = "GPU memory is held for a process that is gone";
    }
    out.push_back({std::string(to_string(v.kind)), "warning", std::move(title), v.message, v.fix});
  }
}

void fragmentation_findings(const Report& report, std::vector<Finding>& out) {
  const auto& f = report.sample.fragmentation;
  if (!f || f->unusable_free_percent_order9 < 50.0) return;
  out.push_back(
      {"fragmentation", "info", "Free memory is fragmented",
       fmt::format("{:.1f}% of free memory sits in blocks smaller than 2 MiB (huge pages, large "
                   "DMA buffers cannot use it)",
                   f->unusable_free_percent_order9),
       "memopt cleanup --aggressive (compacts memory where permitted)"});
}

void sharing_findings(const Report& report, std::vector<Finding>& out) {
  for (const auto& a : report.advice) {
    if (a.id == "rss_double_counts") {
      out.push_back(
          {"rss_double_counts", "info", "RSS overstates what forked workers use", a.message,
           "judge by PSS (memopt report) and size by the cgroup's working set, not by summed RSS"});
    }
  }
}

/// A worker group counts as copying from one sample when each worker's mean private memory is
/// at least this share of the parent's anonymous memory...
constexpr double kCopiedFraction = 0.25;
/// ...and at least this much (small parents and their workers are not worth a finding).
constexpr std::uint64_t kCopiedMinimum = 64 * kMiB;
/// The share of the limit the workers' copies must fit under (the severe level's 90%).
constexpr double kFitFraction = 0.9;

}  // namespace

std::vector<Finding> diagnose_groups(const std::vector<ProcessGroup>& groups,
                                     const EffectiveMemory& memory) {
  std::vector<Finding> out;
  for (const auto& g : groups) {
    if (g.kind != GroupKind::kWorkers || !g.parent || !g.parent_anon_bytes ||
        *g.parent_anon_bytes == 0 || g.members.empty()) {
      continue;
    }
    std::uint64_t held = 0;
    std::size_t known = 0;
    std::uint64_t smallest = UINT64_MAX;
    std::uint64_t largest = 0;
    for (const auto& m : g.members) {
      if (!m.private_bytes) continue;
      held += *m.private_bytes;
      ++known;
      smallest = std::min(smallest, *m.private_bytes);
      largest = std::max(largest, *m.private_bytes);
    }
    if (known == 0) continue;
    const std::uint64_t anon = *g.parent_anon_bytes;
    const std::uint64_t each = held / known;
    if (each < kCopiedMinimum ||
        static_cast<double>(each) < kCopiedFraction * static_cast<double>(anon))
      continue;
    Finding f;
    f.id = "workers_copy";
    const auto& parent = g.parent->memory;
    f.title = fmt::format("{} (pid {}) + {} workers hold copies of the parent's memory",
                          parent.name, parent.pid, g.members.size());
    f.evidence = fmt::format(
        "each worker's private memory is {} (from {} to {}), {:.0f}% of the parent's {} "
        "anonymous memory; the group holds {} ({})",
        format_bytes(each), format_bytes(smallest), format_bytes(largest),
        100.0 * static_cast<double>(each) / static_cast<double>(anon), format_bytes(anon),
        format_bytes(g.total_bytes), describe_group(g));
    f.severity = "info";
    std::string fits;
    if (memory.scope != Scope::kUnknown && memory.limit_bytes > 0) {
      // Every worker copying the parent's whole anonymous memory: the upper bound (one sample
      // shows no curve to fit; `memopt monitor` projects from the curve).
      std::uint64_t remaining = 0;
      for (const auto& m : g.members) {
        if (m.private_bytes) remaining += anon - std::min(anon, *m.private_bytes);
      }
      const std::uint64_t end = memory.used_bytes + remaining;
      const double fit = kFitFraction * static_cast<double>(memory.limit_bytes);
      const double base =
          static_cast<double>(memory.used_bytes - std::min(memory.used_bytes, held));
      const auto converged = std::max(anon, largest);
      const unsigned max_workers =
          fit <= base ? 0u : static_cast<unsigned>((fit - base) / static_cast<double>(converged));
      f.evidence += fmt::format(
          "; when every worker has copied it all, {} against a limit of {} (used now {})",
          format_bytes(end), format_bytes(memory.limit_bytes), format_bytes(memory.used_bytes));
      if (end > memory.limit_bytes) {
        f.severity = "critical";
      } else if (static_cast<double>(end) > fit) {
        f.severity = "warning";
      }
      fits = fmt::format("num_workers={} fits under 90% of the limit (each worker counted at {}); ",
                         max_workers, format_bytes(converged));
    }
    f.fix = fits +
            "keep the dataset's lists/dicts as numpy arrays or one bytes buffer (mmengine's "
            "BaseDataset(serialize_data=True)), which reading never copies; "
            "persistent_workers=True, so that each epoch does not fork workers that copy again; "
            "`memopt monitor 5` projects the end from the workers' curve";
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Finding> diagnose(const Report& report, const model::Facts& facts,
                              const AnalysisOptions& options) {
  std::vector<Finding> out;
  // The most urgent first: danger, then the shortage of available memory, then OOM kills and
  // the other levels.
  if (report.status.level == Level::kDanger) level_findings(report, out);
  available_findings(report, out);
  oom_findings(report, facts, out);
  if (report.status.level != Level::kDanger) level_findings(report, out);
  model_findings(report, options, out);
  pressure_findings(report, out);
  shm_findings(report, facts, out);
  gpu_findings(report, out);
  gpu_verdict_findings(report, out);
  environment_findings(report, facts, out);
  fragmentation_findings(report, out);
  sharing_findings(report, out);
  std::stable_sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return rank(a.severity) < rank(b.severity);
  });
  return out;
}

}  // namespace memopt::analysis
