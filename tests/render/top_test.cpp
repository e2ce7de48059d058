#include "memopt/render/top.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "memopt/readers/collect.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt::render {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

/// The report of fixture `scenario`, as `report` reads it (no GPUs, no /dev/shm).
analysis::Report fixture_report(std::string_view scenario) {
  const std::string root = testing::fixture(scenario);
  readers::CollectOptions options;
  options.gpus = false;
  options.shm = false;
  return analysis::analyze(readers::collect({root + "/proc", root + "/sys"}, options), {});
}

std::string joined(const std::vector<TopLine>& lines) { return top_text(lines); }

/// The table's rows as "PID NAME" (the first and last words of each line under the header).
std::vector<std::string> table(const std::vector<TopLine>& lines) {
  std::vector<std::string> rows;
  bool in_table = false;
  for (const auto& line : lines) {
    if (line.tone == TopTone::kTableHeader) {
      in_table = true;
      continue;
    }
    if (!in_table) continue;
    if (line.text.empty() || line.tone == TopTone::kTitle) break;
    std::istringstream words(line.text);
    std::string pid, word, last;
    words >> pid;
    while (words >> word) last = word;
    rows.push_back(pid + " " + last);
  }
  return rows;
}

TEST(TopFrame, FillsTheTerminalExactlyAndKeepsEveryLineWithinItsWidth) {
  const auto report = fixture_report("shared-workers");
  for (const auto [width, height] :
       {std::pair<std::size_t, std::size_t>{120, 40}, {60, 15}, {40, 10}, {200, 60}}) {
    TopView view;
    view.width = width;
    view.height = height;
    const auto lines = render_top(&report, {}, {}, view);
    ASSERT_EQ(lines.size(), height) << width << "x" << height;
    for (const auto& line : lines) EXPECT_LE(line.text.size(), width) << line.text;
    EXPECT_THAT(lines.back().text, HasSubstr("q quit"));
  }
}

TEST(TopFrame, HeaderSaysTheLevelAndTheFiguresOfTheReport) {
  const auto report = fixture_report("v1-limited");
  TopView view;
  const auto lines = render_top(&report, {}, {}, view);
  const std::string level = report.status.level == analysis::Level::kUnknown
                                ? "UNKNOWN"
                                : std::string(analysis::to_string(report.status.level));
  ASSERT_GE(lines.size(), 3u);
  EXPECT_THAT(lines[1].text, HasSubstr(format_bytes(report.memory.used_bytes)));
  EXPECT_THAT(lines[1].text, HasSubstr(format_bytes(report.memory.limit_bytes)));
  EXPECT_THAT(lines[1].text, HasSubstr(format_bytes(report.memory.available_bytes)));
  // The level word is marked in its colour.
  EXPECT_EQ(lines[1].mark, TopTone::kLevel);
  EXPECT_EQ(lines[1].level, report.status.level);
  std::string word =
      lines[1].text.substr(lines[1].mark_begin, lines[1].mark_end - lines[1].mark_begin);
  for (auto& c : word) c = static_cast<char>(std::tolower(c));
  EXPECT_EQ(word, analysis::to_string(report.status.level));
  // The bar: as many '#' of its inside as the used share.
  const auto& bar = lines[2].text;
  ASSERT_THAT(bar, StartsWith("["));
  const auto filled = static_cast<double>(std::count(bar.begin(), bar.end(), '#'));
  EXPECT_NEAR(filled / static_cast<double>(bar.size() - 2) * 100, report.memory.used_percent,
              100.0 / static_cast<double>(bar.size() - 2));
}

TEST(TopFrame, SortKeysOrderTheTable) {
  const auto report = fixture_report("shared-workers");
  TopView view;
  view.height = 0;  // every row
  view.sort = TopSort::kPss;
  const auto by_pss = table(render_top(&report, {}, {}, view));
  ASSERT_FALSE(by_pss.empty());
  EXPECT_EQ(by_pss.front(), "200 redis-server");  // 490 MiB PSS, the largest
  view.sort = TopSort::kRss;
  const auto by_rss = table(render_top(&report, {}, {}, view));
  EXPECT_EQ(by_rss.front(), "100 python3");  // 1.20 GiB RSS
  view.sort = TopSort::kUss;
  EXPECT_EQ(table(render_top(&report, {}, {}, view)).front(), "200 redis-server");
  EXPECT_THAT(joined(render_top(&report, {}, {}, view)), HasSubstr("USS*"));
}

