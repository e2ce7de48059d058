#include "memopt/render/monitor.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <cmath>

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
    return fmt::format("{}  EVENT {:<14}  {}\n", rfc3339(e.at), to_string(e.kind), e.message);
  }
  Json doc{{"type", "event"},
           {"event", to_string(e.kind)},
           {"timestamp", rfc3339(e.at)},
           {"level", analysis::to_string(e.level)}};
  if (e.previous) doc["previous"] = analysis::to_string(*e.previous);
  if (e.initial) doc["initial"] = true;
  doc["memory"] = memory_json(e.memory);
  doc["message"] = e.message;
  if (e.count) doc["count"] = *e.count;
  if (e.kind == analysis::EventKind::kOomKill) {
    Json victims = Json::array();
    for (const auto& v : e.victims) victims.push_back(Json{{"pid", v.pid}, {"name", v.name}});
    doc["victims"] = std::move(victims);
  }
  if (e.pressure) {
    // "_percent" (docs/naming.md) and, for one release, the old unitless keys.
    doc["pressure"] = Json{{"some_avg10_percent", e.pressure->some_avg10},
                           {"some_avg10", e.pressure->some_avg10},
                           {"full_avg10_percent", e.pressure->full_avg10},
                           {"full_avg10", e.pressure->full_avg10}};
  }
  if (e.pressure_trigger) doc["trigger"] = *e.pressure_trigger;
  if (e.released_bytes) doc["released_bytes"] = *e.released_bytes;
  if (e.duration_seconds)
    doc["duration_seconds"] = std::round(*e.duration_seconds * 1000.0) / 1000.0;
  if (e.kind == analysis::EventKind::kCleanup || e.kind == analysis::EventKind::kShed) {
    Json steps = Json::array();
    for (const auto& s : e.steps) steps.push_back(Json{{"name", s.name}, {"status", s.status}});
    doc["steps"] = std::move(steps);
  }
  if (e.kind == analysis::EventKind::kKill) {
    if (e.victim_pss_bytes) doc["pss_bytes"] = *e.victim_pss_bytes;
    if (e.reason) doc["reason"] = *e.reason;
    if (e.signal) doc["signal"] = *e.signal;
    if (e.dry_run) doc["dry_run"] = *e.dry_run;
    doc["alternatives"] = e.alternatives;
  }
  if (e.pid) doc["pid"] = *e.pid;
  if (e.process_name) doc["name"] = *e.process_name;
  if (e.rate_mib_per_hour)
    doc["rate_mib_per_hour"] = std::round(*e.rate_mib_per_hour * 10.0) / 10.0;
  if (e.r2) doc["r2"] = std::round(*e.r2 * 1000.0) / 1000.0;
  if (e.kind == analysis::EventKind::kLeakSuspected) {
    Json sites = Json::array();
    for (const auto& site : e.leak_sites) {
      sites.push_back(Json{{"file", site.file},
                           {"line", site.line},
                           {"kind", site.kind},
                           {"size_bytes", site.size_bytes},
                           {"count", site.count},
                           {"growth_bytes_per_hour", std::round(site.growth_bytes_per_hour)},
                           {"r2", std::round(site.r2 * 1000.0) / 1000.0}});
    }
    doc["leak_sites"] = std::move(sites);
    if (e.leak_sites_note) doc["leak_sites_note"] = *e.leak_sites_note;
  }
  if (e.kind == analysis::EventKind::kWorkersCopy) {
    doc["workers"] = e.worker_pids;
    if (e.projected_bytes) doc["projected_bytes"] = *e.projected_bytes;
    if (e.converged_private_bytes) doc["converged_private_bytes"] = *e.converged_private_bytes;
    if (e.max_workers) doc["max_workers"] = *e.max_workers;
    doc["update"] = e.update;
  }
  if (e.gpu_verdict) doc["gpu_verdict"] = gpu_verdict_json(*e.gpu_verdict);
  if (e.loop_forecast) {
    const auto& f = *e.loop_forecast;
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
  if (e.kind == analysis::EventKind::kShmFilling) {
    doc["shm_used_bytes"] = e.shm_used_bytes ? Json(*e.shm_used_bytes) : Json();
    doc["shm_size_bytes"] = e.shm_size_bytes ? Json(*e.shm_size_bytes) : Json();
    doc["shm_bytes_per_second"] =
        e.shm_bytes_per_second ? Json(std::round(*e.shm_bytes_per_second)) : Json();
    doc["shm_time_to_full_seconds"] =
        e.shm_seconds_to_full ? Json(std::round(*e.shm_seconds_to_full)) : Json();
    doc["shm_seconds_to_full"] = doc["shm_time_to_full_seconds"];  // the old key, one release
  }
  if (e.seconds_to_limit) {
    doc["time_to_limit_seconds"] = std::round(*e.seconds_to_limit);
    doc["seconds_to_limit"] = doc["time_to_limit_seconds"];  // the old key, one release
    doc["eta"] = rfc3339(e.at + std::chrono::seconds(static_cast<long>(*e.seconds_to_limit)));
  }
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
