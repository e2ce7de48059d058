#include "memopt/render/top.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <unordered_map>

#include "memopt/printable.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/timestamp.hpp"
#include "memopt/units.hpp"
#include "render/append.hpp"

namespace memopt::render {

namespace {

using analysis::Level;

std::string bytes_or_dash(const std::optional<std::uint64_t>& value) {
  return value ? format_bytes(*value) : std::string("-");
}

/// Cuts `text` to `width` bytes without splitting a UTF-8 sequence.
std::string fit(std::string text, std::size_t width) {
  if (text.size() <= width) return text;
  std::size_t end = width;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text;
}

TopLine plain(std::string text, std::size_t width, TopTone tone = TopTone::kPlain) {
  TopLine line;
  line.text = fit(std::move(text), width);
  line.tone = tone;
  return line;
}

/// `text` with `marked` (found in it) drawn in the level's colour.
TopLine with_level_mark(std::string text, std::string_view marked, Level level, std::size_t width) {
  TopLine line = plain(std::move(text), width);
  if (const auto at = line.text.find(marked); at != std::string::npos) {
    line.mark_begin = at;
    line.mark_end = std::min(line.text.size(), at + marked.size());
    line.mark = TopTone::kLevel;
    line.level = level;
  }
  return line;
}

std::string clock_time(std::chrono::system_clock::time_point at) {
  // rfc3339: "2026-11-18T11:06:40Z"; the time of day is what a live view needs.
  const std::string stamp = rfc3339(at);
  return stamp.size() >= 20 ? stamp.substr(11) : stamp;
}

std::string target_words(const analysis::Report& report) {
  const auto& sample = report.sample;
  if (report.memory.scope == analysis::Scope::kUnknown) return "target unknown";
  if (sample.cgroup) {
    return fmt::format("{} cgroup v{} {}", to_string(report.memory.scope), sample.cgroup->version,
                       printable(sample.cgroup->path));
  }
  return "host";
}

std::string pressure_words(const analysis::Report& report) {
  const auto p = analysis::effective_pressure(report.sample, report.memory.scope);
  if (!p) return "PSI unknown";
  return fmt::format("PSI some {:.2f}/{:.2f}/{:.2f}%  full {:.2f}/{:.2f}/{:.2f}% (10s/60s/300s)",
                     p->some_avg10, p->some_avg60, p->some_avg300, p->full_avg10, p->full_avg60,
                     p->full_avg300);
}

std::string swap_words(const analysis::Report& report) {
  const auto& host = report.sample.host;
  const auto& cg = report.sample.cgroup;
  if (report.memory.scope == analysis::Scope::kContainer && cg) {
    std::string limit = cg->swap_limit_bytes  ? format_bytes(*cg->swap_limit_bytes)
                        : cg->swap_accounting ? std::string("none")
                                              : std::string("unknown");
    return fmt::format("swap {} (limit {})", bytes_or_dash(cg->swap_usage_bytes), limit);
  }
  if (!host.swap_total_bytes) return "swap unknown";
  if (*host.swap_total_bytes == 0) return "swap off";
  const auto free = host.swap_free_bytes.value_or(0);
  return fmt::format("swap {} of {}",
                     format_bytes(*host.swap_total_bytes - std::min(free, *host.swap_total_bytes)),
                     format_bytes(*host.swap_total_bytes));
}

std::string gpu_words(const model::GpuDevice& gpu) {
  if (!gpu.memory_known) {
    return fmt::format("GPU{} {}  memory unknown (NVML refuses it here)", gpu.index,
                       printable(gpu.name));
  }
  const double percent = gpu.total_bytes == 0 ? 0.0
                                              : 100.0 * static_cast<double>(gpu.used_bytes) /
                                                    static_cast<double>(gpu.total_bytes);
  return fmt::format(
      "GPU{} {}  used {} of {} ({:.1f}%)  {} process{}{}", gpu.index, printable(gpu.name),
      format_bytes(gpu.used_bytes), format_bytes(gpu.total_bytes), percent, gpu.processes.size(),
      gpu.processes.size() == 1 ? "" : "es", gpu.processes_known ? "" : " (list incomplete)");
}

std::optional<double> as_double(const std::optional<std::uint64_t>& value) {
  return value ? std::optional<double>(static_cast<double>(*value)) : std::nullopt;
}

std::optional<double> sort_value(const TopRow& row, TopSort sort) {
  switch (sort) {
    case TopSort::kPss:
      return static_cast<double>(row.pss_bytes.value_or(row.rss_bytes));
    case TopSort::kUss:
      return as_double(row.uss_bytes);
    case TopSort::kRss:
      return static_cast<double>(row.rss_bytes);
    case TopSort::kGpu:
      return as_double(row.gpu_bytes);
    case TopSort::kGrowth:
      return row.growth_per_minute;
  }
  return std::nullopt;
}

/// Largest first, unknown last, then by pid.
void sort_rows(std::vector<TopRow>& rows, TopSort sort) {
  std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
    const auto va = sort_value(a, sort);
    const auto vb = sort_value(b, sort);
    if (va.has_value() != vb.has_value()) return va.has_value();
    if (va && *va != *vb) return *va > *vb;
    return a.pid < b.pid;
  });
}