TEST(TopFrame, FilterKeepsOnlyMatchingNames) {
  const auto report = fixture_report("shared-workers");
  TopView view;
  view.height = 0;
  view.filter = "redis";
  const auto rows = table(render_top(&report, {}, {}, view));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0], "200 redis-server");
  EXPECT_THAT(joined(render_top(&report, {}, {}, view)), HasSubstr("name contains 'redis'"));
}

TEST(TopFrame, AGroupIsOneRowWithItsSums) {
  const auto report = fixture_report("shared-workers");
  analysis::ProcessGroup group;
  for (const auto& p : report.sample.processes) {
    if (p.pid == 100) group.parent = model::ProcessNode{p};
    if (p.pid >= 101 && p.pid <= 104) group.members.push_back({model::ProcessNode{p}, {}, {}});
  }
  ASSERT_TRUE(group.parent);
  ASSERT_FALSE(group.members.empty());
  std::uint64_t pss = 0, rss = 0;
  for (const auto& p : report.sample.processes) {
    if (p.pid >= 100 && p.pid <= 104) pss += p.pss_bytes.value_or(0), rss += p.rss_bytes;
  }
  TopView view;
  const auto rows = top_rows(report, {group}, view);
  const auto row =
      std::find_if(rows.begin(), rows.end(), [](const auto& r) { return r.pid == 100; });
  ASSERT_NE(row, rows.end());
  EXPECT_EQ(row->members, group.members.size() + 1);
  EXPECT_EQ(row->pss_bytes, pss);
  EXPECT_EQ(row->rss_bytes, rss);
  EXPECT_THAT(row->name, HasSubstr(fmt::format("(+{} workers)", group.members.size())));
  for (const auto& r : rows) EXPECT_FALSE(r.pid >= 101 && r.pid <= 104) << r.pid << " not folded";
  // The group's sum is the largest PSS: first by PSS.
  EXPECT_EQ(rows.front().pid, 100);
}

TEST(TopFrame, TheEventsPaneShowsTheNewestEvents) {
  const auto report = fixture_report("v1-limited");
  std::deque<analysis::Event> events;
  for (int i = 0; i < 8; ++i) {
    analysis::Event e(analysis::LevelChange{});
    e.at = report.sample.timestamp;
    e.level = analysis::Level::kWarning;
    e.message = fmt::format("event number {}", i);
    events.push_back(e);
  }
  TopView view;
  const auto text = joined(render_top(&report, {}, events, view));
  EXPECT_THAT(text, HasSubstr("event number 7"));
  EXPECT_THAT(text, Not(HasSubstr("event number 0")));  // five fit; the oldest goes
  EXPECT_THAT(text, HasSubstr("EVENTS"));
}

TEST(TopFrame, ATooSmallTerminalSaysSo) {
  const auto report = fixture_report("v1-limited");
  TopView view;
  view.width = 30;
  view.height = 8;
  const auto lines = render_top(&report, {}, {}, view);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_THAT(lines[0].text, HasSubstr("too small"));
  EXPECT_LE(lines[0].text.size(), 30u);
}

TEST(TopFrame, HelpReplacesTheTableAndPauseIsSaid) {
  const auto report = fixture_report("v1-limited");
  TopView view;
  view.help = true;
  view.paused = true;
  const auto text = joined(render_top(&report, {}, {}, view));
  EXPECT_THAT(text, HasSubstr("sort by USS"));
  EXPECT_THAT(text, Not(HasSubstr("PROCESSES")));
  EXPECT_THAT(text, HasSubstr("[paused]"));
}

TEST(TopFrame, BeforeTheFirstSampleItSaysSoWithoutFigures) {
  TopView view;
  const auto lines = render_top(nullptr, {}, {}, view);
  ASSERT_EQ(lines.size(), view.height);
  EXPECT_THAT(top_text(lines), HasSubstr("reading the first sample"));
}

// --- the time to the limit -------------------------------------------------------------------

/// `seconds` of points, one a second, from `start` bytes at `per_minute` bytes a minute.
std::vector<analysis::Point> series(double start, double per_minute, int seconds) {
  std::vector<analysis::Point> points;
  for (int t = 0; t <= seconds; ++t) points.push_back({double(t), start + per_minute * t / 60});
  return points;
}

