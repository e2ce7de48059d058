#include "memopt/render/monitor.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>
#include <type_traits>
#include <variant>

#include "memopt/printable.hpp"
#include "memopt/timestamp.hpp"
#include "memopt/units.hpp"
#include "render/append.hpp"
#include "render/json_document.hpp"

namespace memopt::render {

namespace {

using Json = nlohmann::ordered_json;
using detail::put;
using detail::seconds;
using detail::upper;

Json memory_json(const analysis::EffectiveMemory& m) {
  if (m.scope == analysis::Scope::kUnknown) {  // null figures, never made-up zeros
    return Json{{"scope", "unknown"},
                {"limit_bytes", nullptr},
                {"used_bytes", nullptr},
                {"available_bytes", nullptr},
                {"used_percent", nullptr}};
  }
  return Json{{"scope", analysis::to_string(m.scope)},
              {"limit_bytes", m.limit_bytes},
              {"used_bytes", m.used_bytes},
              {"available_bytes", m.available_bytes},
              {"used_percent", std::round(m.used_percent * 100.0) / 100.0}};
}

// --- an event's payload, after its message (the keys keep the order of the schema) -----------

void put_process(Json& doc, const analysis::ProcessRef& process) {
  doc["pid"] = process.pid;
  if (process.name) doc["name"] = *process.name;
}

void put_seconds_to_limit(Json& doc, analysis::TimePoint at, double seconds_to_limit) {
  doc["time_to_limit_seconds"] = std::round(seconds_to_limit);
  doc["seconds_to_limit"] = doc["time_to_limit_seconds"];  // the old key, one release
  doc["eta"] = rfc3339(at + std::chrono::seconds(static_cast<long>(seconds_to_limit)));
}

Json steps_json(const std::vector<analysis::CleanupStepOutcome>& steps) {
  Json out = Json::array();
  for (const auto& s : steps) out.push_back(Json{{"name", s.name}, {"status", s.status}});
  return out;
}

/// The kinds that say nothing beyond the message, and level_changed (said before it).
template <typename P>
requires std::is_empty_v<P> || std::is_same_v<P, analysis::LevelChange>
void put_payload(Json& /*doc*/, analysis::TimePoint /*at*/, const P& /*payload*/) {}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::OomKills& p) {
  if (p.count) doc["count"] = *p.count;
  Json victims = Json::array();
  for (const auto& v : p.victims) victims.push_back(Json{{"pid", v.pid}, {"name", v.name}});
  doc["victims"] = std::move(victims);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::PressureFired& p) {
  if (p.pressure) {
    // "_percent" (docs/naming.md) and, for one release, the old unitless keys.
    doc["pressure"] = Json{{"some_avg10_percent", p.pressure->some_avg10},
                           {"some_avg10", p.pressure->some_avg10},
                           {"full_avg10_percent", p.pressure->full_avg10},
                           {"full_avg10", p.pressure->full_avg10}};
  }
  if (p.trigger) doc["trigger"] = *p.trigger;
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::CleanupRan& p) {
  if (p.released_bytes) doc["released_bytes"] = *p.released_bytes;
  if (p.duration_seconds)
    doc["duration_seconds"] = std::round(*p.duration_seconds * 1000.0) / 1000.0;
  doc["steps"] = steps_json(p.steps);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::ShedRan& p) {
  if (p.released_bytes) doc["released_bytes"] = *p.released_bytes;
  doc["steps"] = steps_json(p.steps);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::KillChosen& p) {
  if (p.pss_bytes) doc["pss_bytes"] = *p.pss_bytes;
  if (p.reason) doc["reason"] = *p.reason;
  if (p.signal) doc["signal"] = *p.signal;
  if (p.dry_run) doc["dry_run"] = *p.dry_run;
  doc["alternatives"] = p.alternatives;
  put_process(doc, p.process);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::ShmSwept& p) {
  doc["released_bytes"] = p.released_bytes;
  put_process(doc, p.process);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::LeakSuspicion& p) {
  put_process(doc, p.process);
  doc["rate_mib_per_hour"] = std::round(p.rate_mib_per_hour * 10.0) / 10.0;
  doc["r2"] = std::round(p.r2 * 1000.0) / 1000.0;
  Json sites = Json::array();
  for (const auto& site : p.sites) {
    sites.push_back(Json{{"file", site.file},
                         {"line", site.line},
                         {"kind", site.kind},
                         {"size_bytes", site.size_bytes},
                         {"count", site.count},
                         {"growth_bytes_per_hour", std::round(site.growth_bytes_per_hour)},
                         {"r2", std::round(site.r2 * 1000.0) / 1000.0}});
  }
  doc["leak_sites"] = std::move(sites);
  if (p.sites_note) doc["leak_sites_note"] = *p.sites_note;
}

void put_payload(Json& doc, analysis::TimePoint at, const analysis::OomForecast& p) {
  if (p.rate_mib_per_hour)
    doc["rate_mib_per_hour"] = std::round(*p.rate_mib_per_hour * 10.0) / 10.0;
  put_seconds_to_limit(doc, at, p.seconds_to_limit);
}

void put_payload(Json& doc, analysis::TimePoint at, const analysis::WorkersCopying& p) {
  put_process(doc, p.process);
  doc["rate_mib_per_hour"] = std::round(p.rate_mib_per_hour * 10.0) / 10.0;
  doc["workers"] = p.worker_pids;
  if (p.projected_bytes) doc["projected_bytes"] = *p.projected_bytes;
  if (p.converged_private_bytes) doc["converged_private_bytes"] = *p.converged_private_bytes;
  if (p.max_workers) doc["max_workers"] = *p.max_workers;
  doc["update"] = p.update;
  if (p.seconds_to_limit) put_seconds_to_limit(doc, at, *p.seconds_to_limit);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::GpuFinding& p) {
  put_process(doc, p.process);
  doc["gpu_verdict"] = gpu_verdict_json(p.verdict);
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::LoopForecastSaid& p) {
  put_process(doc, p.process);
  const auto& f = p.forecast;
  doc["bytes_per_item"] = std::round(f.bytes_per_item);
  doc["item"] = f.item;
  doc["limit_item"] = f.limit_item;
  doc["total"] = f.total ? Json(*f.total) : Json();
  doc["time_left_seconds"] = f.seconds_left ? Json(std::round(*f.seconds_left)) : Json();
  doc["seconds_left"] = doc["time_left_seconds"];  // the old key, one release (docs/naming.md)
  doc["limit_bytes"] = f.limit_bytes ? Json(*f.limit_bytes) : Json();
  doc["forecast_at"] =
      rfc3339(analysis::TimePoint(std::chrono::duration_cast<analysis::TimePoint::duration>(
          std::chrono::duration<double>(f.at_unix_seconds))));
  doc["sequence"] = f.sequence;
}

void put_payload(Json& doc, analysis::TimePoint /*at*/, const analysis::ShmFilling& p) {
  doc["shm_used_bytes"] = p.used_bytes;
  doc["shm_size_bytes"] = p.size_bytes;
  doc["shm_bytes_per_second"] = p.bytes_per_second ? Json(std::round(*p.bytes_per_second)) : Json();
  doc["shm_time_to_full_seconds"] =
      p.seconds_to_full ? Json(std::round(*p.seconds_to_full)) : Json();
  doc["shm_seconds_to_full"] = doc["shm_time_to_full_seconds"];  // the old key, one release
}

}  // namespace

