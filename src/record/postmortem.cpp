#include "memopt/record/postmortem.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "memopt/analysis/history_sizing.hpp"
#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/timestamp.hpp"
#include "memopt/units.hpp"
#include "render/json_document.hpp"

namespace memopt::record {

namespace {

using Json = nlohmann::ordered_json;
using analysis::HistorySizingOptions;
using render::or_null;
constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * kMiB;

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

/// What a process weighs in a sample: PSS, else RSS.
std::uint64_t weight(const ProcessRow& p) { return p.pss_bytes.value_or(p.rss_bytes); }

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

/// A growth rate in the unit that suits it: 100 MiB/s, not 6,000 MiB/min.
std::string rate(double bytes_per_second) {
  const double per_s = bytes_per_second / kMiB;
  if (std::fabs(per_s) >= 1.0) return fmt::format("{:.1f} MiB/s", per_s);
  if (std::fabs(per_s * 60) >= 1.0) return fmt::format("{:.1f} MiB/min", per_s * 60);
  return fmt::format("{:.2f} MiB/h", per_s * 3600);
}

std::string how_long(double seconds) {
  if (seconds < 120) return fmt::format("{:.0f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

using Points = std::vector<std::pair<double, double>>;  // (t, bytes), in time order

/// Where a series actually grew: the rise that ends at the first point near its top, back to
/// where it stopped being lower. Idle time before the rise and a plateau after it are left out,
/// so the rate is the rate while growing; the growth is never negative.
struct Ramp {
  double from_bytes = 0;
  double to_bytes = 0;
  double start_t = 0;
  double end_t = 0;
  int steps = 0;  ///< sample intervals in the ramp (1: one jump, the rate is a lower bound)
  [[nodiscard]] double growth() const { return to_bytes - from_bytes; }
  [[nodiscard]] double seconds() const { return end_t - start_t; }
  [[nodiscard]] std::optional<double> rate() const {
    if (growth() <= 0 || seconds() <= 0) return std::nullopt;
    return growth() / seconds();
  }
};

std::optional<Ramp> find_ramp(const Points& p) {
  if (p.empty()) return std::nullopt;
  std::size_t top = 0;
  for (std::size_t i = 0; i < p.size(); ++i)
    if (p[i].second > p[top].second) top = i;
  std::size_t low = 0;
  for (std::size_t i = 0; i <= top; ++i)
    if (p[i].second <= p[low].second) low = i;
  const double rise = p[top].second - p[low].second;
  // Within this of the top is "there": jitter of a few pages is not growth.
  const double near = std::clamp(0.02 * rise, 256.0 * 1024, 8.0 * kMiB);
  Ramp r;
  if (rise <= near) {
    r.from_bytes = r.to_bytes = p[top].second;
    r.start_t = r.end_t = p[top].first;
    return r;
  }
  std::size_t end = top;
  for (std::size_t i = low; i <= top; ++i) {
    if (p[i].second >= p[top].second - near) {
      end = i;
      break;
    }
  }
  // Back from there while it was lower: a stretch longer than `idle` with nothing lower ends
  // the rise (a leak that grows in chunks keeps its pauses; idle minutes before do not count).
  std::vector<double> steps;
  for (std::size_t i = 1; i < p.size(); ++i) steps.push_back(p[i].first - p[i - 1].first);
  std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2),
                   steps.end());
  const double idle = std::max(10.0, steps.empty() ? 0.0 : 2.5 * steps[steps.size() / 2]);
  const double lower = std::clamp(0.01 * rise, 64.0 * 1024, 2.0 * kMiB);
  std::size_t start = end;
  for (std::size_t i = end; i-- > 0;) {
    if (p[i].second < p[start].second - lower) {
      start = i;
    } else if (p[start].first - p[i].first > idle) {
      break;
    }
  }
  r.from_bytes = p[start].second;
  r.to_bytes = p[end].second;
  r.start_t = p[start].first;
  r.end_t = p[end].first;
  r.steps = static_cast<int>(end - start);
  return r;
}

Json ramp_json(const Ramp& r) {
  return {{"from_bytes", r.from_bytes},
          {"to_bytes", r.to_bytes},
          {"start_t", r.start_t},
          {"end_t", r.end_t},
          {"seconds", r.seconds()},
          {"steps", r.steps},
          {"bytes_per_second", or_null(r.rate())}};
}

/// A ramp's rate in words; one jump between two samples is only a lower bound.
std::string rate_text(const Ramp& r) {
  if (!r.rate()) return "no growth";
  return fmt::format("{}{}", r.steps <= 1 ? "at least " : "", rate(*r.rate()));
}

std::string class_words(const std::string& cls) {
  if (cls == "unbounded_growth") return "unbounded growth";
  if (cls == "spike_between_samples") return "a spike between samples";
  if (cls == "many_processes") return "many processes together";
  if (cls == "bounded_peak") return "a bounded peak";
  return "unknown";
}

/// Up in whole MiB, as the sizing code rounds (recommend --from-history).
std::uint64_t round_up_mib(double bytes) {
  return static_cast<std::uint64_t>(std::ceil(bytes / kMiB)) * static_cast<std::uint64_t>(kMiB);
}

/// JSON text whatever bytes its strings hold: invalid UTF-8 (a cgroup or process name is any
/// bytes) becomes U+FFFD instead of nlohmann's type_error.316.
std::string dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

/// `text` with invalid UTF-8 replaced by U+FFFD.
std::string valid_utf8(const std::string& text) {
  return Json::parse(dump(Json(text))).get<std::string>();
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
  return dump(j);
}

Postmortem build_postmortem(const PostmortemInput& in) {
  const auto at = in.event.at;
  const bool kill = in.kind == "oom_kill";
  const HistorySizingOptions sizing;
  Json doc;
  doc["schema"] = "memopt.postmortem/1";
  doc["kind"] = in.kind;
  doc["at"] = rfc3339(at);
  doc["started"] = rfc3339(in.started);
  doc["target"] = in.target;
  doc["event"] = in.event.message;

  // This episode starts after an earlier OOM kill in the window (the cgroup's counter rose
  // before this event): what grew then, and who died of it, is the earlier post-mortem's story.
  std::optional<TimePoint> previous_kill;
  {
    std::optional<std::uint64_t> counter;
    for (const auto& o : in.observations) {
      if (!o.oom_kills) continue;
      // The rows are stored in whole milliseconds: this kill's own row may be up to 1 ms early.
      if (counter && *o.oom_kills > *counter && o.at + std::chrono::milliseconds(2) <= at)
        previous_kill = o.at;
      counter = o.oom_kills;
    }
  }
  const auto in_episode = [&](TimePoint t) { return !previous_kill || t >= *previous_kill; };

  // The memory curve (the whole window, for the chart), and this episode's peak.
  Json observations = Json::array();
  const ObservationRow* peak = nullptr;
  std::optional<std::uint64_t> limit;
  Points used_points;
  for (const auto& o : in.observations) {
    observations.push_back({{"t", seconds_between(at, o.at)},
                            {"used_bytes", or_null(o.used_bytes)},
                            {"limit_bytes", or_null(o.limit_bytes)},
                            {"available_bytes", or_null(o.available_bytes)},
                            {"level", analysis::to_string(o.level)},
                            {"psi_some_avg10", or_null(o.pressure_some_avg10)}});
    if (o.limit_bytes) limit = o.limit_bytes;
    if (!o.used_bytes || !in_episode(o.at)) continue;
    used_points.emplace_back(seconds_between(at, o.at), static_cast<double>(*o.used_bytes));
    if (peak == nullptr || *o.used_bytes > *peak->used_bytes) peak = &o;
  }
  doc["limit_bytes"] = or_null(limit);
  doc["window_seconds"] =
      in.observations.empty() ? 0.0 : seconds_between(in.observations.front().at, at);
  doc["episode_start_t"] =
      previous_kill
          ? Json(seconds_between(at, *previous_kill))
          : Json(in.observations.empty() ? 0.0 : seconds_between(at, in.observations.front().at));
  doc["previous_kill_t"] =
      previous_kill ? Json(seconds_between(at, *previous_kill)) : Json(nullptr);
  const auto cgroup_ramp = find_ramp(used_points);
  doc["peak"] = peak != nullptr
                    ? Json{{"t", seconds_between(at, peak->at)}, {"used_bytes", *peak->used_bytes}}
                    : Json(nullptr);
  doc["growth"] =
      cgroup_ramp && cgroup_ramp->growth() > 0 ? ramp_json(*cgroup_ramp) : Json(nullptr);

  // The full sample at this episode's peak (the largest), and each of its processes' series
  // over the episode: every process here was alive in this episode.
  const SampleRow* peak_sample = nullptr;
  const SampleRow* last_sample = nullptr;
  for (const auto& s : in.samples) {
    if (!in_episode(s.at)) continue;
    last_sample = &s;
    if (s.used_bytes && (peak_sample == nullptr || *s.used_bytes >= *peak_sample->used_bytes))
      peak_sample = &s;
  }
  if (peak_sample == nullptr) peak_sample = last_sample;
  std::uint64_t observed_peak = peak != nullptr ? *peak->used_bytes : 0;
  if (peak_sample != nullptr && peak_sample->used_bytes)
    observed_peak = std::max(observed_peak, *peak_sample->used_bytes);
  std::vector<int> pids;
  if (peak_sample != nullptr) {
    for (const auto& p : peak_sample->processes) pids.push_back(p.pid);
  }
  for (const auto& v : in.event.victims) {
    if (std::find(pids.begin(), pids.end(), v.pid) == pids.end()) pids.push_back(v.pid);
  }
  std::vector<Json> processes;
  std::map<int, Json> by_pid;
  double sum_at_peak = 0;
  double largest_at_peak = 0;
  for (const int pid : pids) {
    Json series = Json::array();
    Points points;
    std::string name;
    const ProcessRow* at_peak = nullptr;
    const ProcessRow* last = nullptr;
    for (const auto& s : in.samples) {
      if (!in_episode(s.at)) continue;
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
    if (at_peak != nullptr) {
      sum_at_peak += static_cast<double>(weight(*at_peak));
      largest_at_peak = std::max(largest_at_peak, static_cast<double>(weight(*at_peak)));
    }
    const auto r = *find_ramp(points);
    Json j;
    j["pid"] = pid;
    j["name"] = name;
    j["first_t"] = points.front().first;
    j["last_t"] = points.back().first;
    j["first_bytes"] = points.front().second;
    j["last_bytes"] = points.back().second;
    // Growth over the active window only: from where it last sat low to where it got high.
    j["growth_bytes"] = r.growth();
    j["growth_from_bytes"] = r.from_bytes;
    j["growth_to_bytes"] = r.to_bytes;
    j["growth_start_t"] = r.start_t;
    j["growth_seconds"] = r.seconds();
    j["bytes_per_second"] = or_null(r.rate());
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
  double total_growth = 0;
  for (const auto& p : processes) total_growth += p["growth_bytes"].get<double>();

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
      for (const char* key : {"growth_bytes", "growth_from_bytes", "growth_to_bytes",
                              "growth_seconds", "bytes_per_second", "first_bytes", "last_bytes"})
        j[key] = it->second[key];
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

  // The kernel's own peak for the cgroup: nothing between two samples escapes it. It counts
  // page cache; the cache still there now is set aside to compare it with the working set.
  Json files = Json::object();
  for (const auto& [name, text] : in.cgroup_files) files[name] = parse_flat(text);
  std::optional<double> kernel_peak;
  std::string kernel_peak_file;
  for (const char* name : {"memory.peak", "memory.max_usage_in_bytes"}) {
    if (files.contains(name) && files[name].contains("value") && files[name]["value"].is_number()) {
      kernel_peak = files[name]["value"].get<double>();
      kernel_peak_file = name;
    }
  }
  double inactive_file = 0;
  if (files.contains("memory.stat")) {
    for (const char* key : {"total_inactive_file", "inactive_file"}) {
      if (files["memory.stat"].contains(key) && files["memory.stat"][key].is_number()) {
        inactive_file = files["memory.stat"][key].get<double>();
        break;
      }
    }
  }

  // The classification.
  const double seen = static_cast<double>(observed_peak);
  const bool growing_to_the_end =
      cgroup_ramp && cgroup_ramp->steps >= 4 && cgroup_ramp->seconds() >= 5 &&
      cgroup_ramp->growth() >= 16 * kMiB &&
      -cgroup_ramp->end_t <= std::max(10.0, 0.25 * cgroup_ramp->seconds());
  const double rate_now = growing_to_the_end ? cgroup_ramp->rate().value_or(0) : 0;
  double unseen = 0;
  if (kernel_peak && peak != nullptr) {
    const double kernel_ws = *kernel_peak - std::min(inactive_file, *kernel_peak);
    const double margin = std::max(32 * kMiB, 0.05 * kernel_ws);
    // Growth still going on explains what came after the last observation at the same rate.
    double since_last = 0;
    for (const auto& o : in.observations) {
      if (o.used_bytes && o.at + std::chrono::milliseconds(2) <= at)
        since_last = seconds_between(o.at, at);
    }
    const double explained = rate_now * since_last;
    if (kernel_ws - seen > margin + explained) unseen = kernel_ws - seen;
  }
  Json growers = Json::array();
  for (const auto& p : processes) {
    const double g = p["growth_bytes"].get<double>();
    if (g <= 0 || g < 0.1 * total_growth) continue;
    if (growers.size() == 3) break;
    growers.push_back({{"pid", p["pid"]},
                       {"name", p["name"]},
                       {"growth_bytes", g},
                       {"bytes_per_second", p["bytes_per_second"]}});
  }
  const std::size_t at_peak_count =
      peak_sample != nullptr ? std::count_if(processes.begin(), processes.end(),
                                             [](const Json& p) { return !p["at_peak"].is_null(); })
                             : 0;
  const bool spread = at_peak_count >= 2 &&
                      (total_growth >= 32 * kMiB
                           ? processes.front()["growth_bytes"].get<double>() < 0.5 * total_growth
                           : largest_at_peak < 0.5 * sum_at_peak);
  std::string cls = "bounded_peak";
  if (peak == nullptr) {
    cls = "unknown";
  } else if (unseen > 0) {
    cls = "spike_between_samples";
  } else if (growing_to_the_end) {
    cls = "unbounded_growth";
  } else if (spread) {
    cls = "many_processes";
  }
  const std::string before = kill ? "kill" : "end of the episode";
  const auto who = [&](const Json& list) {
    std::string out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      out += fmt::format("{}{} (pid {}, +{})",
                         i == 0                 ? ""
                         : i + 1 == list.size() ? " and "
                                                : ", ",
                         list[i]["name"].get<std::string>(), list[i]["pid"].get<int>(),
                         mib(list[i]["growth_bytes"].get<double>()));
    }
    return out;
  };
  std::string description;
  if (cls == "unknown") {
    description = "unknown: no memory figures were recorded in the minutes before";
  } else if (cls == "spike_between_samples") {
    description = fmt::format(
        "a spike between samples: the highest memory sampled was {}, but the kernel's own peak "
        "for the cgroup ({}) is {}{}: {} more came and went between two samples",
        mib(seen), kernel_peak_file, mib(*kernel_peak),
        inactive_file > 0 ? fmt::format(" ({} without the page cache there now)",
                                        mib(*kernel_peak - std::min(inactive_file, *kernel_peak)))
                          : std::string(),
        mib(unseen));
    if (!kill)
      description +=
          " (the kernel's peak counts from the cgroup's start or its last reset, so the spike "
          "may be older than these minutes)";
  } else if (cls == "unbounded_growth") {
    description = fmt::format(
        "unbounded growth: memory grew steadily from {} to {} over {} up to the {} ({}), "
        "with no sign of levelling off",
        mib(cgroup_ramp->from_bytes), mib(cgroup_ramp->to_bytes), how_long(cgroup_ramp->seconds()),
        before, rate(rate_now));
    if (!growers.empty()) description += fmt::format("; it was {}", who(growers));
  } else if (cls == "many_processes") {
    description = fmt::format("many processes together: {} processes held {} at the peak sample",
                              at_peak_count, mib(sum_at_peak));
    if (total_growth >= 32 * kMiB) {
      description += fmt::format("; no one of them did most of the growth: {}", who(growers));
    } else {
      description += fmt::format("; the largest held only {}", mib(largest_at_peak));
    }
  } else {
    description = fmt::format("a bounded peak of {}", mib(seen));
    if (kernel_peak)
      description += fmt::format(" (the kernel's own peak for the cgroup, {}: {})",
                                 kernel_peak_file, mib(*kernel_peak));
    if (cgroup_ramp && cgroup_ramp->growth() > 0)
      description += fmt::format(", reached by growing from {} to {} in {} ({})",
                                 mib(cgroup_ramp->from_bytes), mib(cgroup_ramp->to_bytes),
                                 how_long(cgroup_ramp->seconds()), rate_text(*cgroup_ramp));
  }
  Json classification = {
      {"class", cls},
      {"description", description},
      {"observed_peak_bytes", peak != nullptr ? Json(observed_peak) : Json(nullptr)},
      {"kernel_peak_bytes", kernel_peak ? Json(*kernel_peak) : Json(nullptr)},
      {"kernel_peak_file", kernel_peak ? Json(kernel_peak_file) : Json(nullptr)},
      {"unseen_bytes", unseen},
      {"processes_at_peak", at_peak_count},
      {"processes_sum_bytes", sum_at_peak},
      {"growers", growers}};

  // What would have prevented it. Never a limit at or below the one that failed, never one
  // for growth without bound (any limit only delays that kill).
  Json prevention = nullptr;
  if (cls == "unbounded_growth") {
    const double per_gib = rate_now > 0 ? static_cast<double>(kGiB) / rate_now : 0;
    prevention = {
        {"limit_bytes", nullptr},
        {"bytes_per_second", rate_now},
        {"seconds_per_gib", per_gib},
        {"reason", fmt::format("{} grew without bound at {}: a larger limit only delays the "
                               "{} by {} per GiB; stop the growth (a leak? `memopt report "
                               "--pid PID --leaks` asks a process that serves its leak check)",
                               growers.empty() ? std::string("memory") : who(growers),
                               rate(rate_now), kill ? "kill" : "danger", how_long(per_gib))}};
    if (!growers.empty()) prevention["grower"] = growers[0];
  } else if (cls != "unknown") {
    double basis = 0;
    double needed = 0;
    std::string reason;
    if (kill) {
      // What the cgroup demonstrably needed: the peak sampled plus what the victims still took
      // after their last sample, the kernel's own peak, the limit it reached.
      basis = seen + unsampled;
      std::string what = unsampled > 0 ? fmt::format(
                                             "the peak sampled plus the {} the victim still took "
                                             "after its last sample (kernel log anon-rss)",
                                             mib(unsampled))
                                       : "the peak sampled";
      if (kernel_peak && *kernel_peak > basis) {
        basis = *kernel_peak;
        what = fmt::format("the kernel's peak for the cgroup ({})", kernel_peak_file);
      }
      if (limit && static_cast<double>(*limit) > basis) {
        basis = static_cast<double>(*limit);
        what = "the limit the cgroup reached";
      }
      if (cls == "many_processes") what += fmt::format(", the sum of {} processes", at_peak_count);
      needed = std::max(basis + static_cast<double>(sizing.oom_min_bump_bytes),
                        basis * sizing.oom_bump_ratio);
      reason = fmt::format(
          "{} at the kill ({}) with headroom: the larger of +{} and ×{:.1f}, as `recommend "
          "--from-history` sizes after a kill",
          mib(basis), what, mib(static_cast<double>(sizing.oom_min_bump_bytes)),
          sizing.oom_bump_ratio);
    } else {
      double warning = 80;
      if (!in.config_json.empty()) {
        const auto config = Json::parse(in.config_json, nullptr, false);
        if (config.is_object() && config.contains("thresholds") &&
            config["thresholds"].value("warning_percent", 0.0) > 0)
          warning = config["thresholds"]["warning_percent"].get<double>();
      }
      basis =
          std::max(seen, kernel_peak ? *kernel_peak - std::min(inactive_file, *kernel_peak) : 0.0);
      needed = basis * 100.0 / warning;
      reason =
          fmt::format("keeps the peak of {} below the warning level ({:g}%)", mib(basis), warning);
    }
    // Strictly above the limit that failed and the kernel's own peak.
    if (limit)
      needed = std::max(
          needed, static_cast<double>(*limit) + static_cast<double>(sizing.oom_min_bump_bytes));
    if (kernel_peak) needed = std::max(needed, *kernel_peak + static_cast<double>(kMiB));
    prevention = {
        {"limit_bytes", round_up_mib(needed)}, {"basis_bytes", basis}, {"reason", reason}};
  }
  doc["classification"] = std::move(classification);
  doc["prevention"] = prevention;
  Json process_list = Json::array();
  for (auto& p : processes) process_list.push_back(std::move(p));
  doc["processes"] = std::move(process_list);
  doc["gpus_at_peak"] = Json::array();
  if (peak_sample != nullptr) {
    for (const auto& g : peak_sample->gpus) {
      doc["gpus_at_peak"].push_back({{"index", g.index},
                                     {"name", g.name},
                                     {"used_bytes", g.used_bytes},
                                     {"total_bytes", g.total_bytes}});
    }
  }
  doc["cgroup_files"] = std::move(files);
  doc["config"] =
      in.config_json.empty() ? Json(nullptr) : Json::parse(in.config_json, nullptr, false);
  if (doc["config"].is_discarded()) doc["config"] = nullptr;
  doc["observations"] = std::move(observations);
  // What the target's own loops forecast before it (loop_forecast events): the item, the growth
  // per item and the fix in that process's words. Lines that do not read are left out.
  Json forecasts = Json::array();
  for (const auto& line : in.loop_forecasts) {
    auto e = Json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("event") || e["event"] != "loop_forecast")
      continue;
    Json f = Json::object();
    for (const char* key : {"timestamp", "pid", "name", "bytes_per_item", "item", "limit_item",
                            "total", "seconds_left", "limit_bytes", "forecast_at", "message"}) {
      f[key] = e.contains(key) ? e[key] : Json(nullptr);
    }
    forecasts.push_back(std::move(f));
  }
  doc["loop_forecasts"] = std::move(forecasts);
  // /dev/shm at the last full sample (a bus error's cause, or memory the cgroup was charged for
  // that no process held), and the window's shm_filling and shm_sweep events.
  doc["dev_shm"] = nullptr;
  if (in.dev_shm) {
    const auto& shm = *in.dev_shm;
    Json largest = Json::array();
    for (std::size_t i = 0; i < shm.files.size() && i < 5; ++i) {
      const auto& f = shm.files[i];
      largest.push_back({{"name", printable(f.name)},
                         {"allocated_bytes", f.allocated_bytes},
                         {"owner_pid", or_null(f.owner_pid)},
                         {"owner_alive", or_null(f.owner_alive)}});
    }
    doc["dev_shm"] = {{"path", printable(shm.path)},        {"size_bytes", shm.size_bytes},
                      {"used_bytes", shm.used_bytes},       {"file_count", shm.file_count},
                      {"orphan_bytes", shm.orphan_bytes},   {"orphan_files", shm.orphan_files},
                      {"owners_judged", shm.owners_judged}, {"largest_files", std::move(largest)}};
  }
  Json shm_events = Json::array();
  for (const auto& line : in.shm_events) {
    auto e = Json::parse(line, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("event") ||
        (e["event"] != "shm_filling" && e["event"] != "shm_sweep"))
      continue;
    shm_events.push_back({{"timestamp", e.contains("timestamp") ? e["timestamp"] : Json(nullptr)},
                          {"event", e["event"]},
                          {"message", e.contains("message") ? e["message"] : Json(nullptr)}});
  }
  doc["dev_shm_events"] = std::move(shm_events);

  Postmortem out;
  if (kill) {
    out.summary = in.event.victims.empty()
                      ? fmt::format("OOM kill in {} (victim not in the kernel log)", in.target)
                      : fmt::format("OOM kill of {} (pid {}) in {}", in.event.victims.back().name,
                                    in.event.victims.back().pid, in.target);
  } else {
    out.summary = fmt::format("danger for {} in {}",
                              how_long(std::max(0.0, seconds_between(in.started, at))), in.target);
  }
  if (peak != nullptr) out.summary += fmt::format(", peak {}", mib(seen));
  if (cls != "unknown") out.summary += fmt::format(": {}", class_words(cls));
  // Names (a cgroup's, a process's) need not be UTF-8; the document and summary are.
  out.summary = valid_utf8(out.summary);
  doc["summary"] = out.summary;
  out.json = dump(doc);
  return out;
}

std::string render_postmortem_json(const std::string& json) {
  return dump(Json::parse(json), 2) + "\n";
}

std::string render_postmortem_text(const std::string& text) {
  // Not const: a document from an older memopt lacks some keys, and a missing key reads as null.
  auto doc = Json::parse(text);
  std::string out;
  const auto bytes = [](const Json& v) {
    return v.is_number() ? mib(v.get<double>()) : std::string("unknown");
  };
  const auto str = [](const Json& v) { return v.is_string() ? v.get<std::string>() : dump(v); };
  const auto num = [](const Json& v) { return v.is_number() ? v.get<double>() : 0.0; };
  const bool kill = doc["kind"] == "oom_kill";
  out += fmt::format("Post-mortem {}: {} at {} ({})\n",
                     doc.contains("id") ? doc["id"].dump() : std::string("?"),
                     kill ? "OOM kill" : "danger episode", str(doc["at"]), str(doc["target"]));
  if (kill) {
    if (doc["victims"].empty()) {
      out +=
          "Killed: the kernel log did not say who (memopt could not read it, or the kill was "
          "not in this cgroup).\n";
    }
    for (auto& v : doc["victims"]) {
      out += fmt::format("Killed: {} (pid {}) by the kernel's OOM killer", str(v["name"]),
                         str(v["pid"]));
      if (!v["anon_rss_bytes"].is_null())
        out += fmt::format(", holding {} of anonymous memory", bytes(v["anon_rss_bytes"]));
      out += ".\n";
      if (v["sampled"].is_boolean() && v["sampled"].get<bool>()) {
        if (num(v["growth_bytes"]) > 0) {
          out +=
              fmt::format("  It grew from {} to {} in the samples before the kill (+{} in {}{}).\n",
                          bytes(v["growth_from_bytes"]), bytes(v["growth_to_bytes"]),
                          bytes(v["growth_bytes"]), how_long(num(v["growth_seconds"])),
                          v["bytes_per_second"].is_number()
                              ? fmt::format(", {}", rate(num(v["bytes_per_second"])))
                              : std::string());
        } else {
          out += fmt::format("  It did not grow in the samples before the kill ({} at its last).\n",
                             bytes(v["last_bytes"]));
        }
      }
    }
  } else {
    out += fmt::format("Danger: available memory fell below the danger mark from {} to {}.\n",
                       str(doc["started"]), str(doc["at"]));
  }
  if (!doc["previous_kill_t"].is_null()) {
    out += fmt::format("An earlier OOM kill came {} before: this episode is counted from there.\n",
                       how_long(-num(doc["previous_kill_t"])));
  }
  auto& c = doc["classification"];
  if (c.is_object() && c["description"].is_string())
    out += fmt::format("What happened: {}.\n", str(c["description"]));
  if (!doc["growth"].is_null()) {
    auto& g = doc["growth"];
    out +=
        fmt::format("Memory used grew from {} to {} in {}, ending {} before the {} (limit {}){}.\n",
                    bytes(g["from_bytes"]), bytes(g["to_bytes"]), how_long(num(g["seconds"])),
                    how_long(-num(g["end_t"])), kill ? "kill" : "end", bytes(doc["limit_bytes"]),
                    g["bytes_per_second"].is_number()
                        ? fmt::format(", {}{}", num(g["steps"]) <= 1 ? "at least " : "",
                                      rate(num(g["bytes_per_second"])))
                        : std::string());
  } else if (doc["peak"].is_null()) {
    out += "No memory figures were recorded in the minutes before.\n";
  } else {
    out += fmt::format("Memory used did not grow: its peak was {} (limit {}).\n",
                       bytes(doc["peak"]["used_bytes"]), bytes(doc["limit_bytes"]));
  }
  if (!doc["processes"].empty()) {
    auto& p = doc["processes"][0];
    if (num(p["growth_bytes"]) > 0) {
      out += fmt::format(
          "What grew most: {} (pid {}), +{} in {}{}.\n", str(p["name"]), str(p["pid"]),
          bytes(p["growth_bytes"]), how_long(num(p["growth_seconds"])),
          p["bytes_per_second"].is_number() ? fmt::format(" ({})", rate(num(p["bytes_per_second"])))
                                            : std::string());
    }
    out += "Top processes at the peak (PSS; growth in this episode):\n";
    for (auto& q : doc["processes"]) {
      auto& at_peak = q["at_peak"];
      out += fmt::format(
          "  {:>7}  {:<16} {:>10}  +{}\n", str(q["pid"]), str(q["name"]),
          at_peak.is_null()
              ? bytes(q["last_bytes"])
              : bytes(at_peak["pss_bytes"].is_null() ? at_peak["rss_bytes"] : at_peak["pss_bytes"]),
          bytes(q["growth_bytes"]));
    }
  }
  for (auto& f : doc["loop_forecasts"]) {
    out += fmt::format("Forecast before it, at {}: {}\n", str(f["timestamp"]), str(f["message"]));
  }
  if (auto& shm = doc["dev_shm"]; shm.is_object()) {
    out += fmt::format("/dev/shm at the last sample: {} used of {}, {} file(s)",
                       bytes(shm["used_bytes"]), bytes(shm["size_bytes"]), str(shm["file_count"]));
    out += shm["orphan_files"].is_number() && shm["orphan_files"].get<double>() > 0
               ? fmt::format("; orphans {} in {} file(s) (owner dead, held by no process)\n",
                             bytes(shm["orphan_bytes"]), str(shm["orphan_files"]))
               : std::string("\n");
  }
  for (auto& e : doc["dev_shm_events"]) {
    out += fmt::format("/dev/shm before it, at {}: {}\n", str(e["timestamp"]), str(e["message"]));
  }
  if (!doc["prevention"].is_null()) {
    auto& p = doc["prevention"];
    if (p["limit_bytes"].is_null()) {
      out += fmt::format("What would have prevented it: no larger limit. {}.\n", str(p["reason"]));
    } else {
      out += fmt::format("What would have prevented it: a limit of at least {} ({}){}.\n",
                         bytes(p["limit_bytes"]), str(p["reason"]),
                         doc["limit_bytes"].is_null()
                             ? std::string()
                             : fmt::format("; the limit was {}", bytes(doc["limit_bytes"])));
    }
  }
  for (const auto& [name, values] : doc["cgroup_files"].items()) {
    if (name == "memory.stat") continue;
    // A file of one number: bytes where the file holds bytes, else a count.
    const bool in_bytes = name == "memory.peak" || name.ends_with("_in_bytes");
    std::string line;
    for (const auto& [k, v] : values.items()) {
      const std::string shown = v.is_number() && in_bytes ? mib(v.get<double>()) : str(v);
      line += k == "value" ? shown : fmt::format("{}{} {}", line.empty() ? "" : ", ", k, shown);
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
          {{"id", e.id}, {"at", rfc3339(e.at)}, {"kind", e.kind}, {"summary", e.summary}});
    }
    return dump(out) + "\n";
  }
  if (entries.empty()) return "No post-mortems recorded.\n";
  std::string out;
  for (const auto& e : entries) {
    out +=
        fmt::format("{:>5}  {}  {:<8}  {}\n", e.id, rfc3339(e.at), e.kind, valid_utf8(e.summary));
  }
  return out;
}

}  // namespace memopt::record