TEST(TopTimeToLimit, IsTheTimeAtTheFittedRate) {
  const auto points = series(500.0 * kMiB, 10.0 * kMiB, 60);
  // 510 MiB used, 514 MiB left at 10 MiB a minute: 51.4 minutes.
  EXPECT_EQ(
      time_to_limit_words(points, kGiB),
      fmt::format("time to limit: 51m 24s at {}/min (fitted over 60s)", signed_bytes(10.0 * kMiB)));
}

TEST(TopTimeToLimit, SaysNoneWhenFlatOrFallingAndNeverANumber) {
  std::vector<analysis::Point> flat;
  for (int t = 0; t <= 60; ++t) flat.push_back({double(t), 500.0 * kMiB + (t % 2) * 8192.0});
  EXPECT_EQ(time_to_limit_words(flat, kGiB), "time to limit: none (not growing)");
  EXPECT_EQ(time_to_limit_words(series(900.0 * kMiB, -50.0 * kMiB, 60), kGiB),
            "time to limit: none (not growing)");
}

TEST(TopTimeToLimit, IsUnknownWithoutALimitOrEnoughPoints) {
  EXPECT_EQ(time_to_limit_words(series(1.0 * kMiB, 10.0 * kMiB, 60), std::nullopt),
            "time to limit: unknown (no limit known)");
  EXPECT_EQ(time_to_limit_words(series(1.0 * kMiB, 10.0 * kMiB, 1), kGiB),
            "time to limit: unknown (measuring the rate)");
  EXPECT_EQ(time_to_limit_words(series(1.0 * kMiB, 10.0 * kMiB, 5), kGiB),
            "time to limit: unknown (measuring the rate)");  // 6 points over 5 s: too short
}

TEST(TopTimeToLimit, OverTheLimitSaysSoAndFarAwaySaysMoreThanAMonth) {
  EXPECT_THAT(time_to_limit_words(series(1030.0 * kMiB, 10.0 * kMiB, 60), kGiB),
              StartsWith("time to limit: at the limit now, at +"));
  // 1 MiB a minute with 100 GiB left: 71 days.
  EXPECT_THAT(time_to_limit_words(series(1.0 * kGiB, 1.0 * kMiB, 60), 101 * kGiB),
              StartsWith("time to limit: more than 30 days at +"));
}

TEST(TopHistory, FitsTheObservationsOfTheLastMinuteOnly) {
  using namespace std::chrono;
  TopHistory history;
  const system_clock::time_point t0{seconds(1'000'000)};
  analysis::EffectiveMemory m;
  m.scope = analysis::Scope::kContainer;
  m.limit_bytes = kGiB;
  // Two minutes: the first falls fast (not kept), the last rises 10 MiB a minute.
  for (int s = 0; s <= 60; ++s) {
    m.used_bytes = 1000 * kMiB - static_cast<std::uint64_t>(s) * 10 * kMiB;
    history.observe(t0 + seconds(s), m);
  }
  for (int s = 1; s <= 60; ++s) {
    m.used_bytes = 400 * kMiB + static_cast<std::uint64_t>(s) * kMiB / 6;
    history.observe(t0 + seconds(60 + s), m);
  }
  // 410 MiB used, 614 MiB left at 10 MiB a minute: 61.4 minutes.
  EXPECT_THAT(history.time_to_limit(), StartsWith("time to limit: 1h 01m at +"));
  m.scope = analysis::Scope::kUnknown;
  history.observe(t0 + seconds(121), m);
  EXPECT_EQ(history.time_to_limit(), "time to limit: unknown (no limit known)");
}

TEST(TopFrame, TheHeaderSaysTheTimeToTheLimit) {
  const auto report = fixture_report("v1-limited");
  TopView view;
  EXPECT_THAT(joined(render_top(&report, {}, {}, view)),
              HasSubstr("time to limit: unknown (no history)"));
  TopHistory history;
  history.observe(report.sample.timestamp, report.memory);
  EXPECT_THAT(joined(render_top(&report, {}, {}, view, &history)),
              HasSubstr("time to limit: unknown (measuring the rate)"));
}

