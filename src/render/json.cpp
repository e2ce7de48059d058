#include <fmt/chrono.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/shm.hpp"
#include "memopt/printable.hpp"
#include "memopt/render/report.hpp"
#include "memopt/version.hpp"
#include "render/append.hpp"
#include "render/json_document.hpp"

namespace memopt::render {

namespace {

using Json = nlohmann::ordered_json;

/// Percentages keep two decimals: enough for thresholds, stable in golden files.
double round2(double value) { return std::round(value * 100.0) / 100.0; }

Json process_groups_json(const std::vector<analysis::ProcessGroup>& groups) {
  auto node_json = [](const model::ProcessNode& n) {
    return Json{{"pid", n.memory.pid},
                {"name", n.memory.name},
                {"rss_bytes", n.memory.rss_bytes},
                {"pss_bytes", or_null(n.memory.pss_bytes)},
                {"uss_bytes", or_null(n.memory.uss_bytes)},
                {"anon_bytes", or_null(n.anon_bytes)},
                {"rank", or_null(n.rank)},
                {"local_rank", or_null(n.local_rank)},
                {"world_size", or_null(n.world_size)}};
  };
  Json out = Json::array();
  for (const auto& g : groups) {
    Json members = Json::array();
    for (const auto& m : g.members) {
      auto j = node_json(m.node);
      j["private_bytes"] = or_null(m.private_bytes);
      j["shared_bytes"] = or_null(m.shared_bytes);
      members.push_back(std::move(j));
    }
    out.push_back(Json{{"kind", g.kind == analysis::GroupKind::kRanks ? "ranks" : "workers"},
                       {"summary", analysis::describe_group(g)},
                       {"parent", g.parent ? node_json(*g.parent) : Json(nullptr)},
                       {"parent_anon_bytes", or_null(g.parent_anon_bytes)},
                       {"total_bytes", g.total_bytes},
                       {"members", std::move(members)}});
  }
  return out;
}

// Each figure twice for one release: "_percent" (docs/naming.md) and the old unitless key.
Json pressure_json(const model::Pressure& p) {
  return Json{{"some_avg10_percent", p.some_avg10},   {"some_avg10", p.some_avg10},
              {"some_avg60_percent", p.some_avg60},   {"some_avg60", p.some_avg60},
              {"some_avg300_percent", p.some_avg300}, {"some_avg300", p.some_avg300},
              {"full_avg10_percent", p.full_avg10},   {"full_avg10", p.full_avg10},
              {"full_avg60_percent", p.full_avg60},   {"full_avg60", p.full_avg60},
              {"full_avg300_percent", p.full_avg300}, {"full_avg300", p.full_avg300}};
}

Json cgroup_json(const model::CgroupMemory& cg) {
  return Json{{"version", cg.version},
              {"path", printable(cg.path)},
              {"limit_bytes", or_null(cg.limit_bytes)},
              {"usage_bytes", cg.usage_bytes},
              {"working_set_bytes", cg.working_set_bytes},
              {"inactive_file_bytes", or_null(cg.inactive_file_bytes)},
              {"active_file_bytes", or_null(cg.active_file_bytes)},
              {"anon_bytes", or_null(cg.anon_bytes)},
              {"file_bytes", or_null(cg.file_bytes)},
              {"shmem_bytes", or_null(cg.shmem_bytes)},
              {"swap_limit_bytes", or_null(cg.swap_limit_bytes)},
              {"swap_usage_bytes", or_null(cg.swap_usage_bytes)},
              {"peak_bytes", or_null(cg.peak_bytes)},
              {"oom_events", or_null(cg.oom_events)},
              {"oom_kill_events", or_null(cg.oom_kill_events)},
              {"pressure", cg.pressure ? pressure_json(*cg.pressure) : Json(nullptr)}};
}

Json attribution_name(model::GpuAttribution how) {
  switch (how) {
    case model::GpuAttribution::kPid:
      return "pid";
    case model::GpuAttribution::kSelfReport:
      return "self_report";
    case model::GpuAttribution::kElimination:
      return "elimination";
    case model::GpuAttribution::kNone:
      break;
  }
  return nullptr;
}

// What a process embedding memopt said over its socket (`stats`); its error when it did not.
Json process_stats_json(const model::ProcessStats& stats) {
  Json torch = Json::array();
  for (const auto& d : stats.torch) {
    torch.push_back(
        Json{{"device", d.device},
             {"uuid", or_null(d.uuid)},
             {"allocated_bytes", d.allocated_bytes},
             {"reserved_bytes", d.reserved_bytes},
             {"peak_allocated_bytes", or_null(d.peak_allocated_bytes)},
             {"cache_bytes", d.reserved_bytes - std::min(d.reserved_bytes, d.allocated_bytes)}});
  }
  Json models = Json::array();
  for (const auto& m : stats.models) {
    models.push_back(Json{
        {"name", m.name}, {"bytes", or_null(m.bytes)}, {"idle_seconds", or_null(m.idle_seconds)}});
  }
  return Json{{"pid", stats.pid},
              {"name", or_null(stats.name)},
              {"error", or_null(stats.error)},
              {"torch", std::move(torch)},
              {"models", std::move(models)}};
}

Json gpu_json(const model::GpuDevice& gpu) {
  Json processes = Json::array();
  for (const auto& p : gpu.processes) {
    processes.push_back(Json{{"pid", p.pid},
                             {"name", or_null(p.name)},
                             {"used_bytes", or_null(p.used_bytes)},
                             {"attributed_by", attribution_name(p.attributed_by)},
                             {"local_pid", or_null(p.local_pid)}});
  }
  // Unknown memory is null, never the zeros the model holds then.
  const auto known = [&gpu](std::uint64_t bytes) {
    return gpu.memory_known ? Json(bytes) : Json();
  };
  return Json{{"index", gpu.index},
              {"name", gpu.name},
              {"uuid", gpu.uuid},
              {"total_bytes", known(gpu.total_bytes)},
              {"used_bytes", known(gpu.used_bytes)},
              {"free_bytes", known(gpu.free_bytes)},
              {"reserved_bytes", gpu.memory_known ? or_null(gpu.reserved_bytes) : Json()},
              {"processes", std::move(processes)},
              {"processes_known", gpu.processes_known}};
}

/// How many /dev/shm files the JSON document lists, largest first.
constexpr std::size_t kShmJsonFiles = 100;

Json shm_json(const model::Sample& sample) {
  const auto& shm = *sample.shm;
  Json files = Json::array();
  for (std::size_t i = 0; i < std::min(kShmJsonFiles, shm.files.size()); ++i) {
    const auto& f = shm.files[i];
    files.push_back(Json{{"name", printable(f.name)},
                         {"type", f.type},
                         {"allocated_bytes", f.allocated_bytes},
                         {"size_bytes", f.size_bytes},
                         {"owner_pid", or_null(f.owner_pid)},
                         {"owner_alive", or_null(f.owner_alive)},
                         {"holders", f.holders},
                         {"other_filesystem", f.other_filesystem},
                         {"orphan", f.orphan}});
  }
  Json split = nullptr;
  if (const auto s = analysis::split_shmem(sample)) {
    split = Json{{"cgroup_shmem_bytes", s->shmem_bytes},
                 {"dev_shm_bytes", s->dev_shm_bytes},
                 {"other_bytes", s->other_bytes},
                 {"other_is", analysis::kShmemElsewhere}};
  }
  return Json{{"path", printable(shm.path)},
              {"via_pid", or_null(shm.via_pid)},
              {"tmpfs", shm.tmpfs},
              {"size_bytes", shm.size_bytes},
              {"used_bytes", shm.used_bytes},
              {"used_percent", round2(analysis::shm_used_percent(shm))},
              {"file_count", shm.file_count},
              {"owners_judged", shm.owners_judged},
              {"orphan_bytes", shm.owners_judged ? Json(shm.orphan_bytes) : Json()},
              {"orphan_files", shm.owners_judged ? Json(shm.orphan_files) : Json()},
              {"shmem_split", std::move(split)},
              {"files", std::move(files)},
              {"files_truncated", shm.files_truncated || shm.files.size() > kShmJsonFiles}};
}

}  // namespace

Json gpu_verdict_json(const analysis::GpuVerdict& v) {
  Json holders = nullptr;
  if (v.holders) {
    holders = Json::array();
    for (const auto& h : *v.holders)
      holders.push_back(Json{{"pid", h.pid}, {"name", or_null(h.name)}});
  }
  return Json{{"kind", analysis::to_string(v.kind)},
              {"pid", v.pid},
              {"local_pid", or_null(v.local_pid)},
              {"name", or_null(v.name)},
              {"reason", v.reason ? Json(analysis::to_string(*v.reason)) : Json()},
              {"bytes", or_null(v.bytes)},
              {"gpus", v.gpus},
              {"local_rank", or_null(v.local_rank)},
              {"expected_gpu", or_null(v.expected_gpu)},
              {"holders", std::move(holders)},
              {"message", v.message},
              {"fix", v.fix}};
}

nlohmann::ordered_json report_document(const analysis::Report& report,
                                       const RenderOptions& options) {
  const auto& sample = report.sample;
  const auto& host = sample.host;
  const auto& memory = report.memory;

  Json processes = Json::array();
  const std::size_t count = std::min(options.top, sample.processes.size());
  for (std::size_t i = 0; i < count; ++i) {
    const auto& p = sample.processes[i];
    processes.push_back(Json{{"pid", p.pid},
                             {"name", p.name},
                             {"rss_bytes", p.rss_bytes},
                             {"pss_bytes", or_null(p.pss_bytes)},
                             {"uss_bytes", or_null(p.uss_bytes)},
                             {"swap_bytes", or_null(p.swap_bytes)}});
  }
  Json gpus = Json::array();
  for (const auto& gpu : sample.gpus) gpus.push_back(gpu_json(gpu));
  Json advice = Json::array();
  for (const auto& a : report.advice) {
    advice.push_back(Json{{"id", a.id}, {"severity", a.severity}, {"message", a.message}});
  }
  Json fragmentation = nullptr;
  if (sample.fragmentation) {
    const double unusable = round2(sample.fragmentation->unusable_free_percent_order9);
    // The old key, the unit not last, kept one release beside the new one (docs/naming.md).
    fragmentation = Json{{"free_pages_by_order", sample.fragmentation->free_pages_by_order},
                         {"unusable_free_order9_percent", unusable},
                         {"unusable_free_percent_order9", unusable}};
  }

  Json memory_json = nullptr;
  if (memory.scope != analysis::Scope::kUnknown) {
    memory_json = Json{{"scope", analysis::to_string(memory.scope)},
                       {"limit_bytes", memory.limit_bytes},
                       {"used_bytes", memory.used_bytes},
                       {"available_bytes", memory.available_bytes},
                       {"used_percent", round2(memory.used_percent)}};
  }
  const auto& target = sample.target;
  Json target_json{
      {"kind", target.kind_name()},
      {"pid", target.kind == model::Target::Kind::kPid ? Json(target.pid) : Json(nullptr)},
      {"cgroup", or_null(detail::target_cgroup(sample))},
      {"unreadable", or_null(sample.cgroup_unreadable)}};

  Json document{
      {"schema", "memopt.report/1"},
      {"memopt_version", std::string(version())},
      {"timestamp",
       fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                   fmt::gmtime(std::chrono::system_clock::to_time_t(sample.timestamp)))},
      {"status", Json{{"level", analysis::to_string(report.status.level)},
                      {"reasons", report.status.reasons}}},
      {"target", std::move(target_json)},
      {"thresholds", Json{{"acceptable_percent", report.thresholds.acceptable_percent},
                          {"warning_percent", report.thresholds.warning_percent},
                          {"severe_percent", report.thresholds.severe_percent},
                          {"danger_available_bytes", report.thresholds.danger_available_bytes}}},
      {"memory", std::move(memory_json)},
      {"host", Json{{"total_bytes", host.total_bytes},
                    {"available_bytes", host.available_bytes},
                    {"free_bytes", host.free_bytes},
                    {"buffers_bytes", or_null(host.buffers_bytes)},
                    {"cached_bytes", or_null(host.cached_bytes)},
                    {"shmem_bytes", or_null(host.shmem_bytes)},
                    {"swap_total_bytes", or_null(host.swap_total_bytes)},
                    {"swap_free_bytes", or_null(host.swap_free_bytes)},
                    {"pressure",
                     sample.host_pressure ? pressure_json(*sample.host_pressure) : Json(nullptr)}}},
      {"cgroup", sample.cgroup ? cgroup_json(*sample.cgroup) : Json(nullptr)},
      {"processes_scope", sample.processes_host_wide ? "host" : "cgroup"},
      {"processes", std::move(processes)},
      {"gpus", std::move(gpus)},
      {"fragmentation", std::move(fragmentation)},
      {"advice", std::move(advice)},
  };
  if (!options.groups.empty()) {
    document["process_groups"] = process_groups_json(options.groups);
  }
  if (!sample.gpus.empty()) {
    Json verdicts = Json::array();
    for (const auto& v : report.gpu_verdicts) verdicts.push_back(gpu_verdict_json(v));
    document["gpu_verdicts"] = std::move(verdicts);
  }
  if (options.containers) {
    Json containers = Json::array();
    const auto text_or_null = [](const std::string& s) { return s.empty() ? Json() : Json(s); };
    for (const auto& c : report.containers) {
      const auto& id = c.identity;
      containers.push_back(Json{{"cgroup", printable(c.path)},
                                {"name", printable(id.display)},
                                {"runtime", text_or_null(id.runtime)},
                                {"container_id", text_or_null(id.container_id)},
                                {"pod_uid", text_or_null(id.pod_uid)},
                                {"qos_class", text_or_null(id.qos_class)},
                                {"level", analysis::to_string(c.level)},
                                {"limit_bytes", c.memory.limit_bytes},
                                {"used_bytes", c.memory.used_bytes},
                                {"available_bytes", c.memory.available_bytes},
                                {"used_percent", round2(c.memory.used_percent)},
                                {"oom_kill_events", or_null(c.oom_kill_events)}});
    }
    document["containers"] = std::move(containers);
  }
  if (sample.shm) document["dev_shm"] = shm_json(sample);
  if (!sample.process_stats.empty()) {
    Json in_process = Json::array();
    for (const auto& stats : sample.process_stats) in_process.push_back(process_stats_json(stats));
    document["in_process"] = std::move(in_process);
  }
  return document;
}

std::string render_json(const analysis::Report& report, const RenderOptions& options) {
  return dump_json(report_document(report, options), options.pretty ? 2 : -1) + "\n";
}

}  // namespace memopt::render