std::string render_monitor_sample(const analysis::Report& report, const RenderOptions& options,
                                  bool json) {
  if (json) {
    Json doc{{"type", "sample"}};
    doc.update(report_document(report, options));
    return dump_json(doc) + "\n";
  }
  const auto& m = report.memory;
  std::string out;
  if (m.scope == analysis::Scope::kUnknown) {
    put(out, "{}  {:<10}  memory of {} unknown: {}\n", rfc3339(report.sample.timestamp),
        upper(analysis::to_string(report.status.level)), printable(report.sample.target.describe()),
        report.sample.cgroup_unreadable.value_or("not read"));
    return out;
  }
  put(out, "{}  {:<10}  used {} of {} ({:.1f}%)  available {}  [{}]",
      rfc3339(report.sample.timestamp), upper(analysis::to_string(report.status.level)),
      format_bytes(m.used_bytes), format_bytes(m.limit_bytes), m.used_percent,
      format_bytes(m.available_bytes), analysis::to_string(m.scope));
  const auto& procs = report.sample.processes;
  for (std::size_t i = 0; i < std::min<std::size_t>(3, std::min(options.top, procs.size())); ++i) {
    put(out, "{} {} {}", i == 0 ? "  top:" : ",", procs[i].name,
        format_bytes(procs[i].pss_bytes.value_or(procs[i].rss_bytes)));
  }
  for (const auto& gpu : report.sample.gpus) {
    if (!gpu.memory_known) continue;  // a MIG parent; its instances carry the figures
    put(out, "  gpu{} {} of {}", gpu.index, format_bytes(gpu.used_bytes),
        format_bytes(gpu.total_bytes));
  }
  out += '\n';
  return out;
}