// --- growth per minute -----------------------------------------------------------------------

model::ProcessMemory process(int pid, std::string name, std::uint64_t rss,
                             std::optional<std::uint64_t> pss) {
  model::ProcessMemory p;
  p.pid = pid;
  p.name = std::move(name);
  p.rss_bytes = rss;
  p.pss_bytes = pss;
  p.uss_bytes = pss;
  return p;
}

TEST(TopHistory, GrowthIsPerMinuteOverTheSamplesSeenAndNewPidsHaveNone) {
  using namespace std::chrono;
  TopHistory history;
  const system_clock::time_point t0{seconds(1'000'000)};
  history.observe_processes(t0, {process(1, "python3", 300 * kMiB, 100 * kMiB),
                                 process(2, "redis", 50 * kMiB, std::nullopt)});
  EXPECT_FALSE(history.growth_per_minute(1, "python3")) << "one sample: no rate";
  history.observe_processes(t0 + seconds(30), {process(1, "python3", 300 * kMiB, 110 * kMiB),
                                               process(2, "redis", 40 * kMiB, std::nullopt),
                                               process(3, "new", kMiB, kMiB)});
  EXPECT_DOUBLE_EQ(history.growth_per_minute(1, "python3").value(), 20.0 * kMiB);  // PSS
  EXPECT_DOUBLE_EQ(history.growth_per_minute(2, "redis").value(), -20.0 * kMiB);   // RSS
  EXPECT_FALSE(history.growth_per_minute(3, "new"));
  // Pid 1 reused by another program: its series starts over, never mixed.
  history.observe_processes(t0 + seconds(60), {process(1, "bash", kMiB, kMiB)});
  EXPECT_FALSE(history.growth_per_minute(1, "bash"));
  EXPECT_FALSE(history.growth_per_minute(1, "python3"));
  EXPECT_FALSE(history.growth_per_minute(2, "redis")) << "gone: forgotten";
}

TEST(TopHistory, GrowthIsOverTheLastEightSamples) {
  using namespace std::chrono;
  TopHistory history;
  const system_clock::time_point t0{seconds(1'000'000)};
  // 100 MiB a minute for 4 samples, then flat for 8: the rate of the last 8 is 0.
  std::uint64_t pss = 100 * kMiB;
  for (int i = 0; i < 12; ++i) {
    if (i < 4) pss += 100 * kMiB;
    history.observe_processes(t0 + minutes(i), {process(7, "w", pss, pss)});
  }
  EXPECT_DOUBLE_EQ(history.growth_per_minute(7, "w").value(), 0.0);
}

/// The shared-workers fixture's report seen twice, 60 s apart, pid 101 grown by 6 MiB of PSS.
struct Grown {
  analysis::Report report = fixture_report("shared-workers");
  TopHistory history;
  analysis::ProcessGroup group;
  Grown() {
    using namespace std::chrono;
    const auto at = report.sample.timestamp;
    history.observe_processes(at - seconds(60), report.sample.processes);
    for (auto& p : report.sample.processes) {
      if (p.pid == 101) *p.pss_bytes += 6 * kMiB, p.rss_bytes += 6 * kMiB;
    }
    history.observe_processes(at, report.sample.processes);
    for (const auto& p : report.sample.processes) {
      if (p.pid == 100) group.parent = model::ProcessNode{p};
      if (p.pid >= 101 && p.pid <= 104) group.members.push_back({model::ProcessNode{p}, {}, {}});
    }
  }
};

TEST(TopFrame, RowsShowGrowthAndGroupsSumIt) {
  const Grown grown;
  TopView view;
  view.sort = TopSort::kGrowth;
  const auto rows = top_rows(grown.report, {}, view, &grown.history);
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.front().pid, 101);  // the only one that grew
  EXPECT_DOUBLE_EQ(rows.front().growth_per_minute.value(), 6.0 * kMiB);
  const auto grouped = top_rows(grown.report, {grown.group}, view, &grown.history);
  EXPECT_EQ(grouped.front().pid, 100);
  EXPECT_TRUE(grouped.front().group);
  EXPECT_DOUBLE_EQ(grouped.front().growth_per_minute.value(), 6.0 * kMiB);
  view.height = 0;
  const auto text = joined(render_top(&grown.report, {}, {}, view, &grown.history));
  EXPECT_THAT(text, HasSubstr("GROW/m*"));
  EXPECT_THAT(text, HasSubstr(signed_bytes(6.0 * kMiB)));
  // Without history every growth is "-", never a zero.
  for (const auto& r : top_rows(grown.report, {}, view)) EXPECT_FALSE(r.growth_per_minute);
}

