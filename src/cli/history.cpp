#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/error.hpp"
#include "memopt/record/recorder.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/sys/clock.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

using Json = nlohmann::ordered_json;

struct HistoryFlags {
  std::string db;
  std::string since = "1h";
  std::optional<std::string> until;
  std::string format = "text";
};

template <typename T>
Json or_null(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

std::string cell(const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : ""; }
std::string cell(const std::optional<double>& v) { return v ? fmt::format("{:g}", *v) : ""; }
std::string bytes(const std::optional<std::uint64_t>& v) {
  return v ? format_bytes(*v) : "unknown";
}

int run_history(const HistoryFlags& flags) {
  const auto now = sys::wall_now();
  const auto from = record::parse_time_spec(flags.since, now, "--since");
  const auto to = flags.until ? record::parse_time_spec(*flags.until, now, "--until") : now;
  if (to < from) throw Error("--until is before --since", Error::Kind::kUsage);
  record::History history(flags.db.empty() ? record::default_database_path() : flags.db);
  const auto rows = history.observations(from, to);
  std::string out;
  if (flags.format == "json") {
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
  } else if (flags.format == "csv") {
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
    for (const auto& e : history.events(from, to)) {
      const auto j = Json::parse(e);
      out += fmt::format("{}  EVENT {:<14}  {}\n", j.value("timestamp", ""), j.value("event", ""),
                         j.value("message", ""));
    }
  }
  write_output("", out);
  return 0;
}

}  // namespace

void add_history_command(CLI::App& app, const GlobalOptions& /*global*/, Action& action) {
  auto flags = std::make_shared<HistoryFlags>();
  auto* cmd = app.add_subcommand(
      "history", "What the flight recorder kept (`monitor --record`): observations and events");
  cmd->add_option("--db", flags->db,
                  "The history database (default: $MEMOPT_STATE_DIR/history.db, "
                  "/var/lib/memopt/history.db as root, else ~/.local/state/memopt/history.db)");
  cmd->add_option("--since", flags->since,
                  "From this long ago (90s, 30m, 1h, 2d, 1w) or this UTC time (default 1h)");
  cmd->add_option("--until", flags->until, "Up to this long ago or this UTC time (default: now)");
  cmd->add_option("--format", flags->format, "text, json or csv")
      ->check(CLI::IsMember({"text", "json", "csv"}));
  cmd->callback([&action, flags] { action = [flags] { return run_history(*flags); }; });
}

}  // namespace memopt::cli
