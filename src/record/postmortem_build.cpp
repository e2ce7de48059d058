// The post-mortem's analysis: the recorder's rows of the minutes before an OOM kill or a danger
// episode in, an analysis::Postmortem out. No JSON is written here (postmortem_json.cpp does).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "memopt/analysis/history_sizing.hpp"
#include "memopt/printable.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/timestamp.hpp"
#include "record/postmortem_words.hpp"

namespace memopt::record {

namespace {

using analysis::HistorySizingOptions;
using detail::how_long;
using detail::mib;
using detail::rate;
using InputJson = nlohmann::ordered_json;
constexpr double kMiB = detail::kPostmortemMiB;
constexpr double kGiB = 1024.0 * kMiB;

double seconds_between(TimePoint from, TimePoint to) {
  return std::chrono::duration<double>(to - from).count();
}

/// What a process weighs in a sample: PSS, else RSS.
std::uint64_t weight(const ProcessRow& p) { return p.pss_bytes.value_or(p.rss_bytes); }

/// "key value" lines (memory.stat, memory.events, oom_control) as numbers where they are; a
/// file of one number is its "value". A key seen twice keeps its first place and last value.
analysis::PostmortemCgroupFile parse_flat(const std::string& name, const std::string& text) {
  analysis::PostmortemCgroupFile out;
  out.name = name;
  const auto put = [&out](std::string key, analysis::PostmortemFileValue value) {
    for (auto& [k, v] : out.values) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    out.values.emplace_back(std::move(key), std::move(value));
  };
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
        if (ec == std::errc() && end == line.data() + line.size()) put("value", v);
      }
      continue;
    }
    std::string key(line.substr(0, sp));
    const auto value = line.substr(sp + 1);
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec == std::errc() && end == value.data() + value.size()) {
      put(std::move(key), v);
    } else {
      put(std::move(key), std::string(value));
    }
  }
  return out;
}