// --- keys: selection, expansion, the node view -----------------------------------------------

TEST(TopKeys, DownAndEnterExpandAGroupAndEnterAgainFoldsIt) {
  const Grown grown;
  TopView view;
  const std::vector<analysis::ProcessGroup> groups{grown.group};
  auto rows = top_rows(grown.report, groups, view);
  const auto group_at = static_cast<std::size_t>(
      std::find_if(rows.begin(), rows.end(), [](const TopRow& r) { return r.group; }) -
      rows.begin());
  ASSERT_LT(group_at, rows.size());
  // Nothing selected is the first row; Down then Up selects it by name.
  (void)apply_key(kTopDown, view, rows, {});
  (void)apply_key(kTopUp, view, rows, {});
  ASSERT_EQ(view.selected, std::pair(rows.front().pid, rows.front().member));
  for (std::size_t i = 0; i < group_at; ++i) {
    EXPECT_EQ(apply_key(kTopDown, view, rows, {}), TopAction::kNone);
  }
  ASSERT_EQ(view.selected, std::pair(100, false));
  EXPECT_EQ(apply_key(kTopEnter, view, rows, {}), TopAction::kNone);
  EXPECT_TRUE(view.expanded.contains(100));
  rows = top_rows(grown.report, groups, view);
  ASSERT_EQ(rows.size(), top_rows(grown.report, groups, TopView{}).size() + 5);
  for (std::size_t i = 1; i <= 5; ++i) {
    EXPECT_TRUE(rows[group_at + i].member);
    EXPECT_THAT(rows[group_at + i].name, StartsWith("  - "));
  }
  // The selected row is drawn as such; the members follow with their own figures.
  view.height = 40;
  const auto lines = render_top(&grown.report, groups, {}, view);
  const auto selected = std::find_if(lines.begin(), lines.end(),
                                     [](const TopLine& l) { return l.tone == TopTone::kSelected; });
  ASSERT_NE(selected, lines.end());
  EXPECT_THAT(selected->text, HasSubstr("(+4 workers)"));
  EXPECT_THAT((selected + 1)->text, HasSubstr("  - "));
  // Down past the last row stays on it; Up at the top stays on the first.
  for (int i = 0; i < 50; ++i) (void)apply_key(kTopDown, view, rows, {});
  EXPECT_EQ(view.selected, std::pair(rows.back().pid, rows.back().member));
  for (int i = 0; i < 50; ++i) (void)apply_key('k', view, rows, {});
  EXPECT_EQ(view.selected, std::pair(rows.front().pid, rows.front().member));
  for (std::size_t i = 0; i < group_at; ++i) (void)apply_key('j', view, rows, {});
  (void)apply_key('e', view, rows, {});
  EXPECT_FALSE(view.expanded.contains(100));
  EXPECT_EQ(top_rows(grown.report, groups, view).size(), rows.size() - 5);
}

TEST(TopKeys, SortFilterHelpPauseAndQuit) {
  TopView view;
  EXPECT_EQ(apply_key('m', view, {}, {}), TopAction::kNone);
  EXPECT_EQ(view.sort, TopSort::kGrowth);
  (void)apply_key('u', view, {}, {});
  EXPECT_EQ(view.sort, TopSort::kUss);
  (void)apply_key('/', view, {}, {});
  for (const char c : std::string("redx")) (void)apply_key(c, view, {}, {});
  (void)apply_key(kTopBackspace, view, {}, {});
  (void)apply_key('q', view, {}, {});  // typed into the filter, not quitting
  EXPECT_EQ(apply_key(kTopEnter, view, {}, {}), TopAction::kNone);
  EXPECT_EQ(view.filter, "redq");
  EXPECT_FALSE(view.editing_filter);
  (void)apply_key(kTopEscape, view, {}, {});
  EXPECT_EQ(view.filter, "");
  (void)apply_key(' ', view, {}, {});
  EXPECT_TRUE(view.paused);
  (void)apply_key('?', view, {}, {});
  EXPECT_TRUE(view.help);
  EXPECT_EQ(apply_key('x', view, {}, {}), TopAction::kNone);  // closes the help only
  EXPECT_FALSE(view.help);
  EXPECT_EQ(apply_key('q', view, {}, {}), TopAction::kQuit);
}

