#include "memopt/render/top.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
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
    analysis::Event e;
    e.kind = analysis::EventKind::kLevelChanged;
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

}  // namespace
}  // namespace memopt::render