/// A file's one number, or a key's, when it is one.
std::optional<double> file_number(const std::vector<analysis::PostmortemCgroupFile>& files,
                                  const std::string& name, const std::string& key) {
  for (const auto& f : files) {
    if (f.name != name) continue;
    for (const auto& [k, v] : f.values) {
      if (k == key) {
        if (const auto* n = std::get_if<std::uint64_t>(&v)) return static_cast<double>(*n);
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
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

analysis::PostmortemRamp to_ramp(const Ramp& r) {
  return {r.from_bytes, r.to_bytes, r.start_t, r.end_t, r.seconds(), r.steps, r.rate()};
}

/// A ramp's rate in words; one jump between two samples is only a lower bound.
std::string rate_text(const Ramp& r) {
  if (!r.rate()) return "no growth";
  return fmt::format("{}{}", r.steps <= 1 ? "at least " : "", rate(*r.rate()));
}

std::string summary_class_words(const std::string& cls) {
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

/// `text` with invalid UTF-8 replaced by U+FFFD.
std::string valid_utf8_text(const std::string& text) {
  return InputJson::parse(InputJson(text).dump(-1, ' ', false, InputJson::error_handler_t::replace))
      .get<std::string>();
}

analysis::PostmortemFigures figures_of(const ProcessRow& p) {
  return {p.rss_bytes, p.pss_bytes, p.uss_bytes, p.gpu_bytes};
}

/// A member of an event line that the monitor writes with type T; absent otherwise.
template <typename T>
std::optional<T> line_member(const InputJson& line, const char* key) {
  const auto it = line.find(key);
  if (it == line.end()) return std::nullopt;
  if constexpr (std::is_same_v<T, std::string>) {
    if (it->is_string()) return it->template get<std::string>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (it->is_number()) return it->template get<double>();
  } else if constexpr (std::is_unsigned_v<T>) {
    if (it->is_number_unsigned()) return it->template get<T>();
  } else {
    if (it->is_number_integer()) return it->template get<T>();
  }
  return std::nullopt;
}

/// The window's loop_forecast events (the monitor's JSON lines); lines that do not read are
/// left out.
std::vector<analysis::PostmortemLoopForecast> loop_forecasts_of(
    const std::vector<std::string>& lines) {
  std::vector<analysis::PostmortemLoopForecast> out;
  for (const auto& text : lines) {
    const auto e = InputJson::parse(text, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("event") || e["event"] != "loop_forecast")
      continue;
    analysis::PostmortemLoopForecast f;
    f.timestamp = line_member<std::string>(e, "timestamp");
    f.pid = line_member<std::int64_t>(e, "pid");
    f.name = line_member<std::string>(e, "name");
    f.bytes_per_item = line_member<double>(e, "bytes_per_item");
    f.item = line_member<std::uint64_t>(e, "item");
    f.limit_item = line_member<std::uint64_t>(e, "limit_item");
    f.total = line_member<std::uint64_t>(e, "total");
    f.seconds_left = line_member<double>(e, "time_left_seconds");
    if (!f.seconds_left) f.seconds_left = line_member<double>(e, "seconds_left");  // older lines
    f.limit_bytes = line_member<std::uint64_t>(e, "limit_bytes");
    f.forecast_at = line_member<std::string>(e, "forecast_at");
    f.message = line_member<std::string>(e, "message");
    out.push_back(std::move(f));
  }
  return out;
}

/// The window's shm_filling and shm_sweep events; other lines are left out.
std::vector<analysis::PostmortemShmEvent> shm_events_of(const std::vector<std::string>& lines) {
  std::vector<analysis::PostmortemShmEvent> out;
  for (const auto& text : lines) {
    const auto e = InputJson::parse(text, nullptr, false);
    if (e.is_discarded() || !e.is_object() || !e.contains("event") ||
        (e["event"] != "shm_filling" && e["event"] != "shm_sweep"))
      continue;
    out.push_back({line_member<std::string>(e, "timestamp"), e["event"].get<std::string>(),
                   line_member<std::string>(e, "message")});
  }
  return out;
}

analysis::PostmortemShm shm_of(const model::ShmLedger& shm) {
  analysis::PostmortemShm out{
      printable(shm.path), shm.size_bytes,   shm.used_bytes,    shm.file_count,
      shm.orphan_bytes,    shm.orphan_files, shm.owners_judged, {}};
  for (std::size_t i = 0; i < shm.files.size() && i < 5; ++i) {
    const auto& f = shm.files[i];
    out.largest_files.push_back({printable(f.name), f.allocated_bytes, f.owner_pid, f.owner_alive});
  }
  return out;
}

/// "a (pid 1, +10 MiB), b (pid 2, +5 MiB) and c (pid 3, +1 MiB)".
std::string who(const std::vector<analysis::PostmortemGrower>& list) {
  std::string out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    out += fmt::format("{}{} (pid {}, +{})",
                       i == 0                 ? ""
                       : i + 1 == list.size() ? " and "
                                              : ", ",
                       list[i].name, list[i].pid, mib(list[i].growth_bytes));
  }
  return out;
}

/// Where the episode starts: after an earlier OOM kill in the window (the cgroup's counter rose
/// before this event), whose growth and victims are the earlier post-mortem's story.
struct Episode {
  TimePoint at;  ///< the event's time
  std::optional<TimePoint> previous_kill;
  [[nodiscard]] bool contains(TimePoint t) const { return !previous_kill || t >= *previous_kill; }
};

/// Episode: the event's time and the earlier kill in the window, if any.
Episode find_episode(const PostmortemInput& in) {
  const auto at = in.event.at;
  std::optional<TimePoint> previous_kill;
  std::optional<std::uint64_t> counter;
  for (const auto& o : in.observations) {
    if (!o.oom_kills) continue;
    // The rows are stored in whole milliseconds: this kill's own row may be up to 1 ms early.
    if (counter && *o.oom_kills > *counter && o.at + std::chrono::milliseconds(2) <= at)
      previous_kill = o.at;
    counter = o.oom_kills;
  }
  return {at, previous_kill};
}

/// This episode's memory: its peak observation, the last limit seen and the rise to the peak.
struct Curve {
  const ObservationRow* peak = nullptr;
  std::optional<std::uint64_t> limit;
  std::optional<Ramp> ramp;
};

/// Memory curve: the whole window for the chart, this episode's peak and growth.
Curve add_memory_curve(const PostmortemInput& in, const Episode& episode,
                       analysis::Postmortem& pm) {
  const auto at = episode.at;
  const auto& previous_kill = episode.previous_kill;
  const ObservationRow* peak = nullptr;
  std::optional<std::uint64_t> limit;
  Points used_points;
  for (const auto& o : in.observations) {
    pm.observations.push_back({seconds_between(at, o.at), o.used_bytes, o.limit_bytes,
                               o.available_bytes, std::string(analysis::to_string(o.level)),
                               o.pressure_some_avg10});
    if (o.limit_bytes) limit = o.limit_bytes;
    if (!o.used_bytes || !episode.contains(o.at)) continue;
    used_points.emplace_back(seconds_between(at, o.at), static_cast<double>(*o.used_bytes));
    if (peak == nullptr || *o.used_bytes > *peak->used_bytes) peak = &o;
  }
  pm.limit_bytes = limit;
  pm.window_seconds =
      in.observations.empty() ? 0.0 : seconds_between(in.observations.front().at, at);
  pm.episode_start_t =
      previous_kill
          ? seconds_between(at, *previous_kill)
          : (in.observations.empty() ? 0.0 : seconds_between(at, in.observations.front().at));
  if (previous_kill) pm.previous_kill_t = seconds_between(at, *previous_kill);
  const auto cgroup_ramp = find_ramp(used_points);
  if (peak != nullptr)
    pm.peak = analysis::PostmortemPeak{seconds_between(at, peak->at), *peak->used_bytes};
  if (cgroup_ramp && cgroup_ramp->growth() > 0) pm.growth = to_ramp(*cgroup_ramp);
  return {peak, limit, cgroup_ramp};
}

/// Peak sample: the full sample at this episode's peak (the largest), else its last.
const SampleRow* find_peak_sample(const PostmortemInput& in, const Episode& episode) {
  const SampleRow* peak_sample = nullptr;
  const SampleRow* last_sample = nullptr;
  for (const auto& s : in.samples) {
    if (!episode.contains(s.at)) continue;
    last_sample = &s;
    if (s.used_bytes && (peak_sample == nullptr || *s.used_bytes >= *peak_sample->used_bytes))
      peak_sample = &s;
  }
  if (peak_sample == nullptr) peak_sample = last_sample;
  return peak_sample;
}

/// The kernel's victims an oom_kill event carries; none for any other event.
const std::vector<model::OomKill>& victims_of(const analysis::Event& event) {
  static const std::vector<model::OomKill> kNone;
  const auto* oom = event.payload_if<analysis::OomKills>();
  return oom != nullptr ? oom->victims : kNone;
}

/// The processes of the episode by pid, and what those in the peak sample held there together
/// and the largest of them (by weight()).
struct Processes {
  std::map<int, analysis::PostmortemProcess> by_pid;
  double sum_at_peak = 0;
  double largest_at_peak = 0;
};

/// Processes: each one in the peak sample and each victim, its series over the episode and its
/// growth, largest growth first (what grew is what the text talks about).
Processes add_processes(const PostmortemInput& in, const Episode& episode,
                        const SampleRow* peak_sample, analysis::Postmortem& pm) {
  const auto at = episode.at;
  // Every process of the peak sample was alive in this episode.
  std::vector<int> pids;
  if (peak_sample != nullptr) {
    for (const auto& p : peak_sample->processes) pids.push_back(p.pid);
  }
  for (const auto& v : victims_of(in.event)) {
    if (std::find(pids.begin(), pids.end(), v.pid) == pids.end()) pids.push_back(v.pid);
  }
  std::map<int, analysis::PostmortemProcess> by_pid;
  double sum_at_peak = 0;
  double largest_at_peak = 0;
  for (const int pid : pids) {
    analysis::PostmortemProcess process;
    Points points;
    const ProcessRow* at_peak = nullptr;
    const ProcessRow* last = nullptr;
    for (const auto& s : in.samples) {
      if (!episode.contains(s.at)) continue;
      for (const auto& p : s.processes) {
        if (p.pid != pid) continue;
        const double t = seconds_between(at, s.at);
        process.series.push_back({t, figures_of(p)});
        points.emplace_back(t, static_cast<double>(weight(p)));
        process.name = p.name;
        last = &p;
        if (&s == peak_sample) at_peak = &p;
      }
    }
    if (points.empty()) continue;
    if (at_peak != nullptr) {
      sum_at_peak += static_cast<double>(weight(*at_peak));
      largest_at_peak = std::max(largest_at_peak, static_cast<double>(weight(*at_peak)));
      process.at_peak = figures_of(*at_peak);
    }
    const auto r = *find_ramp(points);
    process.pid = pid;
    process.first_t = points.front().first;
    process.last_t = points.back().first;
    process.first_bytes = points.front().second;
    process.last_bytes = points.back().second;
    // Growth over the active window only: from where it last sat low to where it got high.
    process.growth_bytes = r.growth();
    process.growth_from_bytes = r.from_bytes;
    process.growth_to_bytes = r.to_bytes;
    process.growth_start_t = r.start_t;
    process.growth_seconds = r.seconds();
    process.bytes_per_second = r.rate();
    process.last_rss_bytes = last->rss_bytes;
    by_pid[pid] = process;
    pm.processes.push_back(std::move(process));
  }
  std::stable_sort(pm.processes.begin(), pm.processes.end(),
                   [](const auto& a, const auto& b) { return a.growth_bytes > b.growth_bytes; });
  return {std::move(by_pid), sum_at_peak, largest_at_peak};
}

/// Victims: the kernel log's, each with its sampled growth; returns what they still took after
/// their last sample (the kernel log's anon-rss beyond the last RSS sampled).
double add_victims(const PostmortemInput& in,
                   const std::map<int, analysis::PostmortemProcess>& by_pid,
                   analysis::Postmortem& pm) {
  double unsampled = 0;
  for (const auto& v : victims_of(in.event)) {
    analysis::PostmortemVictim victim{v.pid, v.name, v.anon_rss_bytes, v.task_memcg, v.line, {}};
    const auto it = by_pid.find(v.pid);
    if (it != by_pid.end()) {
      const auto& p = it->second;
      victim.sampled = analysis::PostmortemVictimGrowth{
          p.growth_bytes,     p.growth_from_bytes, p.growth_to_bytes, p.growth_seconds,
          p.bytes_per_second, p.first_bytes,       p.last_bytes};
      if (v.anon_rss_bytes) {
        unsampled += std::max(0.0, static_cast<double>(*v.anon_rss_bytes) -
                                       static_cast<double>(p.last_rss_bytes.value_or(0)));
      }
    } else if (v.anon_rss_bytes) {
      unsampled += static_cast<double>(*v.anon_rss_bytes);
    }
    pm.victims.push_back(std::move(victim));
  }
  const auto* oom = in.event.payload_if<analysis::OomKills>();
  pm.oom_kills = oom != nullptr ? oom->count : std::nullopt;
  return unsampled;
}

/// The kernel's own peak for the cgroup (nothing between two samples escapes it) and the page
/// cache still there now, set aside to compare it with the working set.
struct KernelPeak {
  std::optional<double> bytes;
  std::string file;  ///< memory.peak (v2) or memory.max_usage_in_bytes (v1)
  double inactive_file = 0;
};

/// Kernel peak: the cgroup's files parsed into the post-mortem, their peak and page cache read.
KernelPeak add_cgroup_files(const PostmortemInput& in, analysis::Postmortem& pm) {
  for (const auto& [name, text] : in.cgroup_files)
    pm.cgroup_files.push_back(parse_flat(name, text));
  std::optional<double> kernel_peak;
  std::string kernel_peak_file;
  for (const char* name : {"memory.peak", "memory.max_usage_in_bytes"}) {
    if (const auto value = file_number(pm.cgroup_files, name, "value")) {
      kernel_peak = value;
      kernel_peak_file = name;
    }
  }
  double inactive_file = 0;
  for (const char* key : {"total_inactive_file", "inactive_file"}) {
    if (const auto value = file_number(pm.cgroup_files, "memory.stat", key)) {
      inactive_file = *value;
      break;
    }
  }
  return {kernel_peak, kernel_peak_file, inactive_file};
}

/// What the classification found that prevention and the summary use besides its class.
struct Classified {
  analysis::PostmortemClassification classification;
  double seen = 0;      ///< the highest memory sampled in the episode
  double rate_now = 0;  ///< bytes/s of a growth still going on at the end, else 0
};

/// Classification: unknown, a spike between samples, unbounded growth, many processes or a
/// bounded peak, in words. `processes` are the post-mortem's, largest growth first.
Classified classify(const PostmortemInput& in, const Episode& episode, const Curve& curve,
                    const SampleRow* peak_sample,
                    const std::vector<analysis::PostmortemProcess>& processes,
                    const Processes& sampled, const KernelPeak& kernel) {
  const auto at = episode.at;
  const bool kill = in.kind == "oom_kill";
  const auto* peak = curve.peak;
  const auto& cgroup_ramp = curve.ramp;
  const auto& kernel_peak = kernel.bytes;
  const auto& kernel_peak_file = kernel.file;
  const double inactive_file = kernel.inactive_file;
  const double sum_at_peak = sampled.sum_at_peak;
  const double largest_at_peak = sampled.largest_at_peak;
  std::uint64_t observed_peak = peak != nullptr ? *peak->used_bytes : 0;
  if (peak_sample != nullptr && peak_sample->used_bytes)
    observed_peak = std::max(observed_peak, *peak_sample->used_bytes);
  double total_growth = 0;
  for (const auto& p : processes) total_growth += p.growth_bytes;

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
  std::vector<analysis::PostmortemGrower> growers;
  for (const auto& p : processes) {
    const double g = p.growth_bytes;
    if (g <= 0 || g < 0.1 * total_growth) continue;
    if (growers.size() == 3) break;
    growers.push_back({p.pid, p.name, g, p.bytes_per_second});
  }
  const std::size_t at_peak_count = peak_sample != nullptr
                                        ? std::count_if(processes.begin(), processes.end(),
                                                        [](const analysis::PostmortemProcess& p) {
                                                          return p.at_peak.has_value();
                                                        })
                                        : 0;
  const bool spread =
      at_peak_count >= 2 &&
      (total_growth >= 32 * kMiB ? processes.front().growth_bytes < 0.5 * total_growth
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
  analysis::PostmortemClassification classification;
  classification.cls = cls;
  classification.description = description;
  if (peak != nullptr) classification.observed_peak_bytes = observed_peak;
  classification.kernel_peak_bytes = kernel_peak;
  if (kernel_peak) classification.kernel_peak_file = kernel_peak_file;
  classification.unseen_bytes = unseen;
  classification.processes_at_peak = at_peak_count;
  classification.processes_sum_bytes = sum_at_peak;
  classification.growers = growers;
  return {std::move(classification), seen, rate_now};
}

/// Prevention: the limit that would have prevented it. Never a limit at or below the one that
/// failed, never one for growth without bound (any limit only delays that kill).
void add_prevention(const PostmortemInput& in, const Classified& classified, const Curve& curve,
                    const KernelPeak& kernel, double unsampled, analysis::Postmortem& pm) {
  const bool kill = in.kind == "oom_kill";
  const HistorySizingOptions sizing;
  const auto& cls = classified.classification.cls;
  const auto& growers = classified.classification.growers;
  const auto at_peak_count = classified.classification.processes_at_peak;
  const double seen = classified.seen;
  const double rate_now = classified.rate_now;
  const auto& limit = curve.limit;
  const auto& kernel_peak = kernel.bytes;
  const auto& kernel_peak_file = kernel.file;
  const double inactive_file = kernel.inactive_file;
  if (cls == "unbounded_growth") {
    const double per_gib = rate_now > 0 ? static_cast<double>(kGiB) / rate_now : 0;
    analysis::PostmortemNoLargerLimit none;
    none.bytes_per_second = rate_now;
    none.seconds_per_gib = per_gib;
    none.reason = fmt::format(
        "{} grew without bound at {}: a larger limit only delays the {} by {} per GiB; stop the "
        "growth (a leak? `memopt report --pid PID --leaks` asks a process that serves its leak "
        "check)",
        growers.empty() ? std::string("memory") : who(growers), rate(rate_now),
        kill ? "kill" : "danger", how_long(per_gib));
    if (!growers.empty()) none.grower = growers[0];
    pm.prevention = std::move(none);
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
        const auto config = InputJson::parse(in.config_json, nullptr, false);
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
    pm.prevention = analysis::PostmortemLargerLimit{round_up_mib(needed), basis, reason};
  }
}

/// Summary: one sentence of what happened, to whom, the peak and the class.
std::string summary_of(const PostmortemInput& in, const Curve& curve,
                       const Classified& classified) {
  const auto at = in.event.at;
  const bool kill = in.kind == "oom_kill";
  const auto& cls = classified.classification.cls;
  const double seen = classified.seen;
  const auto* peak = curve.peak;
  std::string summary;
  if (kill) {
    const auto& victims = victims_of(in.event);
    summary = victims.empty()
                  ? fmt::format("OOM kill in {} (victim not in the kernel log)", in.target)
                  : fmt::format("OOM kill of {} (pid {}) in {}", victims.back().name,
                                victims.back().pid, in.target);
  } else {
    summary = fmt::format("danger for {} in {}",
                          how_long(std::max(0.0, seconds_between(in.started, at))), in.target);
  }
  if (peak != nullptr) summary += fmt::format(", peak {}", mib(seen));
  if (cls != "unknown") summary += fmt::format(": {}", summary_class_words(cls));
  // Names (a cgroup's, a process's) need not be UTF-8; the summary is.
  return valid_utf8_text(summary);
}

}  // namespace

analysis::Postmortem analyze_postmortem(const PostmortemInput& in) {
  const auto at = in.event.at;
  analysis::Postmortem pm;
  pm.kind = in.kind;
  pm.at = rfc3339(at);
  pm.started = rfc3339(in.started);
  pm.target = in.target;
  pm.event = in.event.message;

  const auto episode = find_episode(in);
  const auto curve = add_memory_curve(in, episode, pm);
  const SampleRow* peak_sample = find_peak_sample(in, episode);
  const auto sampled = add_processes(in, episode, peak_sample, pm);
  const double unsampled = add_victims(in, sampled.by_pid, pm);
  const auto kernel = add_cgroup_files(in, pm);
  auto classified = classify(in, episode, curve, peak_sample, pm.processes, sampled, kernel);
  add_prevention(in, classified, curve, kernel, unsampled, pm);
  pm.summary = summary_of(in, curve, classified);
  pm.classification = std::move(classified.classification);
  if (peak_sample != nullptr) {
    for (const auto& g : peak_sample->gpus)
      pm.gpus_at_peak.push_back({g.index, g.name, g.used_bytes, g.total_bytes});
  }
  if (!in.config_json.empty()) {
    // Only a configuration that reads is kept: the document embeds it as JSON.
    const auto config = InputJson::parse(in.config_json, nullptr, false);
    if (!config.is_discarded()) {
      pm.config_json = config.dump(-1, ' ', false, InputJson::error_handler_t::replace);
    }
  }
  // What the target's own loops forecast before it: the item, the growth per item and the fix
  // in that process's words.
  pm.loop_forecasts = loop_forecasts_of(in.loop_forecasts);
  // /dev/shm at the last full sample (a bus error's cause, or memory the cgroup was charged for
  // that no process held), and the window's shm_filling and shm_sweep events.
  if (in.dev_shm) pm.dev_shm = shm_of(*in.dev_shm);
  pm.dev_shm_events = shm_events_of(in.shm_events);
  return pm;
}

Postmortem build_postmortem(const PostmortemInput& input) {
  const auto pm = analyze_postmortem(input);
  return {postmortem_to_json(pm), pm.summary.value_or("")};
}

}  // namespace memopt::record
