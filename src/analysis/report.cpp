#include "memopt/analysis/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "memopt/error.hpp"
#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {
constexpr std::string_view kLevelNames[] = {"normal", "acceptable", "warning", "severe", "danger"};
}  // namespace

std::string_view to_string(Level level) { return kLevelNames[static_cast<int>(level)]; }

Level parse_level(std::string_view name, std::string_view what) {
  for (std::size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (kLevelNames[i] == name) return static_cast<Level>(i);
  }
  throw Error(fmt::format("{}: unknown level '{}' (expected one of: normal, acceptable, warning, "
                          "severe, danger)",
                          what, name),
              Error::Kind::kUsage);
}

std::string_view to_string(Scope scope) {
  return scope == Scope::kContainer ? "container" : "host";
}

EffectiveMemory effective_memory(const model::Sample& sample) {
  EffectiveMemory memory;
  const auto& host = sample.host;
  if (sample.cgroup && sample.cgroup->limit_bytes) {
    memory.scope = Scope::kContainer;
    memory.limit_bytes = std::min(*sample.cgroup->limit_bytes, host.total_bytes);
    memory.used_bytes = sample.cgroup->working_set_bytes;
    const std::uint64_t headroom =
        memory.limit_bytes - std::min(memory.limit_bytes, memory.used_bytes);
    memory.available_bytes = std::min(headroom, host.available_bytes);
  } else {
    memory.scope = Scope::kHost;
    memory.limit_bytes = host.total_bytes;
    memory.used_bytes = host.total_bytes - std::min(host.total_bytes, host.available_bytes);
    memory.available_bytes = host.available_bytes;
  }
  // A limit of 0 cannot be set on a real cgroup; guard the division all the same.
  memory.over_limit = memory.used_bytes > memory.limit_bytes;
  memory.used_percent = memory.over_limit || memory.limit_bytes == 0
                            ? 100.0
                            : 100.0 * static_cast<double>(memory.used_bytes) /
                                  static_cast<double>(memory.limit_bytes);
  return memory;
}

Status assess(const EffectiveMemory& memory, const Thresholds& thresholds) {
  Status status;
  const std::string where =
      memory.scope == Scope::kContainer ? "the container limit" : "host memory";
  const std::string used =
      fmt::format("{:.1f}% of {} ({} of {})", memory.used_percent, where,
                  format_bytes(memory.used_bytes), format_bytes(memory.limit_bytes));
  if (memory.available_bytes < thresholds.danger_available_bytes) {
    status.level = Level::kDanger;
    status.reasons.push_back(fmt::format("only {} available, below the danger mark of {}",
                                         format_bytes(memory.available_bytes),
                                         format_bytes(thresholds.danger_available_bytes)));
  } else if (memory.used_percent > thresholds.severe_percent) {
    status.level = Level::kSevere;
    status.reasons.push_back(fmt::format("used {}, above {:g}%", used, thresholds.severe_percent));
  } else if (memory.used_percent > thresholds.warning_percent) {
    status.level = Level::kWarning;
    status.reasons.push_back(fmt::format("used {}, above {:g}%", used, thresholds.warning_percent));
  } else if (memory.used_percent >= thresholds.acceptable_percent) {
    status.level = Level::kAcceptable;
    status.reasons.push_back(fmt::format("used {}: high but acceptable (at or above {:g}%)", used,
                                         thresholds.acceptable_percent));
  } else {
    status.level = Level::kNormal;
    status.reasons.push_back(
        fmt::format("used {}, below {:g}%", used, thresholds.acceptable_percent));
  }
  if (memory.over_limit) {
    status.reasons.push_back(fmt::format(
        "the cgroup reports a working set of {} bytes, above its limit of {} bytes: its files "
        "disagree, so used is shown as 100%",
        memory.used_bytes, memory.limit_bytes));
  }
  return status;
}

const std::vector<ModelSize>& model_table() {
  static const std::vector<ModelSize> kTable = {
      {"maptr", 1 * kGiB, 2 * kGiB, 4 * kGiB},          {"petr", 1 * kGiB, 2 * kGiB, 4 * kGiB},
      {"streampetr", 3 * kGiB / 2, 3 * kGiB, 6 * kGiB}, {"topomlp", 1 * kGiB, 2 * kGiB, 4 * kGiB},
      {"vad", 3 * kGiB / 2, 3 * kGiB, 6 * kGiB},
  };
  return kTable;
}

const ModelSize& find_model(std::string_view name) {
  std::string lower;
  for (const char c : name)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::string known;
  for (const auto& row : model_table()) {
    if (row.name == lower) return row;
    known += known.empty() ? "" : ", ";
    known += row.name;
  }
  throw Error(fmt::format("--model: unknown model '{}' (known: {})", name, known),
              Error::Kind::kUsage);
}