/// "45s", "4m 10s", "2h 05m", "3d 04h".
std::string duration_words(double seconds) {
  const auto s = static_cast<std::uint64_t>(std::max(seconds, 0.0) + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d {:02}h", s / 86400, (s % 86400) / 3600);
}

void add_growth(std::optional<double>& sum, const std::optional<double>& value) {
  if (!sum || !value)
    sum.reset();
  else
    *sum += *value;
}

void add_known(std::optional<std::uint64_t>& sum, const std::optional<std::uint64_t>& value) {
  // A sum with one unknown part is unknown: never a figure smaller than the truth.
  if (!sum || !value)
    sum.reset();
  else
    *sum += *value;
}

constexpr std::string_view kKeys =
    "p/u/r/g/m sort  Up/Down select  Enter expand  / filter  space pause  ? help  q quit";
constexpr std::string_view kNarrowKeys = "p/u/r/g/m sort / filter ? help q quit";
constexpr std::string_view kContainerKeys =
    "Up/Down select  Enter open  / filter  space pause  ? help  q quit";
constexpr std::string_view kNarrowContainerKeys = "Enter open / filter ? help q quit";
constexpr std::string_view kOpenedKeys =
    "Esc back  p/u/r/g/m sort  Enter expand  / filter  space pause  ? help  q quit";
constexpr std::string_view kNarrowOpenedKeys = "Esc back p/u/r/g/m sort ? help q quit";

std::vector<std::string> help_lines() {
  return {
      "keys",
      "  p  sort by PSS (each shared page divided among the processes that map it)",
      "  u  sort by USS (pages only this process maps: what ending it frees)",
      "  r  sort by RSS",
      "  g  sort by GPU memory (NVML)",
      "  m  sort by growth per minute (PSS, else RSS, over the last 8 samples top saw)",
      "  Up/Down (k/j)  select a row",
      "  Enter (e)  expand or fold the selected group: its processes under it",
      "  --containers: Enter opens the selected container, Esc or Backspace goes back",
      "  /  filter by name (Enter keeps it, Esc clears it)",
      "  space  pause or resume the view (sampling goes on)",
      "  ?  this help (any key closes it)",
      "  q  quit",
      "a group row (name +N) is a parent and its N workers or ranks, summed",
  };
}

}  // namespace

const char* to_string(TopSort sort) noexcept {
  switch (sort) {
    case TopSort::kPss:
      return "PSS";
    case TopSort::kUss:
      return "USS";
    case TopSort::kRss:
      return "RSS";
    case TopSort::kGpu:
      return "GPU";
    case TopSort::kGrowth:
      return "GROW/m";
  }
  return "?";
}

