#include "memopt/analysis/report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "memopt/analysis/sizing.hpp"
#include "memopt/error.hpp"
#include "memopt/units.hpp"

namespace memopt::analysis {

namespace {
constexpr std::string_view kLevelNames[] = {"normal", "acceptable", "warning", "severe", "danger"};
}  // namespace

std::string_view to_string(Level level) {
  if (level == Level::kUnknown) return "unknown";
  return kLevelNames[static_cast<int>(level)];
}

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
  switch (scope) {
    case Scope::kContainer:
      return "container";
    case Scope::kHost:
      return "host";
    case Scope::kUnknown:
      break;
  }
  return "unknown";
}

double used_percent(std::uint64_t used_bytes, std::uint64_t limit_bytes) {
  // Above the limit (a hostile or racing reading) and a limit of 0 (never set on a real
  // cgroup) both read as full: never 3.4e12 %.
  if (limit_bytes == 0 || used_bytes > limit_bytes) return 100.0;
  return 100.0 * static_cast<double>(used_bytes) / static_cast<double>(limit_bytes);
}

EffectiveMemory effective_memory(const model::Sample& sample) {
  if (sample.cgroup_unreadable) {
    EffectiveMemory memory;
    memory.scope = Scope::kUnknown;
    return memory;
  }
  return effective_memory(sample.cgroup ? &*sample.cgroup : nullptr, sample.host);
}

std::optional<model::Pressure> effective_pressure(const model::Sample& sample, Scope scope) {
  switch (scope) {
    case Scope::kContainer:
      return sample.cgroup ? sample.cgroup->pressure : std::nullopt;
    case Scope::kHost:
      // A cgroup without a limit still has its own stalls; the host's are the fallback.
      if (sample.cgroup && sample.cgroup->pressure) return sample.cgroup->pressure;
      return sample.host_pressure;
    case Scope::kUnknown:
      break;
  }
  return std::nullopt;
}

EffectiveMemory effective_memory(const model::CgroupMemory* cgroup, const model::HostMemory& host) {
  EffectiveMemory memory;
  if (cgroup && cgroup->limit_bytes) {
    memory.scope = Scope::kContainer;
    memory.limit_bytes = std::min(*cgroup->limit_bytes, host.total_bytes);
    memory.used_bytes = cgroup->working_set_bytes;
    const std::uint64_t headroom =
        memory.limit_bytes - std::min(memory.limit_bytes, memory.used_bytes);
    memory.available_bytes = std::min(headroom, host.available_bytes);
  } else {
    memory.scope = Scope::kHost;
    memory.limit_bytes = host.total_bytes;
    memory.used_bytes = host.total_bytes - std::min(host.total_bytes, host.available_bytes);
    memory.available_bytes = host.available_bytes;
  }
  memory.over_limit = memory.used_bytes > memory.limit_bytes;
  memory.used_percent = used_percent(memory.used_bytes, memory.limit_bytes);
  return memory;
}

Status assess(const EffectiveMemory& memory, const Thresholds& thresholds) {
  Status status;
  if (memory.scope == Scope::kUnknown) {
    status.level = Level::kUnknown;
    return status;
  }
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
         // The exact flags `memopt recommend --model` prints: they paste into a shell.
         fmt::format("the {} limit of {} is below {}'s minimum of {} (recommended {}): run "
                     "with {}",
                     to_string(memory.scope), format_bytes(memory.limit_bytes), model.name,
                     format_bytes(model.minimum_bytes), format_bytes(model.recommended_bytes),
                     recommend_limit(model.recommended_bytes).docker_flags)});
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

void advise_pressure(const model::Sample& sample, Scope scope, const Thresholds& t,
                     std::vector<Advice>& out) {
  const auto pressure = effective_pressure(sample, scope);
  if (pressure && pressure->some_avg10 >= t.pressure_advice_percent) {
    out.push_back({"memory_pressure", "warning",
                   fmt::format("tasks stalled on memory {:.1f}% of the last 10 s (PSI some avg10, "
                               "{}): the working set does not fit",
                               pressure->some_avg10,
                               sample.cgroup && sample.cgroup->pressure ? "this cgroup" : "host")});
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
}

void advise_gpus(const model::Sample& sample, const Thresholds& t, std::vector<Advice>& out) {
  for (const auto& gpu : sample.gpus) {
    if (gpu.total_bytes == 0) continue;
    const double percent =
        100.0 * static_cast<double>(gpu.used_bytes) / static_cast<double>(gpu.total_bytes);
    if (percent > t.gpu_advice_percent) {
      out.push_back({"gpu_memory_high", "warning",
                     fmt::format("GPU {} ({}) has {:.1f}% of its memory in use ({} of {}): call "
                                 "torch.cuda.empty_cache() or memopt cleanup in the owning process",
                                 gpu.index, gpu.name, percent, format_bytes(gpu.used_bytes),
                                 format_bytes(gpu.total_bytes))});
    }
  }
}

}  // namespace

std::vector<Advice> advise(const model::Sample& sample, const EffectiveMemory& memory,
                           const AnalysisOptions& options) {
  std::vector<Advice> advice;
  if (sample.cgroup_unreadable) {
    advice.push_back({"cgroup_unreadable", "warning",
                      fmt::format("memory of {} unknown: {}", sample.target.describe(),
                                  *sample.cgroup_unreadable)});
  } else {
    advise_available(memory, options.thresholds, advice);
    if (options.model) advise_model(memory, *options.model, advice);
    advise_pressure(sample, memory.scope, options.thresholds, advice);
  }
  advise_cgroup_events(sample, advice);
  advise_gpus(sample, options.thresholds, advice);
  advise_swap(sample, advice);
  advise_sharing(sample, advice);
  if (sample.host.available_estimated) {
    advice.push_back({"available_estimated", "info",
                      "MemAvailable is absent (kernel < 3.14): available memory is estimated "
                      "as MemFree + Buffers + Cached - Shmem"});
  }
  for (const auto& note : sample.notes) advice.push_back({note.id, "info", note.message});
  // The most urgent first: warnings before information, in the order they were added (the
  // shortage of available memory leads).
  std::stable_partition(advice.begin(), advice.end(),
                        [](const Advice& a) { return a.severity == "warning"; });
  return advice;
}

Report analyze(model::Sample sample, const AnalysisOptions& options) {
  Report report;
  report.thresholds = options.thresholds;
  report.memory = effective_memory(sample);
  report.status = assess(report.memory, options.thresholds);
  if (sample.cgroup_unreadable) {
    report.status.reasons.push_back(fmt::format(
        "memory of {} unknown: {}", sample.target.describe(), *sample.cgroup_unreadable));
  }
  report.advice = advise(sample, report.memory, options);
  for (const auto& cgroup : sample.containers) {
    ContainerView view;
    view.path = cgroup.path;
    view.identity = identify_container(cgroup.path);
    view.memory = effective_memory(&cgroup, sample.host);
    view.level = assess(view.memory, options.thresholds).level;
    view.oom_kill_events = cgroup.oom_kill_events;
    report.containers.push_back(std::move(view));
  }
  std::stable_sort(report.containers.begin(), report.containers.end(),
                   [](const ContainerView& a, const ContainerView& b) {
                     return a.memory.used_percent > b.memory.used_percent;
                   });
  report.gpu_verdicts = gpu_verdicts(sample);
  report.sample = std::move(sample);
  return report;
}

}  // namespace memopt::analysis
