#include "memopt/render/top.hpp"

#include <fmt/format.h>

#include <algorithm>
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

std::optional<std::uint64_t> sort_value(const TopRow& row, TopSort sort) {
  switch (sort) {
    case TopSort::kPss:
      return row.pss_bytes ? row.pss_bytes : std::optional<std::uint64_t>(row.rss_bytes);
    case TopSort::kUss:
      return row.uss_bytes;
    case TopSort::kRss:
      return row.rss_bytes;
    case TopSort::kGpu:
      return row.gpu_bytes;
  }
  return std::nullopt;
}

void add_known(std::optional<std::uint64_t>& sum, const std::optional<std::uint64_t>& value) {
  // A sum with one unknown part is unknown: never a figure smaller than the truth.
  if (!sum || !value)
    sum.reset();
  else
    *sum += *value;
}

constexpr std::string_view kKeys = "p/u/r/g sort  / filter  space pause  ? help  q quit";
constexpr std::string_view kNarrowKeys = "p/u/r/g sort / filter ? help q quit";

std::vector<std::string> help_lines() {
  return {
      "keys",
      "  p  sort by PSS (each shared page divided among the processes that map it)",
      "  u  sort by USS (pages only this process maps: what ending it frees)",
      "  r  sort by RSS",
      "  g  sort by GPU memory (NVML)",
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
  }
  return "?";
}

std::vector<TopRow> top_rows(const analysis::Report& report,
                             const std::vector<analysis::ProcessGroup>& groups,
                             const TopView& view) {
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
  for (const auto& p : sample.processes) {
    TopRow own;
    own.pid = p.pid;
    own.name = printable(p.name);
    own.pss_bytes = p.pss_bytes;
    own.uss_bytes = p.uss_bytes;
    own.rss_bytes = p.rss_bytes;
    if (const auto it = gpu_by_pid.find(p.pid); it != gpu_by_pid.end()) own.gpu_bytes = it->second;
    const auto group = group_of.find(p.pid);
    if (group == group_of.end()) {
      rows.push_back(std::move(own));
      continue;
    }
    const auto [slot, fresh] = row_of_group.try_emplace(group->second, rows.size());
    if (fresh) {
      TopRow row = own;
      row.pid = head_of[group->second]->pid;
      row.name = printable(head_of[group->second]->name);
      rows.push_back(std::move(row));
      continue;
    }
    auto& row = rows[slot->second];
    add_known(row.pss_bytes, own.pss_bytes);
    add_known(row.uss_bytes, own.uss_bytes);
    row.rss_bytes += own.rss_bytes;
    if (own.gpu_bytes) row.gpu_bytes = row.gpu_bytes.value_or(0) + *own.gpu_bytes;
    ++row.members;
  }
  for (const auto& [g, slot] : row_of_group) {
    auto& row = rows[slot];
    if (row.members > 1) {
      row.name += fmt::format(" (+{} {})", row.members - 1,
                              groups[g].kind == analysis::GroupKind::kRanks ? "ranks" : "workers");
    }
  }
  if (!view.filter.empty()) {
    std::erase_if(rows,
                  [&](const TopRow& r) { return r.name.find(view.filter) == std::string::npos; });
  }
  std::stable_sort(rows.begin(), rows.end(), [&](const TopRow& a, const TopRow& b) {
    const auto va = sort_value(a, view.sort);
    const auto vb = sort_value(b, view.sort);
    if (va.has_value() != vb.has_value()) return va.has_value();
    if (va && *va != *vb) return *va > *vb;
    return a.pid < b.pid;
  });
  return rows;
}

std::vector<TopLine> render_top(const analysis::Report* report,
                                const std::vector<analysis::ProcessGroup>& groups,
                                const std::deque<analysis::Event>& events, const TopView& view) {
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
  } else if (report) {
    const auto rows = top_rows(*report, groups, view);
    std::string where = report->sample.processes_host_wide ? std::string("on the host (host-wide)")
                                                           : std::string("in the target cgroup");
    const auto count = report->sample.processes.size();
    std::string summary = fmt::format("PROCESSES {} row{} of {} process{} {}, by {}", rows.size(),
                                      rows.size() == 1 ? "" : "s", count, count == 1 ? "" : "es",
                                      where, to_string(view.sort));
    if (!view.filter.empty()) summary += fmt::format(", name contains '{}'", view.filter);
    lines.push_back(plain(summary, width, TopTone::kTitle));
    const auto column = [&](TopSort s) {
      return fmt::format("{}{}", to_string(s), view.sort == s ? "*" : "");
    };
    lines.push_back(
        plain(fmt::format("{:>8} {:>10} {:>10} {:>10} {:>10}  {:<{}}", "PID", column(TopSort::kPss),
                          column(TopSort::kUss), column(TopSort::kRss), column(TopSort::kGpu),
                          "NAME", width > 55 ? width - 55 : 0),
              width, TopTone::kTableHeader));
    for (std::size_t i = 0; i < std::min(table_rows, rows.size()); ++i) {
      const auto& r = rows[i];
      lines.push_back(
          plain(fmt::format("{:>8} {:>10} {:>10} {:>10} {:>10}  {}", r.pid,
                            bytes_or_dash(r.pss_bytes), bytes_or_dash(r.uss_bytes),
                            format_bytes(r.rss_bytes), bytes_or_dash(r.gpu_bytes), r.name),
                width));
    }
    if (!unlimited) {
      for (std::size_t i = rows.size(); i < table_rows; ++i) lines.push_back(plain("", width));
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
                                      analysis::to_string(e.kind), printable(e.message)),
                          analysis::to_string(e.kind), e.level, width));
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
    else if (view.paused)
      keys = fmt::format("paused: space resumes  {}",
                         width >= kKeys.size() + 23 ? kKeys : kNarrowKeys);
    else
      keys = std::string(width >= kKeys.size() ? kKeys : kNarrowKeys);
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
