#include "memopt/record/postmortem.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/units.hpp"
#include "render/json_document.hpp"

namespace memopt::record {

namespace {

using Json = nlohmann::ordered_json;
using render::or_null;
constexpr double kMiB = 1024.0 * 1024.0;

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

/// What a process weighs in a sample: PSS, else RSS.
std::uint64_t weight(const ProcessRow& p) { return p.pss_bytes.value_or(p.rss_bytes); }

/// Least-squares slope of (t, y), per second; nullopt with fewer than two distinct times.
std::optional<double> slope(const std::vector<std::pair<double, double>>& points) {
  if (points.size() < 2) return std::nullopt;
  double mt = 0, my = 0;
  for (const auto& [t, y] : points) mt += t, my += y;
  mt /= static_cast<double>(points.size());
  my /= static_cast<double>(points.size());
  double num = 0, den = 0;
  for (const auto& [t, y] : points) {
    num += (t - mt) * (y - my);
    den += (t - mt) * (t - mt);
  }
  if (den <= 0) return std::nullopt;
  return num / den;
}

/// "key value" lines (memory.stat, memory.events, oom_control) as numbers where they are.
Json parse_flat(const std::string& text) {
  Json out = Json::object();
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos) {
      if (!line.empty()) {
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), v);
        if (ec == std::errc() && end == line.data() + line.size()) out["value"] = v;
      }
      continue;
    }
    const std::string key(line.substr(0, sp));
    const auto value = line.substr(sp + 1);
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc() && end == value.data() + value.size()) {
      out[key] = v;
    } else {
      out[key] = std::string(value);
    }
  }
  return out;
}

std::string mib(double bytes) {
  return format_bytes(static_cast<std::uint64_t>(std::max(0.0, bytes)));
}

std::string rate(double bytes_per_second) {
  const double per_min = bytes_per_second * 60.0 / kMiB;
  if (std::fabs(per_min) >= 1.0) return fmt::format("{:.1f} MiB/min", per_min);
  return fmt::format("{:.2f} MiB/h", per_min * 60.0);
}

