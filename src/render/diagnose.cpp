#include "memopt/render/diagnose.hpp"

#include <fmt/format.h>

#include "memopt/units.hpp"
#include "render/append.hpp"
#include "render/json_document.hpp"

namespace memopt::render {

namespace {

using Json = nlohmann::ordered_json;
using detail::put;

std::string env_value(const std::optional<std::string>& value) { return value ? *value : "unset"; }

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return text;
}

}  // namespace

std::string render_diagnose_text(const analysis::Report& report, const model::Facts& facts,
                                 const std::vector<analysis::Finding>& findings,
                                 const RenderOptions& options) {
  std::string out = render_text(report, options);
  const auto& cg = report.sample.cgroup;
  std::string counter = "unknown";
  if (cg && cg->oom_kill_events) counter = fmt::to_string(*cg->oom_kill_events);
  std::string logged = "kernel log not readable";
  if (facts.kernel_oom_kills) {
    logged = fmt::format("{} in the kernel log", facts.kernel_oom_kills->size());
    for (const auto& kill : *facts.kernel_oom_kills) {
      logged += fmt::format("; {} (pid {}){}", kill.name, kill.pid,
                            kill.uptime_seconds
                                ? fmt::format(" at {:.0f} s after boot", *kill.uptime_seconds)
                                : std::string());
    }
  }
  put(out, "oom kills    cgroup counter {}; {}\n", counter, logged);
  std::string shm = "not mounted";
  if (facts.shm)
    shm = facts.shm->size_bytes ? format_bytes(*facts.shm->size_bytes)
                                : "half of RAM (tmpfs default)";
  put(out,
      "environment  MALLOC_ARENA_MAX={}  MALLOC_TRIM_THRESHOLD_={}  PYTORCH_CUDA_ALLOC_CONF={}  "
      "/dev/shm {}\n",
      env_value(facts.malloc_arena_max), env_value(facts.malloc_trim_threshold),
      env_value(facts.pytorch_cuda_alloc_conf), shm);
  if (facts.torch) {
    put(out, "torch        {} in {} (pid {}, from {})\n", facts.torch->version, facts.torch->name,
        facts.torch->pid, facts.torch->source);
  } else {
    put(out, "torch        version unknown: {}\n", facts.torch_unknown);
  }
  if (findings.empty()) {
    out += "findings     none: nothing to fix\n";
    return out;
  }
  out += "findings     most severe first\n";
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const auto& f = findings[i];
    put(out, "  {}. {:<8} {}\n     evidence: {}\n     fix:      {}\n", i + 1, upper(f.severity),
        f.title, f.evidence, f.fix);
  }
  return out;
}

std::string render_diagnose_json(const analysis::Report& report, const model::Facts& facts,
                                 const std::vector<analysis::Finding>& findings,
                                 const RenderOptions& options) {
  Json kills = nullptr;
  if (facts.kernel_oom_kills) {
    kills = Json::array();
    for (const auto& k : *facts.kernel_oom_kills) {
      kills.push_back(Json{{"pid", k.pid},
                           {"name", k.name},
                           {"cgroup", or_null(k.task_memcg)},
                           {"uptime_seconds", or_null(k.uptime_seconds)},
                           {"anon_rss_bytes", or_null(k.anon_rss_bytes)},
                           {"line", k.line}});
    }
  }
  Json list = Json::array();
  for (const auto& f : findings) {
    list.push_back(Json{{"id", f.id},
                        {"severity", f.severity},
                        {"title", f.title},
                        {"evidence", f.evidence},
                        {"fix", f.fix}});
  }
  const auto& cg = report.sample.cgroup;
  Json shm = nullptr;
  if (facts.shm)
    shm = Json{{"fs_type", facts.shm->fs_type}, {"size_bytes", or_null(facts.shm->size_bytes)}};
  Json threads = nullptr;
  if (facts.most_threads) {
    threads = Json{{"pid", facts.most_threads->pid},
                   {"name", facts.most_threads->name},
                   {"threads", facts.most_threads->threads}};
  }
  Json torch = nullptr;
  if (facts.torch) {
    torch = Json{{"version", facts.torch->version},
                 {"pid", facts.torch->pid},
                 {"name", facts.torch->name},
                 {"source", facts.torch->source}};
  }
  const Json doc{
      {"schema", "memopt.diagnose/1"},
      {"report", report_document(report, options)},
      {"oom_kills", Json{{"cgroup_counter", cg ? or_null(cg->oom_kill_events) : Json(nullptr)},
                         {"kernel_log", std::move(kills)}}},
      {"environment",
       Json{{"MALLOC_ARENA_MAX", or_null(facts.malloc_arena_max)},
            {"MALLOC_TRIM_THRESHOLD_", or_null(facts.malloc_trim_threshold)},
            {"PYTORCH_CUDA_ALLOC_CONF", or_null(facts.pytorch_cuda_alloc_conf)},
            {"PYTHONUNBUFFERED", or_null(facts.python_unbuffered)},
            {"PYTHONDONTWRITEBYTECODE", or_null(facts.python_dont_write_bytecode)},
            {"read_from", facts.environment_of ? Json{{"pid", facts.environment_of->pid},
                                                      {"name", facts.environment_of->name}}
                                               : Json(nullptr)},
            {"runs_python", facts.environment_is_python},
            {"dev_shm", std::move(shm)},
            {"most_threads", std::move(threads)}}},
      {"torch", std::move(torch)},
      {"torch_unknown", facts.torch ? Json(nullptr) : Json(facts.torch_unknown)},
      {"findings", std::move(list)},
  };
  return dump_json(doc, 2) + "\n";
}

}  // namespace memopt::render