std::string signed_bytes(double bytes) {
  const double magnitude = std::abs(bytes);
  if (magnitude < 1) return "0 B";
  return fmt::format("{}{}", bytes < 0 ? "-" : "+",
                     format_bytes(static_cast<std::uint64_t>(magnitude + 0.5)));
}

std::string time_to_limit_words(const std::vector<analysis::Point>& used,
                                std::optional<std::uint64_t> limit_bytes) {
  if (!limit_bytes || *limit_bytes == 0) return "time to limit: unknown (no limit known)";
  constexpr double kMinSpan = 10;
  if (used.size() < 3 || used.back().t - used.front().t < kMinSpan)
    return "time to limit: unknown (measuring the rate)";
  const auto fit = analysis::fit_line(used);
  if (!fit) return "time to limit: unknown (measuring the rate)";
  const double span = used.back().t - used.front().t;
  // A few pages come and go in any cgroup: a rise below 64 pages over the window is not growth.
  constexpr double kNoise = 256.0 * 1024;
  if (fit->slope <= 0 || fit->slope * span < kNoise) return "time to limit: none (not growing)";
  const auto limit = static_cast<double>(*limit_bytes);
  const std::string rate =
      fmt::format("{}/min (fitted over {:.0f}s)", signed_bytes(fit->slope * 60), span);
  const double last = used.back().value;
  if (last >= limit) return fmt::format("time to limit: at the limit now, at {}", rate);
  const double seconds = (limit - last) / fit->slope;
  constexpr double kMonth = 30.0 * 86400;
  if (seconds > kMonth) return fmt::format("time to limit: more than 30 days at {}", rate);
  return fmt::format("time to limit: {} at {}", duration_words(seconds), rate);
}

void TopHistory::observe(std::chrono::system_clock::time_point at,
                         const analysis::EffectiveMemory& memory) {
  if (memory.scope == analysis::Scope::kUnknown || memory.limit_bytes == 0) {
    used_.clear();
    limit_known_ = false;
    return;
  }
  // A clock set back: the old points would fit a line through time going backwards.
  if (!used_.empty() && at < used_.back().first) used_.clear();
  used_.emplace_back(at, memory.used_bytes);
  while (!used_.empty() && at - used_.front().first > kRateWindow) used_.pop_front();
  limit_bytes_ = memory.limit_bytes;
  limit_known_ = true;
}

void TopHistory::observe_processes(std::chrono::system_clock::time_point at,
                                   const std::vector<model::ProcessMemory>& processes) {
  std::map<int, Series> kept;
  for (const auto& p : processes) {
    auto node = processes_.extract(p.pid);
    Series series;
    if (!node.empty() && node.mapped().name == p.name) series = std::move(node.mapped());
    series.name = p.name;
    if (!series.samples.empty() && at <= series.samples.back().at) series.samples.clear();
    series.samples.push_back({at, p.rss_bytes, p.pss_bytes});
    while (series.samples.size() > kSamplesKept) series.samples.pop_front();
    kept.emplace(p.pid, std::move(series));
  }
  processes_ = std::move(kept);
}

std::optional<double> TopHistory::growth_per_minute(int pid, const std::string& name) const {
  const auto it = processes_.find(pid);
  if (it == processes_.end() || it->second.name != name || it->second.samples.size() < 2)
    return std::nullopt;
  const auto& first = it->second.samples.front();
  const auto& last = it->second.samples.back();
  const double seconds = std::chrono::duration<double>(last.at - first.at).count();
  if (seconds <= 0) return std::nullopt;
  const bool pss = first.pss_bytes && last.pss_bytes;
  const double change =
      pss ? static_cast<double>(*last.pss_bytes) - static_cast<double>(*first.pss_bytes)
          : static_cast<double>(last.rss_bytes) - static_cast<double>(first.rss_bytes);
  return change / seconds * 60;
}

