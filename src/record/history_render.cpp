#include "memopt/record/history_render.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/printable.hpp"
#include "memopt/record/stored.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/units.hpp"
#include "render/json_document.hpp"

namespace memopt::record {

namespace {

using Json = nlohmann::ordered_json;
using render::or_null;

std::string cell(const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : ""; }
std::string cell(const std::optional<double>& v) { return v ? fmt::format("{:g}", *v) : ""; }
std::string bytes(const std::optional<std::uint64_t>& v) {
  return v ? format_bytes(*v) : "unknown";
}

}  // namespace

std::string render_history(History& history, TimePoint from, TimePoint to,
                           std::string_view format) {
  const auto rows = history.observations(from, to);
  std::string out;
  if (format == "json") {
    Json observations = Json::array();
    for (const auto& r : rows) {
      observations.push_back({{"t", render::rfc3339(r.at)},
                              {"resolution_s", r.resolution_s},
                              {"used_bytes", or_null(r.used_bytes)},
                              {"limit_bytes", or_null(r.limit_bytes)},
                              {"available_bytes", or_null(r.available_bytes)},
                              {"level", analysis::to_string(r.level)},
                              {"psi_some_avg10", or_null(r.pressure_some_avg10)},
                              {"psi_full_avg10", or_null(r.pressure_full_avg10)},
                              {"oom_kills", or_null(r.oom_kills)}});
    }
    Json samples = Json::array();
    for (const auto& s : history.samples(from, to)) {
      Json processes = Json::array();
      for (const auto& p : s.processes) {
        processes.push_back({{"pid", p.pid},
                             {"name", p.name},
                             {"rss_bytes", p.rss_bytes},
                             {"pss_bytes", or_null(p.pss_bytes)},
                             {"uss_bytes", or_null(p.uss_bytes)},
                             {"swap_bytes", or_null(p.swap_bytes)},
                             {"gpu_bytes", or_null(p.gpu_bytes)}});
      }
      Json gpus = Json::array();
      for (const auto& g : s.gpus) {
        gpus.push_back({{"index", g.index},
                        {"name", g.name},
                        {"used_bytes", g.used_bytes},
                        {"total_bytes", g.total_bytes}});
      }
      samples.push_back({{"t", render::rfc3339(s.at)},
                         {"resolution_s", s.resolution_s},
                         {"used_bytes", or_null(s.used_bytes)},
                         {"limit_bytes", or_null(s.limit_bytes)},
                         {"level", analysis::to_string(s.level)},
                         {"processes", std::move(processes)},
                         {"gpus", std::move(gpus)}});
    }
    Json events = Json::array();
    for (const auto& e : history.events(from, to)) events.push_back(Json::parse(e));
    out = Json{{"schema", "memopt.history/1"},  {"from", render::rfc3339(from)},
               {"to", render::rfc3339(to)},     {"observations", std::move(observations)},
               {"samples", std::move(samples)}, {"events", std::move(events)}}
              .dump(2) +
          "\n";
  } else if (format == "csv") {
    out =
        "time,resolution_s,used_bytes,limit_bytes,available_bytes,level,psi_some_avg10,"
        "psi_full_avg10,oom_kills\n";
    for (const auto& r : rows) {
      out += fmt::format("{},{},{},{},{},{},{},{},{}\n", render::rfc3339(r.at), r.resolution_s,
                         cell(r.used_bytes), cell(r.limit_bytes), cell(r.available_bytes),
                         analysis::to_string(r.level), cell(r.pressure_some_avg10),
                         cell(r.pressure_full_avg10), cell(r.oom_kills));
    }
  } else {
    if (rows.empty()) {
      out = fmt::format("Nothing recorded between {} and {}.\n", render::rfc3339(from),
                        render::rfc3339(to));
    } else {
      out = fmt::format("{:<20}  {:>4}  {:>11}  {:>11}  {:>11}  {:<10}  {:>6}\n", "time", "res",
                        "used", "limit", "available", "level", "psi");
      for (const auto& r : rows) {
        out += fmt::format(
            "{:<20}  {:>4}  {:>11}  {:>11}  {:>11}  {:<10}  {:>6}\n", render::rfc3339(r.at),
            r.resolution_s == 0 ? std::string("1s") : fmt::format("{}s", r.resolution_s),
            bytes(r.used_bytes), bytes(r.limit_bytes), bytes(r.available_bytes),
            analysis::to_string(r.level),
            r.pressure_some_avg10 ? fmt::format("{:.1f}%", *r.pressure_some_avg10)
                                  : std::string("-"));
      }
    }
    for (const auto& line : history.events(from, to)) {
      const auto e = decode_event_line(line);
      if (!e) continue;  // History::events keeps only lines that decode
      // An event's message may quote a cgroup path or a process name: no byte of it reaches
      // the terminal raw.
      out += fmt::format("{}  EVENT {:<14}  {}\n", printable(e->timestamp), printable(e->name),
                         printable(e->message));
    }
  }
  return out;
}

SizingInput read_sizing_input(History& history, TimePoint from, TimePoint to) {
  SizingInput input;
  for (const auto& row : history.observations(from, to)) {
    if (!row.used_bytes) continue;
    input.points.push_back(
        {row.at, row.resolution_s, *row.used_bytes, row.limit_bytes, row.oom_kills});
  }
  for (const auto& sample : history.samples(from, to)) {
    for (const auto& g : sample.gpus) {
      // Databases from before the recorder skipped them kept a refused device as 0 of 0.
      if (g.total_bytes == 0) continue;
      input.gpus.push_back({sample.at, g.index, g.name, g.used_bytes, g.total_bytes});
    }
  }
  return input;
}

}  // namespace memopt::record