analysis::ContainerView container(std::string path, std::string display, std::uint64_t used) {
  analysis::ContainerView c;
  c.path = std::move(path);
  c.identity.display = std::move(display);
  c.memory.scope = analysis::Scope::kContainer;
  c.memory.used_bytes = used;
  c.memory.limit_bytes = kGiB;
  c.memory.available_bytes = kGiB - used;
  c.memory.used_percent = 100.0 * static_cast<double>(used) / static_cast<double>(kGiB);
  c.level = analysis::Level::kNormal;
  return c;
}

TEST(TopKeys, TheNodeViewListsContainersAndEnterOpensTheSelectedOne) {
  auto report = fixture_report("v1-limited");
  report.containers = {container("/docker/aaa", "docker aaa", 600 * kMiB),
                       container("/docker/bbb", "docker bbb", 100 * kMiB)};
  TopView view;
  view.containers = true;
  const auto text = joined(render_top(&report, {}, {}, view));
  EXPECT_THAT(text, HasSubstr("CONTAINERS 2 of 2"));
  EXPECT_THAT(text, HasSubstr("docker aaa"));
  EXPECT_THAT(text, HasSubstr("/docker/bbb"));
  EXPECT_THAT(text, HasSubstr("Enter open"));
  EXPECT_THAT(text, Not(HasSubstr("PROCESSES")));

  auto containers = top_containers(report, view);
  ASSERT_EQ(containers.size(), 2u);
  (void)apply_key(kTopDown, view, {}, containers);
  (void)apply_key(kTopDown, view, {}, containers);  // stays on the last
  EXPECT_EQ(view.selected_container, 1u);
  EXPECT_EQ(apply_key(kTopEnter, view, {}, containers), TopAction::kOpen);
  EXPECT_EQ(view.opened, "/docker/bbb");
  // Opened: the processes of the container, and Esc goes back to the list.
  EXPECT_THAT(joined(render_top(&report, {}, {}, view)), HasSubstr("PROCESSES"));
  EXPECT_EQ(apply_key(kTopEscape, view, {}, {}), TopAction::kBack);
  EXPECT_FALSE(view.opened);
  EXPECT_EQ(apply_key(kTopEnter, view, {}, containers), TopAction::kOpen);
  EXPECT_EQ(apply_key(kTopBackspace, view, {}, {}), TopAction::kBack);
  // The filter picks containers by name.
  view.filter = "aaa";
  containers = top_containers(report, view);
  ASSERT_EQ(containers.size(), 1u);
  view.selected_container = 0;
  EXPECT_EQ(apply_key(kTopEnter, view, {}, containers), TopAction::kOpen);
  EXPECT_EQ(view.opened, "/docker/aaa");
  EXPECT_EQ(view.filter, "") << "the container's processes are not filtered by its name";
}

TEST(TopKeys, TheTableScrollsToKeepTheSelectedRowInSight) {
  const auto report = fixture_report("shared-workers");
  TopView view;
  view.width = 100;
  view.height = 14;  // a few table rows only
  const auto rows = top_rows(report, {}, view);
  ASSERT_GT(rows.size(), 3u);
  for (std::size_t i = 0; i < rows.size(); ++i) (void)apply_key(kTopDown, view, rows, {});
  ASSERT_EQ(view.selected, std::pair(rows.back().pid, false));
  const auto lines = render_top(&report, {}, {}, view);
  ASSERT_EQ(lines.size(), 14u);
  const auto selected = std::find_if(lines.begin(), lines.end(),
                                     [](const TopLine& l) { return l.tone == TopTone::kSelected; });
  ASSERT_NE(selected, lines.end()) << top_text(lines);
  EXPECT_THAT(selected->text, StartsWith(fmt::format("{:>8}", rows.back().pid)));
  // The first row scrolled out of sight to make room.
  EXPECT_THAT(top_text(lines), Not(HasSubstr(fmt::format("{:>8} ", rows.front().pid))));
}

}  // namespace
}  // namespace memopt::render
