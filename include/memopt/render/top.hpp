#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/report.hpp"
#include "memopt/analysis/watch.hpp"

// `memopt top`: one frame of the live terminal view, as lines of text with their colours. A pure
// function of the report, the events seen and the view's state (sort key, filter, size), so the
// same layout serves the terminal (the memopt-top.so module draws it with ncurses) and
// `--once` (printed as it is), and unit tests read it without a terminal.
namespace memopt::render {

/// The column the process table is sorted by (largest first).
enum class TopSort { kPss, kUss, kRss, kGpu };

/// "PSS", "USS", "RSS", "GPU".
[[nodiscard]] const char* to_string(TopSort sort) noexcept;

/// What the person chose with the keys.
struct TopView {
  TopSort sort = TopSort::kPss;
  std::string filter;           ///< rows whose name contains this (case-sensitive); empty: all
  bool editing_filter = false;  ///< `/` typed: the bottom line edits the filter
  bool paused = false;          ///< space: the frame stays as it was
  bool help = false;            ///< `?`: the keys, over the table
  std::size_t width = 120;      ///< columns
  std::size_t height = 40;      ///< rows
  std::chrono::seconds interval{60};  ///< the full sample's interval, said in the title
};

/// How a line (or a stretch of it) is drawn.
enum class TopTone {
  kPlain,
  kTitle,        ///< bold
  kTableHeader,  ///< reverse video
  kLevel,        ///< the level's colour (TopLine::level)
  kDim,
};

/// One row of the screen. `text` is at most TopView::width characters (ASCII but for names,
/// which are printable()); `mark_begin`..`mark_end` (byte offsets) is drawn in `mark`'s tone.
struct TopLine {
  std::string text;
  TopTone tone = TopTone::kPlain;
  std::size_t mark_begin = 0;
  std::size_t mark_end = 0;
  TopTone mark = TopTone::kPlain;
  analysis::Level level = analysis::Level::kUnknown;  ///< for kLevel
};

/// The smallest terminal the frame fits: below it the frame is one line that says so.
inline constexpr std::size_t kTopMinWidth = 40;
inline constexpr std::size_t kTopMinHeight = 10;

/// One table row: a process, or a process group (parent and workers) collapsed.
struct TopRow {
  int pid = 0;
  std::string name;                        ///< printable comm; a group: "python3 (+7)"
  std::optional<std::uint64_t> pss_bytes;  ///< absent when smaps_rollup was unreadable
  std::optional<std::uint64_t> uss_bytes;
  std::uint64_t rss_bytes = 0;
  std::optional<std::uint64_t> gpu_bytes;  ///< NVML's bytes for the pid (summed over GPUs)
  std::size_t members = 1;                 ///< processes in the row
};

/// The table's rows: the report's processes with each group's parent and members folded into
/// the parent's row (sums; PSS counts a shared page once per process, as the kernel does),
/// filtered by `view.filter` and sorted by `view.sort`, largest first (unknown last).
[[nodiscard]] std::vector<TopRow> top_rows(const analysis::Report& report,
                                           const std::vector<analysis::ProcessGroup>& groups,
                                           const TopView& view);

/// The frame: title, level and memory with a bar, PSI and swap, one line per GPU, the process
/// table, the last events (newest last) and the key line; exactly `view.height` lines (fewer
/// with --once's unlimited height), each at most `view.width` characters. `report` null: the
/// first sample is still being read.
[[nodiscard]] std::vector<TopLine> render_top(const analysis::Report* report,
                                              const std::vector<analysis::ProcessGroup>& groups,
                                              const std::deque<analysis::Event>& events,
                                              const TopView& view);

/// The frame as plain text, one "\n"-ended line each, trailing blanks trimmed (`--once`).
[[nodiscard]] std::string top_text(const std::vector<TopLine>& lines);

}  // namespace memopt::render