namespace {

void advise_available(const EffectiveMemory& memory, const Thresholds& t,
                      std::vector<Advice>& out) {
  if (memory.available_bytes < t.minimum_available_bytes) {
    out.push_back({"available_below_minimum", "warning",
                   fmt::format("{} available is below the minimum of {}: the next model load or "
                               "batch may be OOM-killed; free memory or raise the limit",
                               format_bytes(memory.available_bytes),
                               format_bytes(t.minimum_available_bytes))});
  } else if (memory.available_bytes < t.recommended_available_bytes) {
    out.push_back({"available_below_recommended", "info",
                   fmt::format("{} available is below the recommended {}",
                               format_bytes(memory.available_bytes),
                               format_bytes(t.recommended_available_bytes))});
  }
}

void advise_model(const EffectiveMemory& memory, const ModelSize& model, std::vector<Advice>& out) {
  if (memory.limit_bytes < model.minimum_bytes) {
    out.push_back(
        {"limit_below_model_minimum", "warning",
         fmt::format("the {} limit of {} is below {}'s minimum of {} (recommended {}): run "
                     "with --memory={}",
                     to_string(memory.scope), format_bytes(memory.limit_bytes), model.name,
                     format_bytes(model.minimum_bytes), format_bytes(model.recommended_bytes),
                     format_bytes(model.recommended_bytes))});
  } else if (memory.limit_bytes < model.recommended_bytes) {
    out.push_back({"limit_below_model_recommended", "info",
                   fmt::format("the {} limit of {} meets {}'s minimum but not the recommended {}",
                               to_string(memory.scope), format_bytes(memory.limit_bytes),
                               model.name, format_bytes(model.recommended_bytes))});
  }
}

void advise_swap(const model::Sample& sample, std::vector<Advice>& out) {
  if (sample.host.swap_total_bytes && *sample.host.swap_total_bytes == 0) {
    out.push_back(
        {"swap_off", "info",
         "swap is off: when memory runs out the OOM killer acts at once, with no slow-down "
         "to warn first (the seed suggests --memory-swap=2x the limit)"});
  } else if (sample.cgroup && sample.cgroup->limit_bytes && sample.cgroup->swap_accounting &&
             !sample.cgroup->swap_limit_bytes) {
    out.push_back(
        {"no_swap_limit", "info",
         "the container's swap use is not limited: it may swap heavily before an OOM kill; "
         "set --memory-swap (Docker) or memory.swap.max"});
  }
}

void advise_sharing(const model::Sample& sample, std::vector<Advice>& out) {
  std::uint64_t rss = 0;
  std::uint64_t pss = 0;
  std::size_t known = 0;
  for (const auto& p : sample.processes) {
    if (!p.pss_bytes) continue;
    rss = saturating_add(rss, p.rss_bytes);
    pss = saturating_add(pss, *p.pss_bytes);
    ++known;
  }
  // Forked workers sharing a model: summing RSS counts the shared pages once per worker.
  if (known >= 2 && pss > 0 && rss > saturating_add(pss, pss / 2)) {
    out.push_back(
        {"rss_double_counts", "info",
         fmt::format("processes share memory: their RSS adds up to {} but their PSS to {}; "
                     "RSS-based tools (ps, top, psutil's rss) overstate use by {:.1f}x",
                     format_bytes(rss), format_bytes(pss),
                     static_cast<double>(rss) / static_cast<double>(pss))});
  }
}

void advise_cgroup_events(const model::Sample& sample, std::vector<Advice>& out) {
  if (!sample.cgroup) return;
  const auto& cg = *sample.cgroup;
  if (cg.oom_kill_events && *cg.oom_kill_events > 0) {
    out.push_back({"oom_kills", "warning",
                   fmt::format("the OOM killer has killed {} process(es) in this cgroup",
                               *cg.oom_kill_events)});
  }
  if (cg.under_oom && *cg.under_oom) {
    out.push_back(
        {"under_oom", "warning", "the cgroup is under OOM right now (oom_control under_oom 1)"});
  }
  const auto& pressure = cg.pressure ? cg.pressure : sample.host_pressure;
  if (pressure && pressure->some_avg10 >= 10.0) {
    out.push_back({"memory_pressure", "warning",
                   fmt::format("tasks stalled on memory {:.1f}% of the last 10 s (PSI some avg10): "
                               "the working set does not fit",
                               pressure->some_avg10)});
  }
}

void advise_gpus(const model::Sample& sample, std::vector<Advice>& out) {
  for (const auto& gpu : sample.gpus) {
    if (gpu.total_bytes == 0) continue;
    const double percent =
        100.0 * static_cast<double>(gpu.used_bytes) / static_cast<double>(gpu.total_bytes);
    if (percent > 90.0) {
      out.push_back({"gpu_memory_high", "warning",
                     fmt::format("GPU {} ({}) has {:.1f}% of its memory in use ({} of {}): call "
                                 "torch.cuda.empty_cache() or memopt cleanup in the owning process",
                                 gpu.index, gpu.name, percent, format_bytes(gpu.used_bytes),
                                 format_bytes(gpu.total_bytes))});
    }
  }
}

}  // namespace

Report analyze(model::Sample sample, const AnalysisOptions& options) {
  Report report;
  report.thresholds = options.thresholds;
  report.memory = effective_memory(sample);
  report.status = assess(report.memory, options.thresholds);
  advise_available(report.memory, options.thresholds, report.advice);
  if (options.model) advise_model(report.memory, *options.model, report.advice);
  advise_cgroup_events(sample, report.advice);
  advise_gpus(sample, report.advice);
  advise_swap(sample, report.advice);
  advise_sharing(sample, report.advice);
  if (sample.host.available_estimated) {
    report.advice.push_back(
        {"available_estimated", "info",
         "MemAvailable is absent (kernel < 3.14): available memory is estimated "
         "as MemFree + Buffers + Cached - Shmem"});
  }
  for (const auto& note : sample.notes) report.advice.push_back({note.id, "info", note.message});
  report.sample = std::move(sample);
  return report;
}

}  // namespace memopt::analysis