std::string TopHistory::time_to_limit() const {
  std::vector<analysis::Point> points;
  points.reserve(used_.size());
  for (const auto& [at, used] : used_) {
    points.push_back({std::chrono::duration<double>(at - used_.front().first).count(),
                      static_cast<double>(used)});
  }
  return time_to_limit_words(
      points, limit_known_ ? std::optional<std::uint64_t>(limit_bytes_) : std::nullopt);
}

void TopHistory::clear() {
  used_.clear();
  limit_known_ = false;
  processes_.clear();
}

std::vector<TopRow> top_rows(const analysis::Report& report,
                             const std::vector<analysis::ProcessGroup>& groups, const TopView& view,
                             const TopHistory* history) {
  const auto& sample = report.sample;
  std::unordered_map<int, std::uint64_t> gpu_by_pid;
  for (const auto& gpu : sample.gpus) {
    for (const auto& p : gpu.processes) {
      if (p.local_pid && p.used_bytes) gpu_by_pid[*p.local_pid] += *p.used_bytes;
    }
  }
  std::unordered_map<int, const model::ProcessMemory*> by_pid;
  for (const auto& p : sample.processes) by_pid.emplace(p.pid, &p);
  // Each pid of a group points at its group's row; the row is named after the parent, or the
  // first member listed when the parent is not (a launcher outside the target).
  std::unordered_map<int, std::size_t> group_of;
  std::vector<const model::ProcessMemory*> head_of(groups.size(), nullptr);
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].parent) {
      group_of[groups[g].parent->memory.pid] = g;
      if (const auto it = by_pid.find(groups[g].parent->memory.pid); it != by_pid.end())
        head_of[g] = it->second;
    }
    for (const auto& m : groups[g].members) {
      group_of[m.node.memory.pid] = g;
      const auto it = by_pid.find(m.node.memory.pid);
      if (head_of[g] == nullptr && it != by_pid.end()) head_of[g] = it->second;
    }
  }
  std::vector<TopRow> rows;
  std::map<std::size_t, std::size_t> row_of_group;
  std::map<std::size_t, std::vector<TopRow>> members_of_group;
  for (const auto& p : sample.processes) {
    TopRow own;
    own.pid = p.pid;
    own.name = printable(p.name);
    own.pss_bytes = p.pss_bytes;
    own.uss_bytes = p.uss_bytes;
    own.rss_bytes = p.rss_bytes;
    if (const auto it = gpu_by_pid.find(p.pid); it != gpu_by_pid.end()) own.gpu_bytes = it->second;
    if (history) own.growth_per_minute = history->growth_per_minute(p.pid, p.name);
    const auto group = group_of.find(p.pid);
    if (group == group_of.end()) {
      rows.push_back(std::move(own));
      continue;
    }
    TopRow member = own;
    member.member = true;
    member.name = "  - " + member.name;
    members_of_group[group->second].push_back(std::move(member));
    const auto [slot, fresh] = row_of_group.try_emplace(group->second, rows.size());
    if (fresh) {
      TopRow row = own;
      row.pid = head_of[group->second]->pid;
      row.name = printable(head_of[group->second]->name);
      row.group = true;
      rows.push_back(std::move(row));
      continue;
    }
    auto& row = rows[slot->second];
    add_known(row.pss_bytes, own.pss_bytes);
    add_known(row.uss_bytes, own.uss_bytes);
    row.rss_bytes += own.rss_bytes;
    if (own.gpu_bytes) row.gpu_bytes = row.gpu_bytes.value_or(0) + *own.gpu_bytes;
    add_growth(row.growth_per_minute, own.growth_per_minute);
    ++row.members;
  }
  for (const auto& [g, slot] : row_of_group) {
    auto& row = rows[slot];
    if (row.members > 1) {
      row.name += fmt::format(" (+{} {})", row.members - 1,
                              groups[g].kind == analysis::GroupKind::kRanks ? "ranks" : "workers");
    } else {
      row.group = false;  // one process of its group in the target: nothing to expand
    }
  }
  if (!view.filter.empty()) {
    std::erase_if(rows,
                  [&](const TopRow& r) { return r.name.find(view.filter) == std::string::npos; });
  }
  sort_rows(rows, view.sort);
  if (view.expanded.empty()) return rows;
  std::unordered_map<int, std::size_t> group_by_head;
  for (const auto& [g, slot] : row_of_group) {
    if (head_of[g] != nullptr) group_by_head[head_of[g]->pid] = g;
  }
  std::vector<TopRow> shown;
  shown.reserve(rows.size());
  for (auto& row : rows) {
    const bool open = row.group && view.expanded.contains(row.pid);
    const int pid = row.pid;
    shown.push_back(std::move(row));
    if (!open) continue;
    auto& members = members_of_group[group_by_head.at(pid)];
    sort_rows(members, view.sort);
    for (auto& m : members) shown.push_back(std::move(m));
  }
  return shown;
}

