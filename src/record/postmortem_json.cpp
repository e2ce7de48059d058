// memopt.postmortem/1: the one serializer of an analysis::Postmortem and the one parser of a
// stored document, and the other JSON the post-mortem commands print.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/json_values.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/record/stored.hpp"
#include "memopt/timestamp.hpp"

namespace memopt::record {

namespace {

using DocJson = nlohmann::ordered_json;

/// JSON text whatever bytes its strings hold: invalid UTF-8 (a cgroup or process name is any
/// bytes) becomes U+FFFD instead of nlohmann's type_error.316.
std::string dump_doc(const DocJson& j, int indent = -1) {
  return j.dump(indent, ' ', false, DocJson::error_handler_t::replace);
}

template <typename T>
DocJson nullable(const std::optional<T>& value) {
  return value ? DocJson(*value) : DocJson(nullptr);
}

// --- struct -> JSON ---------------------------------------------------------------------------

/// A process's figures, added to `j` (a series point begins with its time).
DocJson figures_json(const analysis::PostmortemFigures& f, DocJson j = DocJson::object()) {
  j["rss_bytes"] = f.rss_bytes;
  j["pss_bytes"] = nullable(f.pss_bytes);
  j["uss_bytes"] = nullable(f.uss_bytes);
  j["gpu_bytes"] = nullable(f.gpu_bytes);
  return j;
}

DocJson grower_json(const analysis::PostmortemGrower& g) {
  return {{"pid", g.pid},
          {"name", g.name},
          {"growth_bytes", g.growth_bytes},
          {"bytes_per_second", nullable(g.bytes_per_second)}};
}

DocJson ramp_json(const analysis::PostmortemRamp& r) {
  return {{"from_bytes", r.from_bytes},
          {"to_bytes", r.to_bytes},
          {"start_t", r.start_t},
          {"end_t", r.end_t},
          {"seconds", r.seconds},
          {"steps", r.steps},
          {"bytes_per_second", nullable(r.bytes_per_second)}};
}

DocJson victim_json(const analysis::PostmortemVictim& v) {
  DocJson j{{"pid", v.pid},
            {"name", v.name},
            {"anon_rss_bytes", nullable(v.anon_rss_bytes)},
            {"task_memcg", nullable(v.task_memcg)},
            {"kernel_log", nullable(v.kernel_log)},
            {"sampled", v.sampled.has_value()}};
  if (const auto& g = v.sampled) {
    j["growth_bytes"] = nullable(g->growth_bytes);
    j["growth_from_bytes"] = nullable(g->growth_from_bytes);
    j["growth_to_bytes"] = nullable(g->growth_to_bytes);
    j["growth_seconds"] = nullable(g->growth_seconds);
    j["bytes_per_second"] = nullable(g->bytes_per_second);
    j["first_bytes"] = nullable(g->first_bytes);
    j["last_bytes"] = nullable(g->last_bytes);
  }
  return j;
}

DocJson classification_json(const analysis::PostmortemClassification& c) {
  DocJson growers = DocJson::array();
  for (const auto& g : c.growers) growers.push_back(grower_json(g));
  return {{"class", c.cls},
          {"description", nullable(c.description)},
          {"observed_peak_bytes", nullable(c.observed_peak_bytes)},
          {"kernel_peak_bytes", nullable(c.kernel_peak_bytes)},
          {"kernel_peak_file", nullable(c.kernel_peak_file)},
          {"unseen_bytes", c.unseen_bytes},
          {"peak_process_count", c.processes_at_peak},
          {"processes_at_peak", c.processes_at_peak},
          {"processes_sum_bytes", c.processes_sum_bytes},
          {"growers", std::move(growers)}};
}

DocJson prevention_json(const analysis::PostmortemPrevention& prevention) {
  if (const auto* none = std::get_if<analysis::PostmortemNoLargerLimit>(&prevention)) {
    DocJson j{{"limit_bytes", nullptr},
              {"bytes_per_second", nullable(none->bytes_per_second)},
              {"seconds_per_gib", nullable(none->seconds_per_gib)},
              {"reason", none->reason}};
    if (none->grower) j["grower"] = grower_json(*none->grower);
    return j;
  }
  const auto& larger = std::get<analysis::PostmortemLargerLimit>(prevention);
  return {{"limit_bytes", larger.limit_bytes},
          {"basis_bytes", nullable(larger.basis_bytes)},
          {"reason", larger.reason}};
}

DocJson process_json(const analysis::PostmortemProcess& p) {
  DocJson series = DocJson::array();
  for (const auto& point : p.series) {
    series.push_back(figures_json(point.figures, DocJson{{"t", point.t}}));
  }
  return {{"pid", p.pid},
          {"name", p.name},
          {"first_t", p.first_t},
          {"last_t", p.last_t},
          {"first_bytes", nullable(p.first_bytes)},
          {"last_bytes", nullable(p.last_bytes)},
          {"growth_bytes", p.growth_bytes},
          {"growth_from_bytes", nullable(p.growth_from_bytes)},
          {"growth_to_bytes", nullable(p.growth_to_bytes)},
          {"growth_start_t", nullable(p.growth_start_t)},
          {"growth_seconds", nullable(p.growth_seconds)},
          {"bytes_per_second", nullable(p.bytes_per_second)},
          {"at_peak", p.at_peak ? figures_json(*p.at_peak) : DocJson(nullptr)},
          {"last_rss_bytes", nullable(p.last_rss_bytes)},
          {"series", std::move(series)}};
}

DocJson cgroup_files_json(const std::vector<analysis::PostmortemCgroupFile>& files) {
  DocJson out = DocJson::object();
  for (const auto& file : files) {
    DocJson values = DocJson::object();
    for (const auto& [key, value] : file.values) {
      values[key] = std::visit([](const auto& v) { return DocJson(v); }, value);
    }
    out[file.name] = std::move(values);
  }
  return out;
}

DocJson loop_forecast_json(const analysis::PostmortemLoopForecast& f) {
  return {{"timestamp", nullable(f.timestamp)},
          {"pid", nullable(f.pid)},
          {"name", nullable(f.name)},
          {"bytes_per_item", nullable(f.bytes_per_item)},
          {"item", nullable(f.item)},
          {"limit_item", nullable(f.limit_item)},
          {"total", nullable(f.total)},
          {"time_left_seconds", nullable(f.seconds_left)},
          {"seconds_left", nullable(f.seconds_left)},
          {"limit_bytes", nullable(f.limit_bytes)},
          {"forecast_at", nullable(f.forecast_at)},
          {"message", nullable(f.message)}};
}

DocJson shm_json(const analysis::PostmortemShm& shm) {
  DocJson largest = DocJson::array();
  for (const auto& f : shm.largest_files) {
    largest.push_back({{"name", f.name},
                       {"allocated_bytes", f.allocated_bytes},
                       {"owner_pid", nullable(f.owner_pid)},
                       {"owner_alive", nullable(f.owner_alive)}});
  }
  return {{"path", shm.path},
          {"size_bytes", shm.size_bytes},
          {"used_bytes", shm.used_bytes},
          {"file_count", shm.file_count},
          {"orphan_bytes", shm.orphan_bytes},
          {"orphan_files", shm.orphan_files},
          {"owners_judged", shm.owners_judged},
          {"largest_files", std::move(largest)}};
}

DocJson document_json(const analysis::Postmortem& pm) {
  DocJson doc;
  doc["schema"] = analysis::kPostmortemSchema;
  doc["kind"] = pm.kind;
  doc["at"] = pm.at;
  doc["started"] = nullable(pm.started);
  doc["target"] = pm.target;
  doc["event"] = nullable(pm.event);
  doc["limit_bytes"] = nullable(pm.limit_bytes);
  doc["window_seconds"] = nullable(pm.window_seconds);
  doc["episode_start_t"] = nullable(pm.episode_start_t);
  doc["previous_kill_t"] = nullable(pm.previous_kill_t);
  doc["peak"] =
      pm.peak ? DocJson{{"t", pm.peak->t}, {"used_bytes", pm.peak->used_bytes}} : DocJson(nullptr);
  doc["growth"] = pm.growth ? ramp_json(*pm.growth) : DocJson(nullptr);
  doc["victims"] = DocJson::array();
  for (const auto& v : pm.victims) doc["victims"].push_back(victim_json(v));
  doc["oom_kills"] = nullable(pm.oom_kills);
  doc["classification"] =
      pm.classification ? classification_json(*pm.classification) : DocJson(nullptr);
  doc["prevention"] = pm.prevention ? prevention_json(*pm.prevention) : DocJson(nullptr);
  doc["processes"] = DocJson::array();
  for (const auto& p : pm.processes) doc["processes"].push_back(process_json(p));
  doc["gpus_at_peak"] = DocJson::array();
  for (const auto& g : pm.gpus_at_peak) {
    doc["gpus_at_peak"].push_back({{"index", g.index},
                                   {"name", g.name},
                                   {"used_bytes", g.used_bytes},
                                   {"total_bytes", g.total_bytes}});
  }
  doc["cgroup_files"] = cgroup_files_json(pm.cgroup_files);
  doc["config"] = nullptr;
  if (pm.config_json) {
    auto config = DocJson::parse(*pm.config_json, nullptr, false);
    if (!config.is_discarded()) doc["config"] = std::move(config);
  }
  doc["observations"] = DocJson::array();
  for (const auto& o : pm.observations) {
    doc["observations"].push_back({{"t", o.t},
                                   {"used_bytes", nullable(o.used_bytes)},
                                   {"limit_bytes", nullable(o.limit_bytes)},
                                   {"available_bytes", nullable(o.available_bytes)},
                                   {"level", o.level},
                                   {"psi_some_avg10_percent", nullable(o.psi_some_avg10)},
                                   {"psi_some_avg10", nullable(o.psi_some_avg10)}});
  }
  doc["loop_forecasts"] = DocJson::array();
  for (const auto& f : pm.loop_forecasts) doc["loop_forecasts"].push_back(loop_forecast_json(f));
  doc["dev_shm"] = pm.dev_shm ? shm_json(*pm.dev_shm) : DocJson(nullptr);
  doc["dev_shm_events"] = DocJson::array();
  for (const auto& e : pm.dev_shm_events) {
    doc["dev_shm_events"].push_back({{"timestamp", nullable(e.timestamp)},
                                     {"event", e.event},
                                     {"message", nullable(e.message)}});
  }
  // A document written by an older memopt may lack these; written again, they stay absent.
  if (pm.summary) doc["summary"] = *pm.summary;
  if (pm.id) doc["id"] = *pm.id;
  return doc;
}

// --- JSON -> struct ---------------------------------------------------------------------------
// The document has passed postmortem_problem(): what the views need is there, of its type. A
// member it does not check, or one an older memopt did not write, reads as absent when it is
// missing or not of its type: never an exception, never a made-up figure.

std::optional<int> int_of(const DocJson& v) {
  const auto i = signed_of(v);
  if (!i || *i < std::numeric_limits<int>::min() || *i > std::numeric_limits<int>::max())
    return std::nullopt;
  return static_cast<int>(*i);
}

std::optional<bool> bool_of(const DocJson& v) {
  if (!v.is_boolean()) return std::nullopt;
  return v.get<bool>();
}

std::optional<analysis::PostmortemFigures> figures_of(const DocJson& j) {
  if (!j.is_object()) return std::nullopt;
  return analysis::PostmortemFigures{
      count_of(member(j, "rss_bytes")).value_or(0), count_of(member(j, "pss_bytes")),
      count_of(member(j, "uss_bytes")), count_of(member(j, "gpu_bytes"))};
}

std::optional<analysis::PostmortemGrower> grower_of(const DocJson& j) {
  if (!j.is_object()) return std::nullopt;
  return analysis::PostmortemGrower{
      int_of(member(j, "pid")).value_or(0), text_of(member(j, "name")).value_or(""),
      real_of(member(j, "growth_bytes")).value_or(0), real_of(member(j, "bytes_per_second"))};
}

analysis::PostmortemProcess process_of(const DocJson& j) {
  analysis::PostmortemProcess p;
  p.pid = int_of(member(j, "pid")).value_or(0);
  p.name = text_of(member(j, "name")).value_or("");
  p.first_t = real_of(member(j, "first_t")).value_or(0);
  p.last_t = real_of(member(j, "last_t")).value_or(0);
  p.first_bytes = real_of(member(j, "first_bytes"));
  p.last_bytes = real_of(member(j, "last_bytes"));
  p.growth_bytes = real_of(member(j, "growth_bytes")).value_or(0);
  p.growth_from_bytes = real_of(member(j, "growth_from_bytes"));
  p.growth_to_bytes = real_of(member(j, "growth_to_bytes"));
  p.growth_start_t = real_of(member(j, "growth_start_t"));
  p.growth_seconds = real_of(member(j, "growth_seconds"));
  p.bytes_per_second = real_of(member(j, "bytes_per_second"));
  p.at_peak = figures_of(member(j, "at_peak"));
  p.last_rss_bytes = count_of(member(j, "last_rss_bytes"));
  for (const auto& point : member(j, "series")) {
    if (const auto figures = figures_of(point))
      p.series.push_back({real_of(member(point, "t")).value_or(0), *figures});
  }
  return p;
}

analysis::PostmortemVictim victim_of(const DocJson& j) {
  analysis::PostmortemVictim v;
  v.pid = int_of(member(j, "pid")).value_or(0);
  v.name = text_of(member(j, "name")).value_or("");
  v.anon_rss_bytes = count_of(member(j, "anon_rss_bytes"));
  v.task_memcg = text_of(member(j, "task_memcg"));
  v.kernel_log = text_of(member(j, "kernel_log"));
  if (bool_of(member(j, "sampled")).value_or(false)) {
    v.sampled = analysis::PostmortemVictimGrowth{
        real_of(member(j, "growth_bytes")),     real_of(member(j, "growth_from_bytes")),
        real_of(member(j, "growth_to_bytes")),  real_of(member(j, "growth_seconds")),
        real_of(member(j, "bytes_per_second")), real_of(member(j, "first_bytes")),
        real_of(member(j, "last_bytes"))};
  }
  return v;
}

std::optional<analysis::PostmortemClassification> classification_of(const DocJson& j) {
  if (!j.is_object()) return std::nullopt;
  analysis::PostmortemClassification c;
  c.cls = text_of(member(j, "class")).value_or("unknown");
  c.description = text_of(member(j, "description"));
  c.observed_peak_bytes = count_of(member(j, "observed_peak_bytes"));
  c.kernel_peak_bytes = real_of(member(j, "kernel_peak_bytes"));
  c.kernel_peak_file = text_of(member(j, "kernel_peak_file"));
  c.unseen_bytes = real_of(member(j, "unseen_bytes")).value_or(0);
  // An older document has only the old key.
  c.processes_at_peak = count_of(member(j, "peak_process_count"))
                            .value_or(count_of(member(j, "processes_at_peak")).value_or(0));
  c.processes_sum_bytes = real_of(member(j, "processes_sum_bytes")).value_or(0);
  for (const auto& g : member(j, "growers")) {
    if (auto grower = grower_of(g)) c.growers.push_back(std::move(*grower));
  }
  return c;
}

std::optional<analysis::PostmortemPrevention> prevention_of(const DocJson& j) {
  if (!j.is_object()) return std::nullopt;
  const auto reason = text_of(member(j, "reason")).value_or("");
  if (const auto limit = count_of(member(j, "limit_bytes"))) {
    return analysis::PostmortemLargerLimit{*limit, real_of(member(j, "basis_bytes")), reason};
  }
  return analysis::PostmortemNoLargerLimit{real_of(member(j, "bytes_per_second")),
                                           real_of(member(j, "seconds_per_gib")), reason,
                                           grower_of(member(j, "grower"))};
}

std::vector<analysis::PostmortemCgroupFile> cgroup_files_of(const DocJson& j) {
  std::vector<analysis::PostmortemCgroupFile> out;
  if (!j.is_object()) return out;
  for (const auto& [name, values] : j.items()) {
    if (!values.is_object()) continue;
    analysis::PostmortemCgroupFile file{name, {}};
    for (const auto& [key, value] : values.items()) {
      if (value.is_number_unsigned()) {
        file.values.emplace_back(key, value.get<std::uint64_t>());
      } else {
        // memopt writes a number or the text; any other value is shown as its JSON.
        file.values.emplace_back(key,
                                 value.is_string() ? value.get<std::string>() : dump_doc(value));
      }
    }
    out.push_back(std::move(file));
  }
  return out;
}

analysis::PostmortemLoopForecast loop_forecast_of(const DocJson& j) {
  auto left = real_of(member(j, "time_left_seconds"));
  if (!left) left = real_of(member(j, "seconds_left"));  // an older document
  return {text_of(member(j, "timestamp")),    signed_of(member(j, "pid")),
          text_of(member(j, "name")),         real_of(member(j, "bytes_per_item")),
          count_of(member(j, "item")),        count_of(member(j, "limit_item")),
          count_of(member(j, "total")),       left,
          count_of(member(j, "limit_bytes")), text_of(member(j, "forecast_at")),
          text_of(member(j, "message"))};
}

std::optional<analysis::PostmortemShm> shm_of(const DocJson& j) {
  if (!j.is_object()) return std::nullopt;
  analysis::PostmortemShm shm;
  shm.path = text_of(member(j, "path")).value_or("");
  shm.size_bytes = count_of(member(j, "size_bytes")).value_or(0);
  shm.used_bytes = count_of(member(j, "used_bytes")).value_or(0);
  shm.file_count = count_of(member(j, "file_count")).value_or(0);
  shm.orphan_bytes = count_of(member(j, "orphan_bytes")).value_or(0);
  shm.orphan_files = count_of(member(j, "orphan_files")).value_or(0);
  shm.owners_judged = bool_of(member(j, "owners_judged")).value_or(false);
  for (const auto& f : member(j, "largest_files")) {
    if (!f.is_object()) continue;
    shm.largest_files.push_back({text_of(member(f, "name")).value_or(""),
                                 count_of(member(f, "allocated_bytes")).value_or(0),
                                 int_of(member(f, "owner_pid")),
                                 bool_of(member(f, "owner_alive"))});
  }
  return shm;
}

/// Each element of a list member (none when it is not a list).
template <typename F>
void each_of(const DocJson& doc, const char* key, F&& visit) {
  const auto& list = member(doc, key);
  if (!list.is_array()) return;
  for (const auto& element : list) {
    if (element.is_object()) visit(element);
  }
}

}  // namespace

std::string postmortem_to_json(const analysis::Postmortem& pm, int indent) {
  return dump_doc(document_json(pm), indent);
}

analysis::Postmortem parse_postmortem(std::string_view json) {
  if (const auto problem = postmortem_problem(json)) {
    throw Error(fmt::format("post-mortem document: {}", *problem));
  }
  const auto doc = DocJson::parse(json);
  analysis::Postmortem pm;
  pm.kind = text_of(member(doc, "kind")).value_or("");
  pm.at = text_of(member(doc, "at")).value_or("");
  pm.started = text_of(member(doc, "started"));
  pm.target = text_of(member(doc, "target")).value_or("");
  pm.event = text_of(member(doc, "event"));
  pm.limit_bytes = count_of(member(doc, "limit_bytes"));
  pm.window_seconds = real_of(member(doc, "window_seconds"));
  pm.episode_start_t = real_of(member(doc, "episode_start_t"));
  pm.previous_kill_t = real_of(member(doc, "previous_kill_t"));
  if (const auto& peak = member(doc, "peak"); peak.is_object()) {
    pm.peak = analysis::PostmortemPeak{real_of(member(peak, "t")).value_or(0),
                                       count_of(member(peak, "used_bytes")).value_or(0)};
  }
  if (const auto& g = member(doc, "growth"); g.is_object()) {
    pm.growth = analysis::PostmortemRamp{
        real_of(member(g, "from_bytes")).value_or(0), real_of(member(g, "to_bytes")).value_or(0),
        real_of(member(g, "start_t")).value_or(0),    real_of(member(g, "end_t")).value_or(0),
        real_of(member(g, "seconds")).value_or(0),    int_of(member(g, "steps")).value_or(0),
        real_of(member(g, "bytes_per_second"))};
  }
  each_of(doc, "victims", [&](const DocJson& v) { pm.victims.push_back(victim_of(v)); });
  pm.oom_kills = count_of(member(doc, "oom_kills"));
  pm.classification = classification_of(member(doc, "classification"));
  pm.prevention = prevention_of(member(doc, "prevention"));
  each_of(doc, "processes", [&](const DocJson& p) { pm.processes.push_back(process_of(p)); });
  each_of(doc, "gpus_at_peak", [&](const DocJson& g) {
    pm.gpus_at_peak.push_back({static_cast<unsigned>(count_of(member(g, "index")).value_or(0)),
                               text_of(member(g, "name")).value_or(""),
                               count_of(member(g, "used_bytes")).value_or(0),
                               count_of(member(g, "total_bytes")).value_or(0)});
  });
  pm.cgroup_files = cgroup_files_of(member(doc, "cgroup_files"));
  if (const auto& config = member(doc, "config"); config.is_object()) {
    pm.config_json = dump_doc(config);
  }
  each_of(doc, "observations", [&](const DocJson& o) {
    // Older documents have only the unitless key.
    auto psi = real_of(member(o, "psi_some_avg10_percent"));
    if (!psi) psi = real_of(member(o, "psi_some_avg10"));
    pm.observations.push_back(
        {real_of(member(o, "t")).value_or(0), count_of(member(o, "used_bytes")),
         count_of(member(o, "limit_bytes")), count_of(member(o, "available_bytes")),
         text_of(member(o, "level")).value_or(""), psi});
  });
  each_of(doc, "loop_forecasts",
          [&](const DocJson& f) { pm.loop_forecasts.push_back(loop_forecast_of(f)); });
  pm.dev_shm = shm_of(member(doc, "dev_shm"));
  each_of(doc, "dev_shm_events", [&](const DocJson& e) {
    pm.dev_shm_events.push_back({text_of(member(e, "timestamp")),
                                 text_of(member(e, "event")).value_or(""),
                                 text_of(member(e, "message"))});
  });
  pm.summary = text_of(member(doc, "summary"));
  pm.id = signed_of(member(doc, "id"));
  return pm;
}

std::string config_json(const config::MonitorConfig& c) {
  const auto& t = c.watch.thresholds;
  DocJson j;
  j["thresholds"] = {{"acceptable_percent", t.acceptable_percent},
                     {"warning_percent", t.warning_percent},
                     {"severe_percent", t.severe_percent},
                     {"danger_available_bytes", t.danger_available_bytes},
                     {"margin_percent", c.watch.level_margin_percent}};
  // Each renamed key (docs/naming.md) is followed by its old spelling for one release.
  j["monitor"] = {{"interval_seconds", c.interval.count()},
                  {"interval_s", c.interval.count()},
                  {"watch_ms", c.watch_interval.count()},
                  {"top", c.top}};
  j["pressure"] = {{"some_avg10_percent", c.watch.pressure_some_avg10},
                   {"some_avg10", c.watch.pressure_some_avg10},
                   {"full_avg10_percent", c.watch.pressure_full_avg10},
                   {"full_avg10", c.watch.pressure_full_avg10}};
  j["hooks"] = {{"on_alert", nullable(c.on_alert)},
                {"timeout_seconds", c.alert_timeout.count()},
                {"timeout_s", c.alert_timeout.count()}};
  j["cleanup"] = {{"auto_level", c.auto_cleanup ? DocJson(analysis::to_string(*c.auto_cleanup))
                                                : DocJson(nullptr)},
                  {"cooldown_seconds", c.cleanup_cooldown.count()},
                  {"cooldown_s", c.cleanup_cooldown.count()}};
  j["record"] = {{"full_seconds", c.record.full.count()},
                 {"full_s", c.record.full.count()},
                 {"ten_second_seconds", c.record.ten_second.count()},
                 {"ten_second_s", c.record.ten_second.count()},
                 {"minute_seconds", c.record.minute.count()},
                 {"minute_s", c.record.minute.count()},
                 {"max_bytes", c.record.max_bytes},
                 {"processes", c.record.processes}};
  return dump_doc(j);
}

std::string render_postmortem_json(const analysis::Postmortem& pm) {
  return postmortem_to_json(pm, 2) + "\n";
}

std::string render_postmortem_list(const std::vector<PostmortemEntry>& entries, bool json) {
  if (json) {
    DocJson out = DocJson::array();
    for (const auto& e : entries) {
      out.push_back(
          {{"id", e.id}, {"at", rfc3339(e.at)}, {"kind", e.kind}, {"summary", e.summary}});
    }
    return dump_doc(out) + "\n";
  }
  if (entries.empty()) return "No post-mortems recorded.\n";
  std::string out;
  for (const auto& e : entries) {
    const auto summary = DocJson::parse(dump_doc(DocJson(e.summary))).get<std::string>();
    out += fmt::format("{:>5}  {}  {:<8}  {}\n", e.id, rfc3339(e.at), e.kind, summary);
  }
  return out;
}

}  // namespace memopt::record