std::string how_long(double seconds) {
  if (seconds < 120) return fmt::format("{:.0f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

}  // namespace

std::string config_json(const config::MonitorConfig& c) {
  const auto& t = c.watch.thresholds;
  Json j;
  j["thresholds"] = {{"acceptable_percent", t.acceptable_percent},
                     {"warning_percent", t.warning_percent},
                     {"severe_percent", t.severe_percent},
                     {"danger_available_bytes", t.danger_available_bytes},
                     {"margin_percent", c.watch.level_margin_percent}};
  j["monitor"] = {
      {"interval_s", c.interval.count()}, {"watch_ms", c.watch_interval.count()}, {"top", c.top}};
  j["pressure"] = {{"some_avg10", c.watch.pressure_some_avg10},
                   {"full_avg10", c.watch.pressure_full_avg10}};
  j["hooks"] = {{"on_alert", or_null(c.on_alert)}, {"timeout_s", c.alert_timeout.count()}};
  j["cleanup"] = {
      {"auto_level", c.auto_cleanup ? Json(analysis::to_string(*c.auto_cleanup)) : Json(nullptr)},
      {"cooldown_s", c.cleanup_cooldown.count()}};
  j["record"] = {{"full_s", c.record.full.count()},
                 {"ten_second_s", c.record.ten_second.count()},
                 {"minute_s", c.record.minute.count()},
                 {"max_bytes", c.record.max_bytes},
                 {"processes", c.record.processes}};
  return j.dump();
}

Postmortem build_postmortem(const PostmortemInput& in) {
  const auto at = in.event.at;
  Json doc;
  doc["schema"] = "memopt.postmortem/1";
  doc["kind"] = in.kind;
  doc["at"] = render::rfc3339(at);
  doc["started"] = render::rfc3339(in.started);
  doc["target"] = in.target;
  doc["event"] = in.event.message;

  // The memory curve, and its peak.
  Json observations = Json::array();
  const ObservationRow* peak = nullptr;
  const ObservationRow* first = nullptr;
  std::optional<std::uint64_t> limit;
  for (const auto& o : in.observations) {
    observations.push_back({{"t", seconds_between(at, o.at)},
                            {"used_bytes", or_null(o.used_bytes)},
                            {"limit_bytes", or_null(o.limit_bytes)},
                            {"available_bytes", or_null(o.available_bytes)},
                            {"level", analysis::to_string(o.level)},
                            {"psi_some_avg10", or_null(o.pressure_some_avg10)}});
    if (!o.used_bytes) continue;
    if (first == nullptr) first = &o;
    if (peak == nullptr || *o.used_bytes >= *peak->used_bytes) peak = &o;
    if (o.limit_bytes) limit = o.limit_bytes;
  }
  doc["limit_bytes"] = or_null(limit);
  doc["window_seconds"] =
      in.observations.empty() ? 0.0 : seconds_between(in.observations.front().at, at);
  if (peak != nullptr) {
    doc["peak"] = {{"t", seconds_between(at, peak->at)}, {"used_bytes", *peak->used_bytes}};
    const double span = seconds_between(first->at, peak->at);
    doc["growth"] = {{"from_bytes", *first->used_bytes},
                     {"to_bytes", *peak->used_bytes},
                     {"seconds", span},
                     {"bytes_per_second", span > 0 ? (static_cast<double>(*peak->used_bytes) -
                                                      static_cast<double>(*first->used_bytes)) /
                                                         span
                                                   : 0.0}};
  } else {
    doc["peak"] = nullptr;
    doc["growth"] = nullptr;
  }

  // The full sample at the peak (the largest one), and every process's series over the window.
  const SampleRow* peak_sample = nullptr;
  for (const auto& s : in.samples) {
    if (s.used_bytes && (peak_sample == nullptr || *s.used_bytes >= *peak_sample->used_bytes))
      peak_sample = &s;
  }
  if (peak_sample == nullptr && !in.samples.empty()) peak_sample = &in.samples.back();
  std::vector<int> pids;
  if (peak_sample != nullptr) {
    for (const auto& p : peak_sample->processes) pids.push_back(p.pid);
  }
  for (const auto& v : in.event.victims) {
    if (std::find(pids.begin(), pids.end(), v.pid) == pids.end()) pids.push_back(v.pid);
  }
  Json processes = Json::array();
  std::map<int, Json> by_pid;
  for (const int pid : pids) {
    Json series = Json::array();
    std::vector<std::pair<double, double>> points;
    std::string name;
    const ProcessRow* at_peak = nullptr;
    const ProcessRow* last = nullptr;
    for (const auto& s : in.samples) {
      for (const auto& p : s.processes) {
        if (p.pid != pid) continue;
        const double t = seconds_between(at, s.at);
        series.push_back({{"t", t},
                          {"rss_bytes", p.rss_bytes},
                          {"pss_bytes", or_null(p.pss_bytes)},
                          {"uss_bytes", or_null(p.uss_bytes)},
                          {"gpu_bytes", or_null(p.gpu_bytes)}});
        points.emplace_back(t, static_cast<double>(weight(p)));
        name = p.name;
        last = &p;
        if (&s == peak_sample) at_peak = &p;
      }
    }
    if (points.empty()) continue;
    Json j;
    j["pid"] = pid;
    j["name"] = name;
    const double first_bytes = points.front().second;
    const double last_bytes = points.back().second;
    j["first_t"] = points.front().first;
    j["last_t"] = points.back().first;
    j["first_bytes"] = first_bytes;
    j["last_bytes"] = last_bytes;
    j["growth_bytes"] = last_bytes - first_bytes;
    j["bytes_per_second"] = or_null(slope(points));
    if (at_peak != nullptr) {
      j["at_peak"] = {{"rss_bytes", at_peak->rss_bytes},
                      {"pss_bytes", or_null(at_peak->pss_bytes)},
                      {"uss_bytes", or_null(at_peak->uss_bytes)},
                      {"gpu_bytes", or_null(at_peak->gpu_bytes)}};
    } else {
      j["at_peak"] = nullptr;
    }
    j["last_rss_bytes"] = last->rss_bytes;
    j["series"] = std::move(series);
    by_pid[pid] = j;
    processes.push_back(std::move(j));
  }
  // The largest growth first: what grew is what the text talks about.
  std::stable_sort(processes.begin(), processes.end(), [](const Json& a, const Json& b) {
    return a["growth_bytes"].get<double>() > b["growth_bytes"].get<double>();
  });

  Json victims = Json::array();
  double unsampled = 0;  // what the victims still took after their last sample
  for (const auto& v : in.event.victims) {
    Json j{{"pid", v.pid},
           {"name", v.name},
           {"anon_rss_bytes", or_null(v.anon_rss_bytes)},
           {"task_memcg", or_null(v.task_memcg)},
           {"kernel_log", v.line}};
    const auto it = by_pid.find(v.pid);
    j["sampled"] = it != by_pid.end();
    if (it != by_pid.end()) {
      j["growth_bytes"] = it->second["growth_bytes"];
      j["bytes_per_second"] = it->second["bytes_per_second"];
      j["first_bytes"] = it->second["first_bytes"];
      j["last_bytes"] = it->second["last_bytes"];
      if (v.anon_rss_bytes) {
        unsampled += std::max(0.0, static_cast<double>(*v.anon_rss_bytes) -
                                       it->second["last_rss_bytes"].get<double>());
      }
    } else if (v.anon_rss_bytes) {
      unsampled += static_cast<double>(*v.anon_rss_bytes);
    }
    victims.push_back(std::move(j));
  }
  doc["victims"] = std::move(victims);
  doc["oom_kills"] = in.event.count ? Json(*in.event.count) : Json(nullptr);

  // What would have prevented it.
  Json prevention = nullptr;
  if (peak != nullptr) {
    const double peak_used = static_cast<double>(*peak->used_bytes);
    double needed = 0;
    std::string reason;
    if (in.kind == "oom_kill") {
      needed = peak_used + unsampled;
      reason = unsampled > 0
                   ? fmt::format(
                         "the peak of {} plus the {} the victim still took after its last "
                         "sample (kernel log anon-rss)",
                         mib(peak_used), mib(unsampled))
                   : fmt::format(
                         "the peak of {} (the victim's memory at the kill is not in the "
                         "kernel log: this is a lower bound)",
                         mib(peak_used));
    } else {
      needed = peak_used / 0.8;
      reason = fmt::format("keeps the peak of {} below the warning level (80%)", mib(peak_used));
    }
    // Rounded up to a whole 64 MiB, as a limit is set.
    const double step = 64 * kMiB;
    needed = std::ceil(needed / step) * step;
    prevention = {{"limit_bytes", static_cast<std::uint64_t>(needed)}, {"reason", reason}};
    if (!processes.empty() && processes.front()["growth_bytes"].get<double>() > 0 &&
        !processes.front()["bytes_per_second"].is_null() &&
        processes.front()["bytes_per_second"].get<double>() > 0) {
      prevention["grower"] = {{"pid", processes.front()["pid"]},
                              {"name", processes.front()["name"]},
                              {"bytes_per_second", processes.front()["bytes_per_second"]}};
    }
  }
  doc["prevention"] = prevention;
  doc["processes"] = std::move(processes);
  doc["gpus_at_peak"] = Json::array();
  if (peak_sample != nullptr) {
    for (const auto& g : peak_sample->gpus) {
      doc["gpus_at_peak"].push_back({{"index", g.index},
                                     {"name", g.name},
                                     {"used_bytes", g.used_bytes},
                                     {"total_bytes", g.total_bytes}});
    }
  }
  Json files = Json::object();
  for (const auto& [name, text] : in.cgroup_files) files[name] = parse_flat(text);
  doc["cgroup_files"] = std::move(files);
  doc["config"] = in.config_json.empty() ? Json(nullptr) : Json::parse(in.config_json);
  doc["observations"] = std::move(observations);

  Postmortem out;
  if (in.kind == "oom_kill") {
    out.summary = in.event.victims.empty()
                      ? fmt::format("OOM kill in {} (victim not in the kernel log)", in.target)
                      : fmt::format("OOM kill of {} (pid {}) in {}", in.event.victims.back().name,
                                    in.event.victims.back().pid, in.target);
  } else {
    out.summary = fmt::format("danger for {} in {}",
                              how_long(std::max(0.0, seconds_between(in.started, at))), in.target);
  }
  if (peak != nullptr)
    out.summary += fmt::format(", peak {}", mib(static_cast<double>(*peak->used_bytes)));
  doc["summary"] = out.summary;
  out.json = doc.dump();
  return out;
}

std::string render_postmortem_json(const std::string& json) {
  return Json::parse(json).dump(2) + "\n";
}

std::string render_postmortem_text(const std::string& text) {
  const auto doc = Json::parse(text);
  std::string out;
  const auto bytes = [](const Json& v) {
    return v.is_null() ? std::string("unknown") : mib(v.get<double>());
  };
  out += fmt::format("Post-mortem {}: {} at {} ({})\n",
                     doc.contains("id") ? doc["id"].dump() : std::string("?"),
                     doc["kind"] == "oom_kill" ? "OOM kill" : "danger episode",
                     doc["at"].get<std::string>(), doc["target"].get<std::string>());
  if (doc["kind"] == "oom_kill") {
    if (doc["victims"].empty()) {
      out +=
          "Killed: the kernel log did not say who (memopt could not read it, or the kill was "
          "not in this cgroup).\n";
    }
    for (const auto& v : doc["victims"]) {
      out += fmt::format("Killed: {} (pid {}) by the kernel's OOM killer",
                         v["name"].get<std::string>(), v["pid"].get<int>());
      if (!v["anon_rss_bytes"].is_null())
        out += fmt::format(", holding {} of anonymous memory", bytes(v["anon_rss_bytes"]));
      out += ".\n";
      if (v["sampled"].get<bool>()) {
        out += fmt::format("  It grew from {} to {} in the samples before the kill ({}).\n",
                           bytes(v["first_bytes"]), bytes(v["last_bytes"]),
                           v["bytes_per_second"].is_null()
                               ? std::string("one sample")
                               : rate(v["bytes_per_second"].get<double>()));
      }
    }
  } else {
    out += fmt::format("Danger: available memory fell below the danger mark from {} to {}.\n",
                       doc["started"].get<std::string>(), doc["at"].get<std::string>());
  }
  if (!doc["growth"].is_null()) {
    const auto& g = doc["growth"];
    out += fmt::format("Memory used went from {} to {} in the {} before (limit {}){}.\n",
                       bytes(g["from_bytes"]), bytes(g["to_bytes"]),
                       how_long(g["seconds"].get<double>()), bytes(doc["limit_bytes"]),
                       g["bytes_per_second"].get<double>() > 0
                           ? fmt::format(", {}", rate(g["bytes_per_second"].get<double>()))
                           : std::string());
  } else {
    out += "No memory figures were recorded in the minutes before.\n";
  }
  if (!doc["processes"].empty()) {
    const auto& p = doc["processes"][0];
    if (p["growth_bytes"].get<double>() > 0) {
      out +=
          fmt::format("What grew most: {} (pid {}), +{} in {}{}.\n", p["name"].get<std::string>(),
                      p["pid"].get<int>(), bytes(p["growth_bytes"]),
                      how_long(p["last_t"].get<double>() - p["first_t"].get<double>()),
                      p["bytes_per_second"].is_null()
                          ? std::string()
                          : fmt::format(" ({})", rate(p["bytes_per_second"].get<double>())));
    }
    out += "Top processes at the peak (PSS; growth over the window):\n";
    for (const auto& q : doc["processes"]) {
      const auto& at_peak = q["at_peak"];
      out += fmt::format(
          "  {:>7}  {:<16} {:>10}  {}{}\n", q["pid"].get<int>(), q["name"].get<std::string>(),
          at_peak.is_null()
              ? bytes(q["last_bytes"])
              : bytes(at_peak["pss_bytes"].is_null() ? at_peak["rss_bytes"] : at_peak["pss_bytes"]),
          q["growth_bytes"].get<double>() >= 0 ? "+" : "-",
          bytes(std::fabs(q["growth_bytes"].get<double>())));
    }
  }
  if (!doc["prevention"].is_null()) {
    const auto& p = doc["prevention"];
    out += fmt::format("What would have prevented it: a limit of at least {} ({}).\n",
                       bytes(p["limit_bytes"]), p["reason"].get<std::string>());
    if (p.contains("grower")) {
      const double slope = p["grower"]["bytes_per_second"].get<double>();
      out += fmt::format(
          "  But {} (pid {}) was growing at {}: a larger limit only delays the next kill "
          "(each extra GiB lasts {}) unless that growth stops.\n",
          p["grower"]["name"].get<std::string>(), p["grower"]["pid"].get<int>(), rate(slope),
          how_long(1024.0 * kMiB / slope));
    }
  }
  for (const auto& [name, values] : doc["cgroup_files"].items()) {
    if (name == "memory.stat") continue;
    std::string line;
    for (const auto& [k, v] : values.items()) {
      line += fmt::format("{}{} {}", line.empty() ? "" : ", ", k,
                          v.is_string() ? v.get<std::string>() : v.dump());
    }
    out += fmt::format("{} at the time: {}\n", name, line);
  }
  return out;
}

std::string render_postmortem_list(const std::vector<PostmortemEntry>& entries, bool json) {
  if (json) {
    Json out = Json::array();
    for (const auto& e : entries) {
      out.push_back(
          {{"id", e.id}, {"at", render::rfc3339(e.at)}, {"kind", e.kind}, {"summary", e.summary}});
    }
    return out.dump() + "\n";
  }
  if (entries.empty()) return "No post-mortems recorded.\n";
  std::string out;
  for (const auto& e : entries) {
    out += fmt::format("{:>5}  {}  {:<8}  {}\n", e.id, render::rfc3339(e.at), e.kind, e.summary);
  }
  return out;
}

}  // namespace memopt::record