std::vector<const analysis::ContainerView*> top_containers(const analysis::Report& report,
                                                           const TopView& view) {
  std::vector<const analysis::ContainerView*> shown;
  for (const auto& c : report.containers) {
    if (view.filter.empty() ||
        printable(c.identity.display).find(view.filter) != std::string::npos ||
        printable(c.path).find(view.filter) != std::string::npos)
      shown.push_back(&c);
  }
  return shown;
}

namespace {

/// The first row shown so that row `selected` is among the `table_rows` shown.
std::size_t scrolled(std::size_t selected, std::size_t table_rows) {
  return table_rows > 0 && selected >= table_rows ? selected - table_rows + 1 : 0;
}

/// The index of the selected row among `rows` (the first when none or gone).
std::size_t selected_row(const std::vector<TopRow>& rows, const TopView& view) {
  if (!view.selected) return 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].pid == view.selected->first && rows[i].member == view.selected->second) return i;
  }
  return 0;
}

void select_row(TopView& view, const std::vector<TopRow>& rows, std::size_t index) {
  if (rows.empty()) {
    view.selected.reset();
    return;
  }
  index = std::min(index, rows.size() - 1);
  view.selected = std::pair{rows[index].pid, rows[index].member};
}

}  // namespace

TopAction apply_key(int key, TopView& view, const std::vector<TopRow>& rows,
                    const std::vector<const analysis::ContainerView*>& containers) {
  if (view.editing_filter) {
    if (key == kTopEnter) {
      view.editing_filter = false;
    } else if (key == kTopEscape) {
      view.filter.clear();
      view.editing_filter = false;
    } else if (key == kTopBackspace) {
      if (!view.filter.empty()) view.filter.pop_back();
    } else if (key >= 32 && key < 127 && view.filter.size() < 64) {
      view.filter.push_back(static_cast<char>(key));
    }
    return TopAction::kNone;
  }
  if (view.help) {
    view.help = false;  // any key closes the help; q still quits
    return key == 'q' ? TopAction::kQuit : TopAction::kNone;
  }
  const bool listing = view.containers && !view.opened;
  switch (key) {
    case 'q':
    case 'Q':
      return TopAction::kQuit;
    case 'p':
      view.sort = TopSort::kPss;
      break;
    case 'u':
      view.sort = TopSort::kUss;
      break;
    case 'r':
      view.sort = TopSort::kRss;
      break;
    case 'g':
      view.sort = TopSort::kGpu;
      break;
    case 'm':
      view.sort = TopSort::kGrowth;
      break;
    case '/':
      view.editing_filter = true;
      break;
    case ' ':
      view.paused = !view.paused;
      break;
    case '?':
    case 'h':
      view.help = true;
      break;
    case kTopUp:
    case 'k':
      if (listing) {
        view.selected_container =
            std::min(view.selected_container, containers.empty() ? 0 : containers.size() - 1);
        if (view.selected_container > 0) --view.selected_container;
      } else {
        const auto at = selected_row(rows, view);
        select_row(view, rows, at > 0 ? at - 1 : 0);
      }
      break;
    case kTopDown:
    case 'j':
      if (listing) {
        if (view.selected_container + 1 < containers.size()) ++view.selected_container;
      } else {
        select_row(view, rows, selected_row(rows, view) + 1);
      }
      break;
    case kTopEnter:
    case 'e':
      if (listing) {
        if (containers.empty()) break;
        view.opened = containers[std::min(view.selected_container, containers.size() - 1)]->path;
        view.filter.clear();
        view.selected.reset();
        view.expanded.clear();
        return TopAction::kOpen;
      }
      if (!rows.empty()) {
        const auto& row = rows[selected_row(rows, view)];
        if (row.group && !view.expanded.erase(row.pid)) view.expanded.insert(row.pid);
      }
      break;
    case kTopBackspace:
      if (view.containers && view.opened) {
        view.opened.reset();
        view.filter.clear();
        view.selected.reset();
        view.expanded.clear();
        return TopAction::kBack;
      }
      break;
    case kTopEscape:
      if (view.filter.empty() && view.containers && view.opened) {
        view.opened.reset();
        view.selected.reset();
        view.expanded.clear();
        return TopAction::kBack;
      }
      view.filter.clear();
      break;
    default:
      break;
  }
  return TopAction::kNone;
}

