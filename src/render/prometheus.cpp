#include "memopt/render/prometheus.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <utility>
#include <vector>

#include "memopt/analysis/shm.hpp"
#include "memopt/printable.hpp"
#include "memopt/version.hpp"
#include "render/append.hpp"

namespace memopt::render {

namespace {

using Labels = std::vector<std::pair<std::string_view, std::string>>;

/// One metric family; written only when it has at least one sample.
class Family {
 public:
  Family(std::string name, std::string_view type, std::string help)
      : name_(std::move(name)), type_(type), help_(std::move(help)) {}

  void add(const Labels& labels, std::uint64_t value) {
    add_text(labels, fmt::format("{}", value));
  }

  void add(const Labels& labels, double value) {
    // The text format spells non-finite values this way; fmt would write "inf"/"nan".
    if (std::isnan(value)) {
      add_text(labels, "NaN");
    } else if (std::isinf(value)) {
      add_text(labels, value > 0 ? "+Inf" : "-Inf");
    } else {
      add_text(labels, fmt::format("{}", value));
    }
  }

  void add(std::uint64_t value) { add(Labels{}, value); }
  void add(double value) { add(Labels{}, value); }
  void add_optional(const std::optional<std::uint64_t>& value) {
    if (value) add(*value);
  }

  void write_to(std::string& out) const {
    if (samples_.empty()) return;
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name_, help_, name_,
                   type_);
    out += samples_;
  }

 private:
  void add_text(const Labels& labels, const std::string& value) {
    samples_ += name_;
    if (!labels.empty()) {
      samples_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0) samples_ += ',';
        fmt::format_to(std::back_inserter(samples_), "{}=\"{}\"", labels[i].first,
                       escape_label_value(labels[i].second));
      }
      samples_ += '}';
    }
    samples_ += ' ';
    samples_ += value;
    samples_ += '\n';
  }

  std::string name_;
  std::string_view type_;
  std::string help_;
  std::string samples_;
};

/// Writes families in the order they were created.
class Exposition {
 public:
  Family& gauge(std::string_view name, std::string_view help) { return add(name, "gauge", help); }
  Family& gauge_owned(std::string name, std::string help) {
    families_.emplace_back(std::move(name), "gauge", std::move(help));
    return families_.back();
  }
  Family& counter(std::string_view name, std::string_view help) {
    return add(name, "counter", help);
  }
  [[nodiscard]] std::string text() const {
    std::string out;
    for (const auto& f : families_) f.write_to(out);
    return out;
  }

 private:
  Family& add(std::string_view name, std::string_view type, std::string_view help) {
    families_.emplace_back(std::string(name), type, std::string(help));
    return families_.back();
  }
  std::deque<Family> families_;  // a deque: references to earlier families stay valid
};

/// PSI as ratios (the kernel's percentages / 100) under `prefix`: "memopt_pressure" for the
/// watched cgroup's own stalls, "memopt_host_pressure" for the whole host's.
void pressure_metrics(Exposition& x, std::string_view prefix, std::string_view whose,
                      const model::Pressure& p) {
  static constexpr std::string_view kWindows[] = {"some_avg10", "some_avg60", "some_avg300",
                                                  "full_avg10", "full_avg60", "full_avg300"};
  const double values[] = {p.some_avg10, p.some_avg60, p.some_avg300,
                           p.full_avg10, p.full_avg60, p.full_avg300};
  for (std::size_t i = 0; i < std::size(kWindows); ++i) {
    const std::string_view window = kWindows[i];
    x.gauge_owned(fmt::format("{}_{}_ratio", prefix, window),
                  fmt::format("Share of time {} tasks stalled on memory ({}), {} s average",
                              window.substr(0, 4) == "some" ? "some" : "all", whose,
                              window.substr(window.find("avg") + 3)))
        .add(values[i] / 100.0);
  }
}

}  // namespace

