// The --timeline page in a real headless Chromium: the chart library loads from the page
// itself (no network), the chart draws, and the numbers match the run. A screenshot is kept
// in the build tree (tests/artifacts/) for people to look at.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

TEST(Timeline, RendersInHeadlessChromiumWithAVisibleChart) {
  if (chromium() == nullptr)
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  std::string why_not;
  const bool cgroups = TestCgroup::create(&why_not) != nullptr;
  TempTree tmp;
  const std::string page = tmp.path("timeline.html");
  std::vector<std::string> args{"run",        "--json", "--output", tmp.path("run.json"),
                                "--timeline", page};
  if (cgroups) args.insert(args.end(), {"--limit", "256M"});
  args.insert(args.end(), {"--", MEMOPT_HOLDER, "120", "1200"});
  const auto run = run_memopt(args, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto html = slurp(page);
  EXPECT_EQ(html.find("<script src="), std::string::npos) << "the page must not load anything";
  EXPECT_EQ(html.find("http://"), std::string::npos);

  auto dump = headless_chromium(tmp.path("profile"));
  dump.insert(dump.end(), {"--dump-dom", "file://" + page});
  const auto dom = run_command(dump);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_NE(dom.out.find("data-rendered=\"yes\""), std::string::npos)
      << "the page script did not finish";
  EXPECT_NE(dom.out.find("class=\"uplot"), std::string::npos) << "no chart";
  EXPECT_NE(dom.out.find("<canvas"), std::string::npos) << "no canvas";
  EXPECT_NE(dom.out.find("Memory (MiB) over time"), std::string::npos);
  const auto result = nlohmann::json::parse(slurp(tmp.path("run.json")));
  EXPECT_NE(dom.out.find(result["recommendation"]["docker_flags"].get<std::string>()),
            std::string::npos);

  const std::filesystem::path artifacts = std::filesystem::path(MEMOPT_ARTIFACTS);
  std::filesystem::create_directories(artifacts);
  auto shot = headless_chromium(tmp.path("profile2"));
  shot.insert(shot.end(),
              {"--window-size=1200,720", "--screenshot=" + (artifacts / "timeline.png").string(),
               "file://" + page});
  const auto screenshot = run_command(shot);
  EXPECT_EQ(screenshot.exit_code, 0) << screenshot.err;
  EXPECT_GT(std::filesystem::file_size(artifacts / "timeline.png"), 10'000u) << "blank screenshot?";
}

}  // namespace
}  // namespace memopt::testing
