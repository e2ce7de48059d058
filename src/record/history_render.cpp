#include "memopt/record/history_render.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/printable.hpp"
#include "memopt/record/stored.hpp"
#include "memopt/timestamp.hpp"
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

namespace {

/// One member array of the top-level object, written element by element as nlohmann's
/// dump(2) would write it whole: "[]" when empty, else each element on its own lines.
class ArrayWriter {
 public:
  explicit ArrayWriter(const HistoryOutput& out) : out_(out) {}
  void add(const Json& element) {
    out_(first_ ? "[\n    " : ",\n    ");
    first_ = false;
    // The element's own lines, four spaces further in (the depth of an array member's element).
    // A raw newline in a dump is always a line break: newlines in strings are escaped.
    const auto text = element.dump(2);
    std::size_t at = 0;
    for (auto nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', at)) {
      out_(std::string_view(text).substr(at, nl + 1 - at));
      out_("    ");
      at = nl + 1;
    }
    out_(std::string_view(text).substr(at));
  }
  void finish() { out_(first_ ? "[]" : "\n  ]"); }

 private:
  const HistoryOutput& out_;
  bool first_ = true;
};

void write_json(History& history, TimePoint from, TimePoint to, const HistoryOutput& out) {
  out(
      fmt::format("{{\n  \"schema\": \"memopt.history/1\",\n  \"from\": {},\n  \"to\": {},\n"
                  "  \"observations\": ",
                  Json(rfc3339(from)).dump(), Json(rfc3339(to)).dump()));
  ArrayWriter observations(out);
  history.each_observation(from, to, [&](const ObservationRow& r) {
    // The old keys ("resolution_s", "psi_*_avg10") beside the new ones for one release.
    observations.add({{"t", rfc3339(r.at)},
                      {"resolution_seconds", r.resolution_s},
                      {"resolution_s", r.resolution_s},
                      {"used_bytes", or_null(r.used_bytes)},
                      {"limit_bytes", or_null(r.limit_bytes)},
                      {"available_bytes", or_null(r.available_bytes)},
                      {"level", analysis::to_string(r.level)},
                      {"psi_some_avg10_percent", or_null(r.pressure_some_avg10)},
                      {"psi_some_avg10", or_null(r.pressure_some_avg10)},
                      {"psi_full_avg10_percent", or_null(r.pressure_full_avg10)},
                      {"psi_full_avg10", or_null(r.pressure_full_avg10)},
                      {"oom_kills", or_null(r.oom_kills)}});
  });
  observations.finish();
  out(",\n  \"samples\": ");
  ArrayWriter samples(out);
  history.each_sample(from, to, [&](const SampleRow& s) {
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
    samples.add({{"t", rfc3339(s.at)},
                 {"resolution_seconds", s.resolution_s},
                 {"resolution_s", s.resolution_s},
                 {"used_bytes", or_null(s.used_bytes)},
                 {"limit_bytes", or_null(s.limit_bytes)},
                 {"level", analysis::to_string(s.level)},
                 {"processes", std::move(processes)},
                 {"gpus", std::move(gpus)}});
  });
  samples.finish();
  out(",\n  \"events\": ");
  ArrayWriter events(out);
  history.each_event(from, to, [&](const std::string& line) { events.add(Json::parse(line)); });
  events.finish();
  out("\n}\n");
}

}  // namespace

void write_history(History& history, TimePoint from, TimePoint to, std::string_view format,
                   const HistoryOutput& out) {
  if (format == "json") {
    write_json(history, from, to, out);
  } else if (format == "csv") {
    out("time,resolution_s,used_bytes,limit_bytes,available_bytes,level,psi_some_avg10,"
        "psi_full_avg10,oom_kills\n");
    history.each_observation(from, to, [&](const ObservationRow& r) {
      out(fmt::format("{},{},{},{},{},{},{},{},{}\n", rfc3339(r.at), r.resolution_s,
                      cell(r.used_bytes), cell(r.limit_bytes), cell(r.available_bytes),
                      analysis::to_string(r.level), cell(r.pressure_some_avg10),
                      cell(r.pressure_full_avg10), cell(r.oom_kills)));
    });
  } else {
    bool any = false;
    history.each_observation(from, to, [&](const ObservationRow& r) {
      if (!any) {
        out(fmt::format("{:<20}  {:>4}  {:>11}  {:>11}  {:>11}  {:<10}  {:>6}\n", "time", "res",
                        "used", "limit", "available", "level", "psi"));
        any = true;
      }
      out(fmt::format("{:<20}  {:>4}  {:>11}  {:>11}  {:>11}  {:<10}  {:>6}\n", rfc3339(r.at),
                      r.resolution_s == 0 ? std::string("1s") : fmt::format("{}s", r.resolution_s),
                      bytes(r.used_bytes), bytes(r.limit_bytes), bytes(r.available_bytes),
                      analysis::to_string(r.level),
                      r.pressure_some_avg10 ? fmt::format("{:.1f}%", *r.pressure_some_avg10)
                                            : std::string("-")));
    });
    if (!any) {
      out(fmt::format("Nothing recorded between {} and {}.\n", rfc3339(from), rfc3339(to)));
    }
    history.each_event(from, to, [&](const std::string& line) {
      const auto e = decode_event_line(line);
      if (!e) return;  // History::each_event hands on only lines that decode
      // An event's message may quote a cgroup path or a process name: no byte of it reaches
      // the terminal raw.
      out(fmt::format("{}  EVENT {:<14}  {}\n", printable(e->timestamp), printable(e->name),
                      printable(e->message)));
    });
  }
}

std::string render_history(History& history, TimePoint from, TimePoint to,
                           std::string_view format) {
  std::string text;
  write_history(history, from, to, format, [&text](std::string_view part) { text += part; });
  return text;
}

void read_sizing_input(History& history, TimePoint from, TimePoint to,
                       analysis::HistorySizer& sizer) {
  history.each_observation(from, to, [&sizer](const ObservationRow& row) {
    if (!row.used_bytes) return;
    sizer.add({row.at, row.resolution_s, *row.used_bytes, row.limit_bytes, row.oom_kills});
  });
  history.each_sample(
      from, to,
      [&sizer](const SampleRow& sample) {
        for (const auto& g : sample.gpus) {
          // Databases from before the recorder skipped them kept a refused device as 0 of 0.
          if (g.total_bytes == 0) continue;
          sizer.add(analysis::GpuPoint{sample.at, g.index, g.name, g.used_bytes, g.total_bytes});
        }
      },
      false);
}

}  // namespace memopt::record