const std::vector<std::string_view>& known_event_names() {
  static const std::vector<std::string_view> names{
      "level_changed", "oom_kill", "pressure",     "leak_suspected", "oom_forecast",
      "shed",          "kill",     "workers_copy", "loop_forecast"};
  return names;
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string render_prometheus(const analysis::Report& report, const MetricsExtras& extras) {
  const auto& sample = report.sample;
  const auto& memory = report.memory;
  const auto& host = sample.host;
  Exposition x;
  const bool known = memory.scope != analysis::Scope::kUnknown;
  x.gauge("memopt_up", "1 when memopt could read the memory it reports, 0 when it is unknown")
      .add(std::uint64_t{known ? 1u : 0u});
  // node_exporter's build_info convention: a constant 1, the build in its labels.
  x.gauge("memopt_build_info", "A constant 1, labelled with the version and git revision of memopt")
      .add(Labels{{"version", std::string(version())}, {"revision", std::string(revision())}},
           std::uint64_t{1});
  const auto& target = sample.target;
  x.gauge("memopt_target_info", "What memopt watches: kind (self, pid, cgroup, host) and cgroup")
      .add(Labels{{"kind", std::string(target.kind_name())},
                  {"cgroup", detail::target_cgroup(sample).value_or("")}},
           std::uint64_t{1});
  if (known) {
    x.gauge("memopt_memory_limit_bytes",
            "Effective memory limit: min(cgroup limit, MemTotal), or MemTotal")
        .add(memory.limit_bytes);
    x.gauge("memopt_memory_used_bytes",
            "Effective memory used: cgroup working set, or MemTotal - MemAvailable")
        .add(memory.used_bytes);
    x.gauge("memopt_memory_available_bytes",
            "Effective memory available: min(limit - used, MemAvailable)")
        .add(memory.available_bytes);
    x.gauge("memopt_memory_used_ratio", "Effective memory used / limit (0-1)")
        .add(memory.used_percent / 100.0);
    x.gauge("memopt_status_level",
            "Status level: 0 normal, 1 acceptable, 2 warning, 3 severe, 4 danger")
        .add(static_cast<std::uint64_t>(report.status.level));
    x.gauge("memopt_container_scope",
            "1 when a cgroup limit applies (container), 0 when the host is the limit")
        .add(std::uint64_t{memory.scope == analysis::Scope::kContainer ? 1u : 0u});
  }
  x.gauge("memopt_sample_timestamp_seconds", "Unix time of the sample the values come from")
      .add(std::chrono::duration<double>(sample.timestamp.time_since_epoch()).count());

  x.gauge("memopt_host_memory_total_bytes", "Host MemTotal from meminfo").add(host.total_bytes);
  x.gauge("memopt_host_memory_free_bytes", "Host MemFree from meminfo").add(host.free_bytes);
  x.gauge("memopt_host_memory_available_bytes",
          "Host MemAvailable from meminfo (estimated on old kernels)")
      .add(host.available_bytes);
  x.gauge("memopt_host_memory_buffers_bytes", "Host Buffers from meminfo")
      .add_optional(host.buffers_bytes);
  x.gauge("memopt_host_memory_cached_bytes", "Host Cached from meminfo")
      .add_optional(host.cached_bytes);
  x.gauge("memopt_host_memory_shmem_bytes", "Host Shmem from meminfo")
      .add_optional(host.shmem_bytes);
  x.gauge("memopt_host_swap_total_bytes", "Host SwapTotal from meminfo")
      .add_optional(host.swap_total_bytes);
  x.gauge("memopt_host_swap_free_bytes", "Host SwapFree from meminfo")
      .add_optional(host.swap_free_bytes);

  if (const auto& cg = sample.cgroup) {
    x.gauge("memopt_cgroup_version", "Memory controller version of the watched cgroup (1 or 2)")
        .add(static_cast<std::uint64_t>(cg->version));
    x.gauge("memopt_cgroup_limit_bytes",
            "Cgroup memory limit, smallest among visible ancestors; absent if none")
        .add_optional(cg->limit_bytes);
    x.gauge("memopt_cgroup_usage_bytes",
            "Cgroup memory usage (v2 memory.current, v1 usage_in_bytes)")
        .add(cg->usage_bytes);
    x.gauge("memopt_cgroup_working_set_bytes", "Cgroup usage minus inactive file pages")
        .add(cg->working_set_bytes);
    x.gauge("memopt_cgroup_inactive_file_bytes", "Cgroup inactive file pages")
        .add_optional(cg->inactive_file_bytes);
    x.gauge("memopt_cgroup_active_file_bytes", "Cgroup active file pages")
        .add_optional(cg->active_file_bytes);
    x.gauge("memopt_cgroup_anon_bytes", "Cgroup anonymous memory").add_optional(cg->anon_bytes);
    x.gauge("memopt_cgroup_file_bytes", "Cgroup page cache").add_optional(cg->file_bytes);
    x.gauge("memopt_cgroup_shmem_bytes", "Cgroup shared memory").add_optional(cg->shmem_bytes);
    x.gauge("memopt_cgroup_swap_limit_bytes",
            "Cgroup swap limit; absent when unlimited or unaccounted")
        .add_optional(cg->swap_limit_bytes);
    x.gauge("memopt_cgroup_swap_usage_bytes", "Cgroup swap usage")
        .add_optional(cg->swap_usage_bytes);
    x.gauge("memopt_cgroup_peak_bytes", "Cgroup peak usage (v2 memory.peak, v1 max_usage_in_bytes)")
        .add_optional(cg->peak_bytes);
    x.counter("memopt_cgroup_oom_events_total",
              "Times the cgroup hit its limit and the OOM killer ran")
        .add_optional(cg->oom_events);
    x.counter("memopt_cgroup_oom_kills_total", "Processes the OOM killer killed in the cgroup")
        .add_optional(cg->oom_kill_events);
  }

  if (const auto& shm = sample.shm) {
    x.gauge("memopt_dev_shm_size_bytes", "Size of the target's /dev/shm (tmpfs size=)")
        .add(shm->size_bytes);
    x.gauge("memopt_dev_shm_used_bytes", "Used bytes of the target's /dev/shm")
        .add(shm->used_bytes);
    x.gauge("memopt_dev_shm_files", "Entries in the target's /dev/shm").add(shm->file_count);
    if (shm->owners_judged) {
      x.gauge("memopt_dev_shm_orphan_bytes",
              "Bytes of /dev/shm files whose owner pid is dead and that no process holds")
          .add(shm->orphan_bytes);
      x.gauge("memopt_dev_shm_orphan_files",
              "/dev/shm files whose owner pid is dead and that no process holds")
          .add(shm->orphan_files);
    }
    if (const auto split = analysis::split_shmem(sample)) {
      x.gauge("memopt_cgroup_shmem_outside_dev_shm_bytes",
              "Cgroup shmem not in /dev/shm: memfd, pinned host memory, SysV, other tmpfs")
          .add(split->other_bytes);
    }
  }

  // Pressure under two names: the watched cgroup's own, and the host's, never one for the other.
  if (sample.cgroup && sample.cgroup->pressure) {
    pressure_metrics(x, "memopt_pressure", "the watched cgroup", *sample.cgroup->pressure);
  }
  if (sample.host_pressure) {
    pressure_metrics(x, "memopt_host_pressure", "the whole host", *sample.host_pressure);
  }

  if (!report.containers.empty()) {
    auto& limit = x.gauge("memopt_container_memory_limit_bytes",
                          "A listed container's effective memory limit (report --containers)");
    auto& used = x.gauge("memopt_container_memory_used_bytes",
                         "A listed container's working set (report --containers)");
    auto& available = x.gauge("memopt_container_memory_available_bytes",
                              "A listed container's available memory (report --containers)");
    auto& ratio = x.gauge("memopt_container_memory_used_ratio",
                          "A listed container's used / limit, 0-1 (report --containers)");
    auto& level = x.gauge("memopt_container_status_level",
                          "A listed container's level: 0 normal ... 4 danger");
    auto& kills = x.counter("memopt_container_oom_kills_total",
                            "Processes the OOM killer killed in a listed container");
    for (const auto& c : report.containers) {
      // The path, and the names a `kubectl top` user joins on: only those the path gives (an
      // empty label is no label to Prometheus).
      const auto& id = c.identity;
      Labels labels{{"cgroup", printable(c.path)}, {"name", printable(id.display)}};
      for (const auto& [key, value] :
           {std::pair{"runtime", &id.runtime}, std::pair{"container_id", &id.container_id},
            std::pair{"pod_uid", &id.pod_uid}, std::pair{"qos_class", &id.qos_class}}) {
        if (!value->empty()) labels.emplace_back(key, *value);
      }
      limit.add(labels, c.memory.limit_bytes);
      used.add(labels, c.memory.used_bytes);
      available.add(labels, c.memory.available_bytes);
      ratio.add(labels, c.memory.used_percent / 100.0);
      level.add(labels, static_cast<std::uint64_t>(c.level));
      if (c.oom_kill_events) kills.add(labels, *c.oom_kill_events);
    }
  }

  if (sample.fragmentation) {
    x.gauge("memopt_fragmentation_unusable_free_order9_ratio",
            "Share of free pages in blocks too small for a 2 MiB (order-9) allocation")
        .add(sample.fragmentation->unusable_free_percent_order9 / 100.0);
  }

  auto& pss =
      x.gauge("memopt_process_pss_bytes", "Proportional set size of the largest processes (top N)");
  auto& rss =
      x.gauge("memopt_process_rss_bytes", "Resident set size of the largest processes (top N)");
  auto& uss =
      x.gauge("memopt_process_uss_bytes", "Unique set size of the largest processes (top N)");
  auto& swap =
      x.gauge("memopt_process_swap_bytes", "Swapped-out memory of the largest processes (top N)");
  const std::size_t count = std::min(extras.top, sample.processes.size());
  for (std::size_t i = 0; i < count; ++i) {
    const auto& p = sample.processes[i];
    const Labels labels{{"pid", std::to_string(p.pid)}, {"name", p.name}};
    if (p.pss_bytes) pss.add(labels, *p.pss_bytes);
    rss.add(labels, p.rss_bytes);
    if (p.uss_bytes) uss.add(labels, *p.uss_bytes);
    if (p.swap_bytes) swap.add(labels, *p.swap_bytes);
  }

  auto& gpu_total = x.gauge("memopt_gpu_memory_total_bytes", "GPU memory total (NVML)");
  auto& gpu_used = x.gauge("memopt_gpu_memory_used_bytes", "GPU memory used (NVML)");
  auto& gpu_free = x.gauge("memopt_gpu_memory_free_bytes", "GPU memory free (NVML)");
  auto& gpu_reserved =
      x.gauge("memopt_gpu_memory_reserved_bytes", "GPU memory reserved by the driver (NVML)");
  auto& gpu_process =
      x.gauge("memopt_gpu_process_memory_used_bytes", "GPU memory used by a process (NVML)");
  for (const auto& gpu : sample.gpus) {
    const Labels labels{{"gpu", std::to_string(gpu.index)}, {"uuid", gpu.uuid}};
    if (gpu.memory_known) {  // no series rather than made-up zeros
      gpu_total.add(labels, gpu.total_bytes);
      gpu_used.add(labels, gpu.used_bytes);
      gpu_free.add(labels, gpu.free_bytes);
      if (gpu.reserved_bytes) gpu_reserved.add(labels, *gpu.reserved_bytes);
    }
    for (const auto& p : gpu.processes) {
      if (!p.used_bytes) continue;
      gpu_process.add(Labels{{"gpu", std::to_string(gpu.index)},
                             {"pid", std::to_string(p.pid)},
                             {"name", p.name.value_or("")}},
                      *p.used_bytes);
    }
  }

  // Only when every listed process could be looked up: a zero over entries memopt cannot see
  // (another pid namespace) would be made up.
  const bool verdicts_known =
      !sample.gpus.empty() &&
      std::all_of(sample.gpus.begin(), sample.gpus.end(), [](const auto& g) {
        return g.processes_known && std::all_of(g.processes.begin(), g.processes.end(),
                                                [](const auto& p) { return p.life.has_value(); });
      });
  if (verdicts_known) {
    std::uint64_t orphans = 0;
    std::uint64_t wrong = 0;
    for (const auto& v : report.gpu_verdicts) {
      ++(v.kind == analysis::GpuVerdictKind::kOrphan ? orphans : wrong);
    }
    x.gauge("memopt_gpu_orphan_bytes",
            "GPU memory NVML counts for processes that are gone, zombies or reparented workers")
        .add(analysis::orphaned_gpu_bytes(report.gpu_verdicts));
    x.gauge("memopt_gpu_orphan_processes", "Processes with a gpu_orphan verdict").add(orphans);
    x.gauge("memopt_gpu_wrong_device_processes",
            "Processes with contexts on several GPUs or not on their LOCAL_RANK's")
        .add(wrong);
  }

  auto& torch_allocated =
      x.gauge("memopt_process_torch_allocated_bytes",
              "GPU memory torch's caching allocator has handed out, as the process reports it");
  auto& torch_reserved =
      x.gauge("memopt_process_torch_reserved_bytes",
              "GPU memory torch's caching allocator holds (allocated + cache), as the process "
              "reports it");
  auto& model_bytes =
      x.gauge("memopt_model_bytes", "Memory charged to a model a process's ModelCache holds");
  for (const auto& stats : sample.process_stats) {
    const auto pid = std::to_string(stats.pid);
    for (const auto& d : stats.torch) {
      const Labels labels{{"pid", pid}, {"device", std::to_string(d.device)}};
      torch_allocated.add(labels, d.allocated_bytes);
      torch_reserved.add(labels, d.reserved_bytes);
    }
    for (const auto& m : stats.models) {
      if (m.bytes) model_bytes.add(Labels{{"pid", pid}, {"model", m.name}}, *m.bytes);
    }
  }

  if (extras.events) {
    auto& events =
        x.counter("memopt_events_total", "Events the monitor raised since it started, by event");
    std::map<std::string, std::uint64_t> all;
    for (const auto name : known_event_names()) all.emplace(name, 0);
    for (const auto& [name, n] : *extras.events) all[name] = n;
    for (const auto& [name, n] : all) events.add(Labels{{"event", name}}, n);
  }
  if (extras.cleanup_reclaimed_bytes) {
    x.counter("memopt_cleanup_reclaimed_bytes_total",
              "Bytes reclaimed by memopt cleanups since it started")
        .add(*extras.cleanup_reclaimed_bytes);
  }
  return x.text();
}

}  // namespace memopt::render