std::vector<TopLine> render_top(const analysis::Report* report,
                                const std::vector<analysis::ProcessGroup>& groups,
                                const std::deque<analysis::Event>& events, const TopView& view,
                                const TopHistory* history) {
  const std::size_t width = view.width;
  const bool unlimited = view.height == 0;
  std::vector<TopLine> lines;
  if (width < kTopMinWidth || (!unlimited && view.height < kTopMinHeight)) {
    lines.push_back(plain(fmt::format("terminal too small ({}x{}): memopt top needs {}x{}", width,
                                      view.height, kTopMinWidth, kTopMinHeight),
                          width, TopTone::kTitle));
    if (!unlimited) lines.resize(view.height);
    return lines;
  }

  // --- header ------------------------------------------------------------------------------
  // The target last: a long cgroup path is what the width cuts.
  std::string title = view.paused ? "memopt top [paused]" : "memopt top";
  if (report) {
    title += fmt::format("  every {}s  {}  {}", view.interval.count(),
                         clock_time(report->sample.timestamp), target_words(*report));
  }
  lines.push_back(plain(title, width, TopTone::kTitle));
  if (report == nullptr) {
    lines.push_back(plain("reading the first sample...", width));
  } else {
    const auto level = report->status.level;
    const std::string word = detail::upper(analysis::to_string(level));
    const auto& m = report->memory;
    if (m.scope == analysis::Scope::kUnknown) {
      lines.push_back(with_level_mark(
          fmt::format("{}  {}", word,
                      report->sample.cgroup_unreadable.value_or("the target's memory is unknown")),
          word, level, width));
    } else {
      lines.push_back(with_level_mark(
          fmt::format("{}  used {} of {} ({:.1f}%)  available {}", word, format_bytes(m.used_bytes),
                      format_bytes(m.limit_bytes), m.used_percent, format_bytes(m.available_bytes)),
          word, level, width));
      // The bar: '#' used, '.' free, in the level's colour.
      const std::size_t inner = width - 2;
      const auto filled = static_cast<std::size_t>(
          std::clamp(m.used_percent, 0.0, 100.0) / 100.0 * static_cast<double>(inner) + 0.5);
      TopLine bar =
          plain("[" + std::string(filled, '#') + std::string(inner - filled, '.') + "]", width);
      bar.mark_begin = 1;
      bar.mark_end = 1 + filled;
      bar.mark = TopTone::kLevel;
      bar.level = level;
      lines.push_back(std::move(bar));
      lines.push_back(plain(
          history ? history->time_to_limit() : std::string("time to limit: unknown (no history)"),
          width));
    }
    lines.push_back(
        plain(fmt::format("{}   {}", pressure_words(*report), swap_words(*report)), width));
    for (const auto& gpu : report->sample.gpus) lines.push_back(plain(gpu_words(gpu), width));
  }

  // --- what is left: the table and the events share it ---------------------------------------
  const std::size_t footer = 1;  // the key line
  std::size_t event_rows = 0;
  std::size_t table_rows = 0;
  if (unlimited) {
    event_rows = std::min<std::size_t>(events.size(), 10);
    table_rows = std::numeric_limits<std::size_t>::max();
  } else {
    const std::size_t used = lines.size() + footer;
    std::size_t left = view.height > used ? view.height - used : 0;
    // The events pane: its title and up to 5 events, at most a third of what is left.
    event_rows = std::min<std::size_t>({5, std::max<std::size_t>(events.size(), 1), left / 3});
    const std::size_t events_block = event_rows > 0 ? event_rows + 1 : 0;
    left = left > events_block ? left - events_block : 0;
    table_rows = left > 2 ? left - 2 : 0;  // its summary line and column header
    if (left < 2) event_rows = 0;
  }

  if (view.help) {
    auto help = help_lines();
    const std::size_t rows = unlimited ? help.size() : table_rows + 2;
    for (std::size_t i = 0; i < rows; ++i) {
      lines.push_back(plain(i < help.size() ? help[i] : std::string(), width,
                            i == 0 ? TopTone::kTableHeader : TopTone::kPlain));
    }
  } else if (report && view.containers && !view.opened) {
    const auto shown = top_containers(*report, view);
    std::string summary =
        fmt::format("CONTAINERS {} of {} with a memory limit under the target, fullest first",
                    shown.size(), report->containers.size());
    if (!view.filter.empty()) summary += fmt::format(", name contains '{}'", view.filter);
    lines.push_back(plain(summary, width, TopTone::kTitle));
    lines.push_back(plain(fmt::format("{:<10} {:>7} {:>10} {:>10} {:>10} {:>5}  {:<26} {:<{}}",
                                      "LEVEL", "USED%", "USED", "LIMIT", "AVAILABLE", "OOMK",
                                      "NAME", "CGROUP", width > 87 ? width - 87 : 0),
                          width, TopTone::kTableHeader));
    const std::size_t selected =
        shown.empty() ? 0 : std::min(view.selected_container, shown.size() - 1);
    // The selected row stays in sight: the table scrolls past the rows above it.
    const std::size_t first = scrolled(selected, table_rows);
    for (std::size_t i = first; i < shown.size() && i - first < table_rows; ++i) {
      const auto& c = *shown[i];
      lines.push_back(plain(
          fmt::format("{:<10} {:>6.1f}% {:>10} {:>10} {:>10} {:>5}  {:<26} {}",
                      analysis::to_string(c.level), c.memory.used_percent,
                      format_bytes(c.memory.used_bytes), format_bytes(c.memory.limit_bytes),
                      format_bytes(c.memory.available_bytes),
                      c.oom_kill_events ? fmt::to_string(*c.oom_kill_events) : std::string("?"),
                      printable(c.identity.display), printable(c.path)),
          width, !unlimited && i == selected ? TopTone::kSelected : TopTone::kPlain));
    }
    if (!unlimited) {
      for (std::size_t i = std::min(shown.size() - first, table_rows); i < table_rows; ++i)
        lines.push_back(plain("", width));
    }
  } else if (report) {
    const auto rows = top_rows(*report, groups, view, history);
    std::string where = report->sample.processes_host_wide ? std::string("on the host (host-wide)")
                                                           : std::string("in the target cgroup");
    const auto count = report->sample.processes.size();
    const auto top_level = static_cast<std::size_t>(
        std::count_if(rows.begin(), rows.end(), [](const TopRow& r) { return !r.member; }));
    std::string summary = fmt::format("PROCESSES {} row{} of {} process{} {}, by {}", top_level,
                                      top_level == 1 ? "" : "s", count, count == 1 ? "" : "es",
                                      where, to_string(view.sort));
    if (!view.filter.empty()) summary += fmt::format(", name contains '{}'", view.filter);
    lines.push_back(plain(summary, width, TopTone::kTitle));
    const auto column = [&](TopSort s) {
      return fmt::format("{}{}", to_string(s), view.sort == s ? "*" : "");
    };
    lines.push_back(
        plain(fmt::format("{:>8} {:>10} {:>10} {:>10} {:>10} {:>11}  {:<{}}", "PID",
                          column(TopSort::kPss), column(TopSort::kUss), column(TopSort::kRss),
                          column(TopSort::kGpu), column(TopSort::kGrowth), "NAME",
                          width > 67 ? width - 67 : 0),
              width, TopTone::kTableHeader));
    const std::size_t selected = selected_row(rows, view);
    const std::size_t first = scrolled(selected, table_rows);
    for (std::size_t i = first; i < rows.size() && i - first < table_rows; ++i) {
      const auto& r = rows[i];
      const std::string growth =
          r.growth_per_minute ? signed_bytes(*r.growth_per_minute) : std::string("-");
      lines.push_back(
          plain(fmt::format("{:>8} {:>10} {:>10} {:>10} {:>10} {:>11}  {}", r.pid,
                            bytes_or_dash(r.pss_bytes), bytes_or_dash(r.uss_bytes),
                            format_bytes(r.rss_bytes), bytes_or_dash(r.gpu_bytes), growth, r.name),
                width, !unlimited && i == selected ? TopTone::kSelected : TopTone::kPlain));
    }
    if (!unlimited) {
      for (std::size_t i = std::min(rows.size() - first, table_rows); i < table_rows; ++i)
        lines.push_back(plain("", width));
    }
  } else if (!unlimited) {
    for (std::size_t i = 0; i < table_rows + 2; ++i) lines.push_back(plain("", width));
  }

  if (event_rows > 0 || unlimited) {
    lines.push_back(plain(fmt::format("EVENTS {}", events.empty() ? "none yet" : "(newest last)"),
                          width, TopTone::kTitle));
    const std::size_t shown = std::min(event_rows, events.size());
    for (std::size_t i = events.size() - shown; i < events.size(); ++i) {
      const auto& e = events[i];
      lines.push_back(
          with_level_mark(fmt::format("{}  {:<14} {}", clock_time(e.at),
                                      analysis::to_string(e.kind()), printable(e.message)),
                          analysis::to_string(e.kind()), e.level, width));
    }
    if (!unlimited) {
      for (std::size_t i = shown; i < event_rows; ++i) lines.push_back(plain("", width));
    }
  }

  if (!unlimited) {
    // Whatever rounding left goes above the key line, which stays at the bottom.
    while (lines.size() + footer < view.height) lines.push_back(plain("", width));
    lines.resize(view.height - footer);
    std::string keys;
    if (view.editing_filter)
      keys = fmt::format("filter: {}_   (Enter keeps it, Esc clears it)", view.filter);
    else {
      std::string_view wide = kKeys;
      std::string_view narrow = kNarrowKeys;
      if (view.containers && !view.opened) {
        wide = kContainerKeys;
        narrow = kNarrowContainerKeys;
      } else if (view.containers) {
        wide = kOpenedKeys;
        narrow = kNarrowOpenedKeys;
      }
      if (view.paused)
        keys = fmt::format("paused: space resumes  {}", width >= wide.size() + 23 ? wide : narrow);
      else
        keys = std::string(width >= wide.size() ? wide : narrow);
    }
    lines.push_back(plain(keys, width, TopTone::kDim));
  }
  return lines;
}

std::string top_text(const std::vector<TopLine>& lines) {
  std::string out;
  for (const auto& line : lines) {
    std::string_view text = line.text;
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    out.append(text);
    out.push_back('\n');
  }
  return out;
}

}  // namespace memopt::render
