// What `memopt cleanup` prints: no negative totals, growth said as growth, the largest holder
// named with what would free it; and a process's leak report.
#include "memopt/render/cleanup.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "memopt/error.hpp"

namespace memopt::render {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kKiB = 1024;
constexpr std::int64_t kMiB = 1024 * kKiB;

actions::CleanupReport noisy_report() {
  actions::CleanupReport report;
  report.steps.push_back({"drop_caches", "done", "", -4 * kKiB, -4 * kKiB});
  report.steps.push_back({"cgroup_reclaim", "done", "", -3 * kMiB, -3 * kMiB});
  actions::CooperatingProcess process;
  process.pid = 77;
  process.name = "python3";
  process.status = "done";
  process.released_bytes = -4 * kKiB;
  report.processes.push_back(process);
  report.reclaimed_bytes = -224 * kKiB;
  report.released_bytes = -224 * kKiB;
  report.page_cache_dropped_bytes = 0;
  return report;
}

TEST(CleanupText, NoNegativeFigureAndNoiseIsNothing) {
  const auto text = render_cleanup_text(noisy_report());
  EXPECT_FALSE(std::regex_search(text, std::regex(R"((reclaimed|released):? -)"))) << text;
  EXPECT_THAT(text, HasSubstr("released: nothing of the working set\n"));
  EXPECT_THAT(text, HasSubstr("released nothing"));
  EXPECT_THAT(text, HasSubstr("drop_caches     done     released nothing"));
  EXPECT_THAT(text, HasSubstr("released nothing (the working set grew by 3.00 MiB meanwhile)"));
}

TEST(CleanupText, RealReleasesAreShown) {
  auto report = noisy_report();
  report.reclaimed_bytes = 300 * kMiB;
  report.released_bytes = 300 * kMiB;
  EXPECT_THAT(render_cleanup_text(report), HasSubstr("released: 300 MiB of the working set"));
}

// The headline is what the level uses, the working set; page cache dropped is shown apart,
// never added to it (measured: "reclaimed: 404 MiB" when the working set fell 81 MiB).
TEST(CleanupText, TheHeadlineIsTheWorkingSetWithPageCacheApart) {
  auto report = noisy_report();
  report.steps = {{"cooperative", "done", "", 81 * kMiB, 81 * kMiB},
                  {"drop_caches", "done", "", 323 * kMiB, 0}};
  report.reclaimed_bytes = 404 * kMiB;
  report.released_bytes = 81 * kMiB;
  report.page_cache_dropped_bytes = 323 * kMiB;
  const auto text = render_cleanup_text(report);
  EXPECT_THAT(text,
              HasSubstr("released: 81.0 MiB of the working set; inactive page cache dropped apart: "
                        "323 MiB\n"));
  EXPECT_THAT(text, Not(HasSubstr("404")));
  EXPECT_THAT(
      text, HasSubstr("drop_caches     done     released nothing (+ 323 MiB inactive page cache)"));
  const auto json = nlohmann::json::parse(render_cleanup_json(report));
  EXPECT_EQ(json["reclaimed_bytes"], 404 * kMiB);  // its meaning kept: usage, cache included
  EXPECT_EQ(json["released_bytes"], 81 * kMiB);
  EXPECT_EQ(json["page_cache_dropped_bytes"], 323 * kMiB);
  EXPECT_EQ(json["steps"][1]["reclaimed_bytes"], 323 * kMiB);
  EXPECT_EQ(json["steps"][1]["released_bytes"], 0);
}

// A dry run released nothing: no "released" and no "reclaimed", an estimate instead.
TEST(CleanupText, ADryRunSaysWouldReleaseAnEstimate) {
  actions::CleanupReport report;
  report.dry_run = true;
  report.steps.push_back({"cooperative", "planned", "would ask 1 process(es) to clean up"});
  actions::CooperatingProcess process;
  process.pid = 77;
  process.name = "python3";
  process.status = "planned";
  process.rss_before_bytes = 100 * kMiB;
  report.processes.push_back(process);
  report.would_release_estimate_bytes = 100 * kMiB;
  const auto text = render_cleanup_text(report);
  EXPECT_THAT(text, HasSubstr("would release (estimate): at most 100 MiB"));
  EXPECT_THAT(text, Not(HasSubstr("released")));
  EXPECT_THAT(text, Not(HasSubstr("reclaimed")));
  const auto json = nlohmann::json::parse(render_cleanup_json(report));
  EXPECT_TRUE(json["released_bytes"].is_null());
  EXPECT_EQ(json["would_release_estimate_bytes"], 100 * kMiB);
}

TEST(CleanupText, TheLastLineNamesAHolderThatDoesNotCooperate) {
  auto report = noisy_report();
  report.largest_holder = actions::MemoryHolder{123, "server", 2048 * kMiB, false};
  const auto text = render_cleanup_text(report);
  const auto last = text.substr(text.rfind('\n', text.size() - 2) + 1);
  EXPECT_THAT(last, HasSubstr("largest holder: pid 123 (server), 2.00 GiB"));
  EXPECT_THAT(last, HasSubstr("memopt.serve_cleanup()"));
  EXPECT_THAT(last, HasSubstr("restart it"));
  report.largest_holder->cooperates = true;
  EXPECT_THAT(render_cleanup_text(report), Not(HasSubstr("restart it")));
}

TEST(LeaksText, NamesEachSiteFileLineFirst) {
  const auto text = render_leaks_text(protocol::decode_leaks_answer(
      R"({"pid":42,"checkpoints":8,"duration_s":70.0,"rss_growth_bytes":31457280,)"
      R"("python_growth_bytes":1048576,"torch_cpu_growth_bytes":29360128,)"
      R"("unexplained_native_growth_bytes":1048576,"sites":[)"
      R"({"file":"app.py","line":17,"kind":"native","size_bytes":29360128,"count":400,)"
      R"("growth_bytes":29360128,"growth_bytes_per_hour":1509949440,"r2":0.99}]})"));
  EXPECT_THAT(text, HasSubstr("pid 42, leak check over 70 s, 8 checkpoints"));
  EXPECT_THAT(text, HasSubstr("RSS +30.0 MiB = Python +1.0 MiB"));
  EXPECT_THAT(text, HasSubstr("  app.py:17  native  28.0 MiB in 400, +1440.0 MiB/h (r2 0.99)"));
  EXPECT_THAT(text, HasSubstr("native memory"));
  protocol::LeaksAnswer none;
  none.pid = 42;
  none.error = "no leak check is running";
  EXPECT_EQ(render_leaks_text(none), "memopt leaks: pid 42: no leak check is running\n");
}

TEST(LeaksText, AFigureTheReportLeftOutIsUnknownNotZero) {
  protocol::LeaksAnswer answer;
  answer.pid = 42;
  answer.checkpoints = 4;
  answer.sites = {{"app.py", std::nullopt, "python", std::nullopt, 3, std::nullopt, 0.5}};
  const auto text = render_leaks_text(answer);
  EXPECT_THAT(text, HasSubstr("leak check over ? s, 4 checkpoints"));
  EXPECT_THAT(text, HasSubstr("RSS ? MiB = Python ? MiB"));
  EXPECT_THAT(text, HasSubstr("  app.py:?  python  ? MiB in 3, ? MiB/h (r2 0.50)"));
}

TEST(LeaksText, OnlyAnAnswerWithoutErrorIsAReport) {
  EXPECT_TRUE(
      is_leaks_report(protocol::decode_leaks_answer(R"({"pid":42,"checkpoints":8,"sites":[]})")));
  EXPECT_FALSE(is_leaks_report(
      protocol::decode_leaks_answer(R"({"pid":42,"error":"no leak check is running"})")));
}

}  // namespace
}  // namespace memopt::render
