#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
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
enum class TopSort { kPss, kUss, kRss, kGpu, kGrowth };

/// "PSS", "USS", "RSS", "GPU", "GROW/m".
[[nodiscard]] const char* to_string(TopSort sort) noexcept;

/// Keys besides a typed character (0-255), as the terminal module reports them.
enum TopKey : int {
  kTopNoKey = -1,   ///< nothing within the timeout
  kTopResize = -2,  ///< the terminal changed size
  kTopEnter = -3,
  kTopEscape = -4,
  kTopBackspace = -5,
  kTopOtherKey = -6,  ///< a function key top has no use for
  kTopUp = -7,        ///< the arrow keys
  kTopDown = -8,
};

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
  /// The selected row (Up/Down): its pid and whether it is a member shown under its group;
  /// absent: the first row. A selected row that is gone selects the first again.
  std::optional<std::pair<int, bool>> selected;
  std::set<int> expanded;  ///< the groups (by their row's pid) whose members are shown
  /// `--containers`: the node view lists containers (Report::containers) instead of processes
  /// until one is opened; `opened` is the container's path while one is.
  bool containers = false;
  std::optional<std::string> opened;
  std::size_t selected_container = 0;  ///< the selected row of the container list
};

/// How a line (or a stretch of it) is drawn.
enum class TopTone {
  kPlain,
  kTitle,        ///< bold
  kTableHeader,  ///< reverse video
  kLevel,        ///< the level's colour (TopLine::level)
  kDim,
  kSelected,  ///< the selected row (reverse video, bold)
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
  /// Bytes per minute (TopHistory::growth_per_minute; a group's sums its members'); absent
  /// until top has seen the process in two full samples.
  std::optional<double> growth_per_minute;
  std::size_t members = 1;  ///< processes in the row
  bool group = false;       ///< a group's row (Enter expands it)
  bool member = false;      ///< one process of an expanded group, shown under its row
};

/// What top has seen over time: the target's used bytes at each quick observation (the time
/// to the limit) and each process's memory at each full sample (its growth per minute).
/// Pure: the times are given. Bounded: 60 s of observations, 8 samples per process, only the
/// processes of the last sample.
class TopHistory {
 public:
  /// How far back the rate of the time to the limit is fitted.
  static constexpr std::chrono::seconds kRateWindow{60};
  /// The samples kept per process: the growth is over the oldest and newest of them.
  static constexpr std::size_t kSamplesKept = 8;

  /// A quick observation's figures (used and limit of the target).
  void observe(std::chrono::system_clock::time_point at, const analysis::EffectiveMemory& memory);
  /// A full sample's processes: PSS where smaps_rollup was read, else RSS.
  void observe_processes(std::chrono::system_clock::time_point at,
                         const std::vector<model::ProcessMemory>& processes);
  /// Bytes per minute of `pid` named `name` over the samples kept (PSS when both ends have it,
  /// else RSS); absent before its second sample. A pid reused by another name starts over.
  [[nodiscard]] std::optional<double> growth_per_minute(int pid, const std::string& name) const;
  /// The header's words: "time to limit: 4m 10s at +12.0 MiB/min (over 60s)", "time to limit:
  /// none (not growing)", or "time to limit: unknown (...)" (see time_to_limit_words).
  [[nodiscard]] std::string time_to_limit() const;
  /// Forgets everything (another target).
  void clear();

 private:
  struct Sample {
    std::chrono::system_clock::time_point at;
    std::uint64_t rss_bytes = 0;
    std::optional<std::uint64_t> pss_bytes;
  };
  struct Series {
    std::string name;
    std::deque<Sample> samples;
  };
  std::deque<std::pair<std::chrono::system_clock::time_point, std::uint64_t>> used_;
  std::uint64_t limit_bytes_ = 0;
  bool limit_known_ = false;
  std::map<int, Series> processes_;
};

/// The time to the limit at the rate of `used` (time-ordered: seconds, bytes), fitted by least
/// squares: "unknown (no limit known)" without one, "unknown (measuring the rate)" with fewer
/// than 3 points over less than 10 s, "none (not growing)" when the fitted line rises less
/// than 1 MiB over the points (page noise), "at the limit now", else the time and the rate.
[[nodiscard]] std::string time_to_limit_words(const std::vector<analysis::Point>& used,
                                              std::optional<std::uint64_t> limit_bytes);

/// "+12.0 MiB", "-512 KiB", "0 B": a signed amount of bytes.
[[nodiscard]] std::string signed_bytes(double bytes);

/// The table's rows: the report's processes with each group's parent and members folded into
/// the parent's row (sums; PSS counts a shared page once per process, as the kernel does),
/// filtered by `view.filter` and sorted by `view.sort`, largest first (unknown last); an
/// expanded group's members follow its row (sorted the same way). `history` null: no growth.
[[nodiscard]] std::vector<TopRow> top_rows(const analysis::Report& report,
                                           const std::vector<analysis::ProcessGroup>& groups,
                                           const TopView& view,
                                           const TopHistory* history = nullptr);

/// The containers of the node view (`view.containers`): the report's, filtered by name.
[[nodiscard]] std::vector<const analysis::ContainerView*> top_containers(
    const analysis::Report& report, const TopView& view);

/// What a key asks of the front end beyond the view.
enum class TopAction {
  kNone,
  kQuit,
  kOpen,  ///< open the container `view.opened` (restart the engine on it)
  kBack,  ///< back to the container list (restart the engine on the node)
};

/// Applies one key to the view (pure: no terminal): filter editing, help, sort keys
/// p/u/r/g/m, `/`, space, Up/Down (and k/j) move the selection among `rows` (the rows shown
/// now), Enter or `e` folds or unfolds the selected group; in the node view Up/Down move among
/// `containers`, Enter opens the selected one, Esc or Backspace in an opened one goes back.
[[nodiscard]] TopAction apply_key(int key, TopView& view, const std::vector<TopRow>& rows,
                                  const std::vector<const analysis::ContainerView*>& containers);

/// The frame: title, level and memory with a bar, the time to the limit, PSI and swap, one
/// line per GPU, the process table (or the container list), the last events (newest last) and
/// the key line; exactly `view.height` lines (fewer with --once's unlimited height), each at
/// most `view.width` characters. `report` null: the first sample is still being read.
/// `history` null: the time to the limit and the growth are unknown.
[[nodiscard]] std::vector<TopLine> render_top(const analysis::Report* report,
                                              const std::vector<analysis::ProcessGroup>& groups,
                                              const std::deque<analysis::Event>& events,
                                              const TopView& view,
                                              const TopHistory* history = nullptr);

/// The frame as plain text, one "\n"-ended line each, trailing blanks trimmed (`--once`).
[[nodiscard]] std::string top_text(const std::vector<TopLine>& lines);

}  // namespace memopt::render