std::string render_event(const analysis::Event& e, bool json) {
  if (!json) {
    return fmt::format("{}  EVENT {:<14}  {}\n", rfc3339(e.at), to_string(e.kind()), e.message);
  }
  Json doc{{"type", "event"},
           {"event", to_string(e.kind())},
           {"timestamp", rfc3339(e.at)},
           {"level", analysis::to_string(e.level)}};
  if (const auto* change = e.payload_if<analysis::LevelChange>()) {
    if (change->previous) doc["previous"] = analysis::to_string(*change->previous);
    if (change->initial) doc["initial"] = true;
  }
  doc["memory"] = memory_json(e.memory);
  doc["message"] = e.message;
  std::visit([&](const auto& payload) { put_payload(doc, e.at, payload); }, e.payload());
  return dump_json(doc) + "\n";
}

std::string render_watch_summary(const analysis::WatchSummary& s, std::chrono::milliseconds ran,
                                 bool json) {
  if (json) {
    Json levels = Json::object();
    for (std::size_t i = 0; i < s.time_at_level.size(); ++i) {
      levels[std::string(analysis::to_string(static_cast<analysis::Level>(i)))] =
          seconds(s.time_at_level[i]);
    }
    Json events = Json::object();
    for (const auto& [name, count] : s.events) events[name] = count;
    return dump_json(
               Json{{"type", "summary"},
                    {"duration_seconds", seconds(ran)},
                    {"peak_used_bytes", s.peak_known ? Json(s.peak_used_bytes) : Json()},
                    {"peak_used_percent",
                     s.peak_known ? Json(std::round(s.peak_used_percent * 100.0) / 100.0) : Json()},
                    {"time_at_level_seconds", std::move(levels)},
                    {"events", std::move(events)}}) +
           "\n";
  }
  std::string out;
  if (s.peak_known) {
    put(out, "summary  ran {:.1f} s   peak used {} ({:.1f}%)   levels:", seconds(ran),
        format_bytes(s.peak_used_bytes), s.peak_used_percent);
  } else {
    put(out, "summary  ran {:.1f} s   peak used unknown   levels:", seconds(ran));
  }
  for (std::size_t i = 0; i < s.time_at_level.size(); ++i) {
    if (s.time_at_level[i].count() > 0) {
      put(out, " {} {:.1f} s", analysis::to_string(static_cast<analysis::Level>(i)),
          seconds(s.time_at_level[i]));
    }
  }
  out += "   events:";
  if (s.events.empty()) out += " none";
  for (const auto& [name, count] : s.events) put(out, " {} {}", name, count);
  out += '\n';
  return out;
}

}  // namespace memopt::render
