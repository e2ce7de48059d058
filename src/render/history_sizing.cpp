#include "memopt/render/history_sizing.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/analysis/sizing.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/render/run.hpp"
#include "memopt/timestamp.hpp"
#include "memopt/units.hpp"
#include "render/append.hpp"
#include "render/json_document.hpp"

namespace memopt::render {

namespace {

using Json = nlohmann::ordered_json;
using detail::put;

std::string upper_text(std::uint64_t bytes) {
  return bytes == std::numeric_limits<std::uint64_t>::max() ? "unbounded" : format_bytes(bytes);
}

std::string why_basis(const analysis::HistorySizing& s) {
  if (s.basis == "load") {
    return fmt::format("the load spike + 15%; VPA's target for the steady state is {}",
                       s.steady ? format_bytes(s.steady->target_bytes) : std::string("unknown"));
  }
  if (s.basis == "oom") return "the OOM bump: the recorded limit was too small";
  return "VPA's target for the steady state; the load spike fits under it";
}

}  // namespace

std::string_view confidence_word(double confidence_days) {
  if (confidence_days < 1) return "low";
  if (confidence_days < 7) return "medium";
  return "high";
}

std::string compare_with_table(const analysis::ModelSize& model, std::uint64_t measured_bytes,
                               std::uint64_t max_used_bytes) {
  const auto table = model.recommended_bytes;
  if (table >= measured_bytes) {
    return fmt::format(
        "the seed's table recommends {} for {}, {:.1f}× the {} measured here: the table sizes the "
        "model in general, this history is your workload on your inputs; {} of the table's limit "
        "was never needed (highest recorded use {})",
        format_bytes(table), model.name,
        static_cast<double>(table) / static_cast<double>(measured_bytes),
        format_bytes(measured_bytes), format_bytes(table - measured_bytes),
        format_bytes(max_used_bytes));
  }
  return fmt::format(
      "the seed's table recommends {} for {}, less than the {} measured here{}: this workload "
      "needs more than the table assumes (larger inputs, batching, another build of the model)",
      format_bytes(table), model.name, format_bytes(measured_bytes),
      max_used_bytes > table
          ? fmt::format("; the highest recorded use, {}, is past the table's limit (an OOM kill "
                        "under it)",
                        format_bytes(max_used_bytes))
          : std::string());
}

namespace {

std::uint64_t max_used(const analysis::HistorySizing& s) {
  std::uint64_t m = s.steady ? s.steady->max_bytes : 0;
  for (const auto& l : s.loads) m = std::max(m, l.peak_bytes);
  return m;
}

}  // namespace

std::string render_history_sizing_text(const analysis::HistorySizing& s,
                                       const HistorySizingContext& c) {
  std::string out;
  put(out, "memopt recommend --from-history {}\n", c.database);
  if (s.points == 0) {
    put(out, "history      nothing recorded {} {}\n",
        c.from == analysis::HistoryTime{} ? std::string("up to")
                                          : fmt::format("between {} and", rfc3339(c.from)),
        rfc3339(c.to));
  } else {
    put(out,
        "history      {} to {}: {} observations; confidence {:.2f} days ({}; VPA's measure: "
        "min(days spanned, minutes observed / 1440))\n",
        rfc3339(s.first), rfc3339(s.last), s.points, s.confidence_days,
        confidence_word(s.confidence_days));
  }
  if (c.host_limit) {
    put(out,
        "NOTE         every recorded limit is this host's MemTotal: the monitor watched a target "
        "without a limit of its own, so this is probably the host's memory, not a container's\n");
  }
  if (s.steady) {
    const auto& v = *s.steady;
    std::string peaks;
    for (const auto& p : v.peaks) {
      if (!peaks.empty()) peaks += ", ";
      peaks += fmt::format("{} (weight {:.2f})", format_bytes(p.peak_bytes), p.weight);
    }
    put(out, "steady state {} interval peak(s) of 24 h: {}\n", v.peaks.size(), peaks);
    put(out, "             p50 {}, p90 {}, p95 {} (VPA's decaying histogram, half-life 24 h)\n",
        format_bytes(static_cast<std::uint64_t>(v.p50_bytes)),
        format_bytes(static_cast<std::uint64_t>(v.p90_bytes)),
        format_bytes(static_cast<std::uint64_t>(v.p95_bytes)));
    put(out,
        "             target {} (p90 + 15%), lower bound {} (p50 + 15%), upper bound {} (p95 + "
        "15%, × (1 + 1/confidence)); at least 250 MiB each\n",
        format_bytes(v.target_bytes), format_bytes(v.lower_bytes), upper_text(v.upper_bytes));
    if (s.recommended_bytes && v.max_bytes > *s.recommended_bytes) {
      put(out,
          "             NOTE the highest recorded use, {}, is above the recommendation: VPA's p90 "
          "leaves out the rarest interval\n",
          format_bytes(v.max_bytes));
    }
  }
  if (!s.loads.empty()) {
    std::uint64_t peak = 0;
    std::size_t plateaued = 0;
    for (const auto& l : s.loads) {
      peak = std::max(peak, l.peak_bytes);
      plateaued += l.plateaued ? 1 : 0;
    }
    put(out,
        "load spike   {} load phase(s) (a start until usage plateaus{}): peak {} -> {} with 15%\n",
        s.loads.size(),
        plateaued == s.loads.size() ? std::string()
                                    : fmt::format("; {} never plateaued and were cut at 10 min",
                                                  s.loads.size() - plateaued),
        format_bytes(peak), format_bytes(*s.load_bytes));
  } else if (s.points > 0 && s.why.empty()) {
    put(out,
        "load spike   none seen: usage was already steady at every start in the history (the "
        "monitor started after the model had loaded); the load's own peak is unknown\n");
  }
  if (s.kills.empty()) {
    if (s.points > 0 && s.why.empty()) put(out, "OOM kills    none recorded\n");
  } else {
    std::uint64_t count = 0;
    for (const auto& k : s.kills) count += k.count;
    put(out, "OOM kills    {} (the last at {}){}\n", count, rfc3339(s.kills.back().at),
        s.oom_bytes ? fmt::format(": bump to {} ({})", format_bytes(*s.oom_bytes), s.oom_note)
                    : std::string());
  }
  if (s.gpus.empty()) {
    put(out, "GPU          none recorded\n");
  }
  for (const auto& g : s.gpus) {
    put(out, "GPU {:<8} {}, {}: peak {} (device-wide, {} sample(s)) -> {}\n", g.index, g.name,
        format_bytes(g.total_bytes), format_bytes(g.peak_bytes), g.samples,
        g.mig_profile ? fmt::format("MIG {} ({} GB; peak + 15% = {})", *g.mig_profile,
                                    g.mig_profile_bytes / 1000000000, format_bytes(g.needed_bytes))
                      : g.note);
  }
  if (!s.recommended_bytes) {
    put(out, "no recommendation: {}\n", s.why);
    if (c.model) {
      put(out, "model        the seed's table recommends {} for {} (not measured)\n",
          format_bytes(c.model->recommended_bytes), c.model->name);
    }
    return out;
  }
  if (c.model) {
    put(out, "model        {}\n", compare_with_table(*c.model, *s.recommended_bytes, max_used(s)));
  }
  if (s.capped_by_ceiling) {
    put(out,
        "CAPPED       at {} ({}): the history asks for more than there is; the workload may "
        "not fit here\n",
        format_bytes(*s.recommended_bytes), c.ceiling_source);
  }
  out += render_recommendation(
      fmt::format("recommended  {} ({}; {} confidence)", format_bytes(*s.recommended_bytes),
                  why_basis(s), confidence_word(s.confidence_days)),
      analysis::recommend_limit(*s.recommended_bytes));
  return out;
}

std::string render_history_sizing_json(const analysis::HistorySizing& s,
                                       const HistorySizingContext& c) {
  Json doc = {{"schema", "memopt.history_recommendation/1"},
              {"database", c.database},
              {"from", c.from == analysis::HistoryTime{} ? Json(nullptr) : Json(rfc3339(c.from))},
              {"to", rfc3339(c.to)},
              {"observations", s.points}};
  doc["first"] = s.points ? Json(rfc3339(s.first)) : Json(nullptr);
  doc["last"] = s.points ? Json(rfc3339(s.last)) : Json(nullptr);
  doc["confidence_days"] = s.confidence_days;
  doc["confidence"] = confidence_word(s.confidence_days);
  doc["recommended_bytes"] = or_null(s.recommended_bytes);
  doc["why_none"] = s.recommended_bytes ? Json(nullptr) : Json(s.why);
  doc["basis"] = s.recommended_bytes ? Json(s.basis) : Json(nullptr);
  doc["ceiling_bytes"] = or_null(c.ceiling_bytes);
  doc["capped_by_ceiling"] = s.capped_by_ceiling;
  doc["host_limit"] = c.host_limit;
  if (s.steady) {
    const auto& v = *s.steady;
    Json peaks = Json::array();
    for (const auto& p : v.peaks) {
      peaks.push_back(
          {{"end", rfc3339(p.end)}, {"peak_bytes", p.peak_bytes}, {"weight", p.weight}});
    }
    doc["steady"] = {
        {"interval_peaks", std::move(peaks)},
        {"p50_bytes", v.p50_bytes},
        {"p90_bytes", v.p90_bytes},
        {"p95_bytes", v.p95_bytes},
        {"target_bytes", v.target_bytes},
        {"lower_bound_bytes", v.lower_bytes},
        {"upper_bound_bytes", v.upper_bytes == std::numeric_limits<std::uint64_t>::max()
                                  ? Json(nullptr)
                                  : Json(v.upper_bytes)},
        {"max_bytes", v.max_bytes}};
  } else {
    doc["steady"] = nullptr;
  }
  Json loads = Json::array();
  for (const auto& l : s.loads) {
    loads.push_back({{"start", rfc3339(l.start)},
                     {"end", rfc3339(l.end)},
                     {"peak_bytes", l.peak_bytes},
                     {"plateaued", l.plateaued}});
  }
  doc["load"] = {{"phases", std::move(loads)}, {"recommended_bytes", or_null(s.load_bytes)}};
  Json kills = Json::array();
  for (const auto& k : s.kills) {
    kills.push_back({{"t", rfc3339(k.at)},
                     {"count", k.count},
                     {"used_bytes", k.used_bytes},
                     {"bumped_bytes", k.bumped_bytes}});
  }
  doc["oom"] = {{"kills", std::move(kills)},
                {"bumped_bytes", or_null(s.oom_bytes)},
                {"note", s.oom_note},
                {"crash_loop", s.crash_loop}};
  Json gpus = Json::array();
  for (const auto& g : s.gpus) {
    gpus.push_back(
        {{"index", g.index},
         {"name", g.name},
         {"total_bytes", g.total_bytes},
         {"peak_bytes", g.peak_bytes},
         {"needed_bytes", g.needed_bytes},
         {"samples", g.samples},
         {"known_device", g.known_device},
         {"mig_profile", or_null(g.mig_profile)},
         {"mig_profile_bytes", g.mig_profile ? Json(g.mig_profile_bytes) : Json(nullptr)},
         {"note", g.note}});
  }
  doc["gpus"] = std::move(gpus);
  if (c.model) {
    doc["model"] = {
        {"name", std::string(c.model->name)},
        {"minimum_bytes", c.model->minimum_bytes},
        {"recommended_bytes", c.model->recommended_bytes},
        {"best_bytes", c.model->best_bytes},
        {"comparison", s.recommended_bytes
                           ? Json(compare_with_table(*c.model, *s.recommended_bytes, max_used(s)))
                           : Json(nullptr)}};
  } else {
    doc["model"] = nullptr;
  }
  doc["recommendation"] = s.recommended_bytes
                              ? recommendation_json(analysis::recommend_limit(*s.recommended_bytes))
                              : Json(nullptr);
  return dump_json(doc, 2) + "\n";
}

}  // namespace memopt::render
