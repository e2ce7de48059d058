// What `memopt cleanup` prints: no negative totals, growth said as growth, the largest holder
// named with what would free it; and a process's leak report.
#include "memopt/render/cleanup.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  report.steps.push_back({"drop_caches", "done", "", -4 * kKiB});
  report.steps.push_back({"cgroup_reclaim", "done", "", -3 * kMiB});
  actions::CooperatingProcess process;
  process.pid = 77;
  process.name = "python3";
  process.status = "done";
  process.released_bytes = -4 * kKiB;
  report.processes.push_back(process);
  report.reclaimed_bytes = -224 * kKiB;
  return report;
}

TEST(CleanupText, NoNegativeFigureAndNoiseIsNothing) {
  const auto text = render_cleanup_text(noisy_report());
  EXPECT_FALSE(std::regex_search(text, std::regex(R"((reclaimed|released):? -)"))) << text;
  EXPECT_THAT(text, HasSubstr("reclaimed: nothing\n"));
  EXPECT_THAT(text, HasSubstr("released nothing"));
  EXPECT_THAT(text, HasSubstr("drop_caches     done     reclaimed nothing"));
  EXPECT_THAT(text, HasSubstr("reclaimed nothing (usage grew by 3.00 MiB meanwhile)"));
}

TEST(CleanupText, RealReleasesAreShown) {
  auto report = noisy_report();
  report.reclaimed_bytes = 300 * kMiB;
  EXPECT_THAT(render_cleanup_text(report), HasSubstr("reclaimed: 300 MiB"));
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
  const auto text = render_leaks_text(
      R"({"pid":42,"checkpoints":8,"duration_s":70.0,"rss_growth_bytes":31457280,)"
      R"("python_growth_bytes":1048576,"torch_cpu_growth_bytes":29360128,)"
      R"("unexplained_native_growth_bytes":1048576,"sites":[)"
      R"({"file":"app.py","line":17,"kind":"native","size_bytes":29360128,"count":400,)"
      R"("growth_bytes":29360128,"growth_bytes_per_hour":1509949440,"r2":0.99}]})");
  EXPECT_THAT(text, HasSubstr("pid 42"));
  EXPECT_THAT(text, HasSubstr("  app.py:17  native  28.0 MiB in 400"));
  EXPECT_THAT(text, HasSubstr("native memory"));
  EXPECT_THAT(render_leaks_text(R"({"pid":42,"error":"no leak check is running"})"),
              HasSubstr("no leak check is running"));
  EXPECT_THROW((void)render_leaks_text("not json"), Error);
}

TEST(LeaksText, OnlyAnObjectWithoutErrorIsAReport) {
  EXPECT_TRUE(is_leaks_report(R"({"pid":42,"checkpoints":8,"sites":[]})"));
  EXPECT_FALSE(is_leaks_report(R"({"pid":42,"error":"no leak check is running"})"));
  EXPECT_FALSE(is_leaks_report(R"([{"pid":42}])"));
  EXPECT_FALSE(is_leaks_report("not json"));
  EXPECT_FALSE(is_leaks_report(""));
}

}  // namespace
}  // namespace memopt::render
