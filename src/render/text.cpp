#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iterator>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/shm.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/printable.hpp"
#include "memopt/render/report.hpp"
#include "memopt/units.hpp"
#include "render/append.hpp"

namespace memopt::render {

namespace {

using analysis::Level;
using detail::put;
using detail::upper;

constexpr std::string_view kReset = "\033[0m";

std::string_view level_colour(Level level) {
  switch (level) {
    case Level::kNormal:
      return "\033[32m";  // green
    case Level::kAcceptable:
      return "\033[36m";  // cyan
    case Level::kWarning:
      return "\033[33m";  // yellow
    case Level::kSevere:
      return "\033[31m";  // red
    case Level::kDanger:
      return "\033[1;97;41m";  // bold white on red
    case Level::kUnknown:
      return "\033[35m";  // magenta
  }
  return "";
}

std::string bytes_or_unknown(const std::optional<std::uint64_t>& value) {
  return value ? format_bytes(*value) : std::string("unknown");
}

void put_cgroup(std::string& out, const model::CgroupMemory& cg) {
  put(out, "cgroup       v{} {}\n", cg.version, printable(cg.path));
  put(out, "             usage {}   working set {}   page cache {} inactive / {} active\n",
      format_bytes(cg.usage_bytes), format_bytes(cg.working_set_bytes),
      bytes_or_unknown(cg.inactive_file_bytes), bytes_or_unknown(cg.active_file_bytes));
  put(out, "             anon {}   file {}   shmem {}\n", bytes_or_unknown(cg.anon_bytes),
      bytes_or_unknown(cg.file_bytes), bytes_or_unknown(cg.shmem_bytes));
  std::string swap_limit = "unknown";
  if (cg.swap_limit_bytes)
    swap_limit = format_bytes(*cg.swap_limit_bytes);
  else if (cg.swap_accounting)
    swap_limit = "none";
  put(out, "             swap {} (limit {})   peak {}   OOM kills {}\n",
      bytes_or_unknown(cg.swap_usage_bytes), swap_limit, bytes_or_unknown(cg.peak_bytes),
      cg.oom_kill_events ? fmt::to_string(*cg.oom_kill_events) : std::string("unknown"));
}

void put_pressure(std::string& out, std::string_view label, const model::Pressure& p) {
  put(out,
      "pressure     {} some {:.2f}/{:.2f}/{:.2f}%  full {:.2f}/{:.2f}/{:.2f}%  (avg "
      "10s/60s/300s)\n",
      label, p.some_avg10, p.some_avg60, p.some_avg300, p.full_avg10, p.full_avg60, p.full_avg300);
}

void put_processes(std::string& out, const model::Sample& sample, std::size_t top) {
  const std::size_t count = std::min(top, sample.processes.size());
  if (sample.processes_host_wide) {
    put(out, "processes    top {} by PSS of {} on the host (host-wide)\n", count,
        sample.processes.size());
  } else {
    put(out, "processes    top {} by PSS of {} in cgroup {}\n", count, sample.processes.size(),
        sample.cgroup ? printable(sample.cgroup->path) : std::string());
  }
  if (count == 0) return;
  put(out, "  {:>8}  {:<16} {:>10} {:>10} {:>10} {:>10}\n", "PID", "NAME", "PSS", "USS", "RSS",
      "SWAP");
  for (std::size_t i = 0; i < count; ++i) {
    const auto& p = sample.processes[i];
    put(out, "  {:>8}  {:<16} {:>10} {:>10} {:>10} {:>10}\n", p.pid, p.name,
        bytes_or_unknown(p.pss_bytes), bytes_or_unknown(p.uss_bytes), format_bytes(p.rss_bytes),
        bytes_or_unknown(p.swap_bytes));
  }
}

void put_groups(std::string& out, const std::vector<analysis::ProcessGroup>& groups,
                std::size_t top) {
  // The largest `top`, as for processes: a host has many shells with one subshell each.
  for (std::size_t i = 0; i < std::min(top, groups.size()); ++i) {
    put(out, "  group {}\n", analysis::describe_group(groups[i]));
  }
}

void put_containers(std::string& out, const analysis::Report& report) {
  put(out, "containers   {} with a memory limit, fullest first\n", report.containers.size());
  if (report.containers.empty()) return;
  put(out, "  {:<10} {:>7} {:>10} {:>10} {:>10} {:>5}  {:<26} {}\n", "LEVEL", "USED%", "USED",
      "LIMIT", "AVAILABLE", "OOMK", "NAME", "CGROUP");
  for (const auto& c : report.containers) {
    put(out, "  {:<10} {:>6.1f}% {:>10} {:>10} {:>10} {:>5}  {:<26} {}\n",
        analysis::to_string(c.level), c.memory.used_percent, format_bytes(c.memory.used_bytes),
        format_bytes(c.memory.limit_bytes), format_bytes(c.memory.available_bytes),
        c.oom_kill_events ? fmt::to_string(*c.oom_kill_events) : std::string("?"),
        printable(c.identity.display), printable(c.path));
  }
}

void put_gpus(std::string& out, const model::Sample& sample) {
  if (sample.gpus.empty()) {
    put(out, "gpus         none found\n");
    return;
  }
  for (const auto& gpu : sample.gpus) {
    if (!gpu.memory_known) {
      put(out, "gpu {:<8} {}  memory unknown (NVML refuses it here)\n", gpu.index, gpu.name);
      continue;  // a MIG parent: its instances follow with their own lines
    }
    const double percent = gpu.total_bytes == 0 ? 0.0
                                                : 100.0 * static_cast<double>(gpu.used_bytes) /
                                                      static_cast<double>(gpu.total_bytes);
    put(out, "gpu {:<8} {}  used {} of {} ({:.1f}%)   free {}   reserved {}\n", gpu.index, gpu.name,
        format_bytes(gpu.used_bytes), format_bytes(gpu.total_bytes), percent,
        format_bytes(gpu.free_bytes), bytes_or_unknown(gpu.reserved_bytes));
    std::vector<const model::GpuProcess*> procs;
    for (const auto& p : gpu.processes) procs.push_back(&p);
    std::sort(procs.begin(), procs.end(), [](const auto* a, const auto* b) {
      return a->used_bytes.value_or(0) > b->used_bytes.value_or(0);
    });
    for (std::size_t i = 0; i < std::min<std::size_t>(procs.size(), 5); ++i) {
      const auto& p = *procs[i];
      std::string how;
      if (p.local_pid && p.attributed_by != model::GpuAttribution::kPid) {
        how = fmt::format(
            "  pid {} here, by {}", *p.local_pid,
            p.attributed_by == model::GpuAttribution::kSelfReport ? "self-report" : "elimination");
      }
      put(out, "  {:>8}  {:<16} {:>10}{}\n", p.pid, p.name.value_or("(not visible)"),
          bytes_or_unknown(p.used_bytes), how);
    }
    if (!gpu.processes_known) put(out, "  processes unknown (NVML cannot list them here)\n");
  }
}

// The torch allocator and models of each process that answered `stats` on its socket.
void put_process_stats(std::string& out, const model::Sample& sample) {
  for (const auto& stats : sample.process_stats) {
    put(out, "in-process   pid {} {}", stats.pid, stats.name.value_or("?"));
    if (stats.error) {
      put(out, ": no answer ({})\n", *stats.error);
      continue;
    }
    if (stats.torch.empty() && stats.models.empty()) put(out, ": no torch device in use, no model");
    out += '\n';
    for (const auto& d : stats.torch) {
      put(out, "  cuda:{:<3} allocated {}   reserved {}   cache {}   peak {}\n", d.device,
          format_bytes(d.allocated_bytes), format_bytes(d.reserved_bytes),
          format_bytes(d.reserved_bytes - std::min(d.reserved_bytes, d.allocated_bytes)),
          bytes_or_unknown(d.peak_allocated_bytes));
    }
    for (const auto& m : stats.models) {
      put(out, "  model {:<20} {:>10}   {}\n", m.name, bytes_or_unknown(m.bytes),
          m.idle_seconds ? fmt::format("idle {:.0f} s", *m.idle_seconds) : std::string("in use"));
    }
  }
}

// The target's /dev/shm: size and use, orphans, the cgroup's shmem split, the largest files.
void put_shm(std::string& out, const model::Sample& sample, std::size_t top) {
  const auto& shm = *sample.shm;
  put(out, "/dev/shm     {} used of {} ({:.1f}%)   {} file(s){}{}\n", format_bytes(shm.used_bytes),
      format_bytes(shm.size_bytes), analysis::shm_used_percent(shm), shm.file_count,
      shm.via_pid ? fmt::format("   seen through pid {}", *shm.via_pid) : std::string(),
      shm.tmpfs ? "" : "   (not a tmpfs)");
  if (shm.owners_judged) {
    put(out,
        "             orphans {} in {} file(s) (owner dead, held by no process: memopt cleanup "
        "removes them)\n",
        format_bytes(shm.orphan_bytes), shm.orphan_files);
  } else {
    put(out, "             orphans unknown (owners' pids are in another pid namespace)\n");
  }
  if (const auto split = analysis::split_shmem(sample)) {
    put(out, "             cgroup shmem {} = /dev/shm {} + {} elsewhere ({})\n",
        format_bytes(split->shmem_bytes), format_bytes(split->dev_shm_bytes),
        format_bytes(split->other_bytes), analysis::kShmemElsewhere);
  }
  const std::size_t count = std::min(top, shm.files.size());
  if (count == 0) return;
  put(out, "  {:>10} {:>10}  {:<8} {:<12} {}\n", "ALLOCATED", "SIZE", "OWNER", "HELD BY", "NAME");
  for (std::size_t i = 0; i < count; ++i) {
    const auto& f = shm.files[i];
    std::string owner = "-";
    if (f.owner_pid) {
      owner = fmt::format("{}{}", *f.owner_pid,
                          f.owner_alive == false ? " dead" : (f.owner_alive ? "" : " ?"));
    }
    std::string held = "-";
    if (!f.holders.empty()) {
      held = fmt::to_string(f.holders.front());
      if (f.holders.size() > 1) held += fmt::format(" +{}", f.holders.size() - 1);
    }
    put(out, "  {:>10} {:>10}  {:<8} {:<12} {}{}{}\n", format_bytes(f.allocated_bytes),
        format_bytes(f.size_bytes), owner, held, printable(f.name),
        f.type == "regular" ? "" : " (" + f.type + ")", f.orphan ? "  orphan" : "");
  }
}

}  // namespace

std::string render_text(const analysis::Report& report, const RenderOptions& options) {
  const auto& sample = report.sample;
  const auto& memory = report.memory;
  std::string out;
  put(out, "memopt report  {:%Y-%m-%d %H:%M:%S} UTC\n",
      fmt::gmtime(std::chrono::system_clock::to_time_t(sample.timestamp)));
  const std::string level = upper(analysis::to_string(report.status.level));
  if (options.color) {
    put(out, "status       {}{}{}", level_colour(report.status.level), level, kReset);
  } else {
    put(out, "status       {}", level);
  }
  for (const auto& reason : report.status.reasons) put(out, "  {}", reason);
  out += '\n';
  if (sample.target.kind != model::Target::Kind::kSelf) {
    put(out, "target       {}\n", printable(sample.target.describe()));
  }
  if (memory.scope == analysis::Scope::kUnknown) {
    put(out, "memory       unknown: {}\n", sample.cgroup_unreadable.value_or("not read"));
  } else {
    put(out, "memory       {} scope   limit {}   used {} ({:.1f}%)   available {}\n",
        analysis::to_string(memory.scope), format_bytes(memory.limit_bytes),
        format_bytes(memory.used_bytes), memory.used_percent, format_bytes(memory.available_bytes));
  }
  const auto& host = sample.host;
  std::string swap = "unknown";
  if (host.swap_total_bytes && *host.swap_total_bytes == 0) {
    swap = "off";
  } else if (host.swap_total_bytes && host.swap_free_bytes) {
    swap = fmt::format("{} of {} used",
                       format_bytes(*host.swap_total_bytes -
                                    std::min(*host.swap_total_bytes, *host.swap_free_bytes)),
                       format_bytes(*host.swap_total_bytes));
  }
  put(out, "host         total {}   available {}{}   swap {}\n", format_bytes(host.total_bytes),
      format_bytes(host.available_bytes), host.available_estimated ? " (estimated)" : "", swap);
  if (sample.cgroup) put_cgroup(out, *sample.cgroup);
  if (sample.cgroup && sample.cgroup->pressure)
    put_pressure(out, "cgroup", *sample.cgroup->pressure);
  if (sample.host_pressure) put_pressure(out, "host  ", *sample.host_pressure);
  if (options.containers) put_containers(out, report);
  if (!sample.cgroup_unreadable) {
    put_processes(out, sample, options.top);
    put_groups(out, options.groups, options.top);
  }
  if (sample.shm) put_shm(out, sample, options.top);
  put_gpus(out, sample);
  for (const auto& v : report.gpu_verdicts) {
    put(out, "{:<12} {}\n  fix: {}\n", analysis::to_string(v.kind), v.message, v.fix);
  }
  put_process_stats(out, sample);
  if (sample.fragmentation) {
    put(out, "fragmentation {:.1f}% of free memory is in blocks too small for a 2 MiB request\n",
        sample.fragmentation->unusable_free_percent_order9);
  }
  if (!report.advice.empty()) {
    out += "advice\n";
    for (const auto& a : report.advice)
      put(out, "  {} {}\n", a.severity == "warning" ? "!" : "-", a.message);
  }
  return out;
}

int check_exit_code(Level level, bool problems) {
  switch (level) {
    case Level::kNormal:
    case Level::kAcceptable:
      return problems ? exit_status::kCheckWarning : exit_status::kCheckOk;
    case Level::kWarning:
      return exit_status::kCheckWarning;
    case Level::kSevere:
    case Level::kDanger:
      return exit_status::kCheckCritical;
    case Level::kUnknown:
      break;
  }
  return exit_status::kCheckUnknown;
}

std::string render_check(const analysis::Report& report, const std::vector<std::string>& problems) {
  const auto& m = report.memory;
  auto parts = problems;
  if (!report.status.reasons.empty()) parts.push_back(report.status.reasons.front());
  std::string reason = fmt::format("{}", fmt::join(parts, "; "));
  if (m.scope == analysis::Scope::kUnknown) {
    return fmt::format("MEMOPT UNKNOWN - {}\n", reason);
  }
  // Below the seed's minimum is the most urgent thing after the level itself: say it first.
  for (const auto& a : report.advice) {
    if (a.id == "available_below_minimum") reason += "; " + a.message;
  }
  // A protection that would not work is a warning at a level that is fine.
  const bool raised = !problems.empty() && check_exit_code(report.status.level) == 0;
  const auto level = raised ? Level::kWarning : report.status.level;
  return fmt::format(
      "MEMOPT {} - {} | used_percent={:.2f}%;{};{};0;100 used={}B;;;0;{} available={}B;;;0;{}\n",
      upper(analysis::to_string(level)), reason, m.used_percent, report.thresholds.warning_percent,
      report.thresholds.severe_percent, m.used_bytes, m.limit_bytes, m.available_bytes,
      m.limit_bytes);
}

}  // namespace memopt::render
