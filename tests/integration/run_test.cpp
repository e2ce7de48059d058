// `memopt run` against the real kernel: a fresh child cgroup with a limit, real OOM kills,
// exit codes and signals passed through, and the cgroup gone afterwards.
#include "support/run.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/cgroup.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;

/// Skips the test where this machine cannot create memory cgroups.
#define REQUIRE_CGROUPS()                                                              \
  do {                                                                                 \
    std::string why_not;                                                               \
    if (!TestCgroup::create(&why_not)) GTEST_SKIP() << "no cgroups here: " << why_not; \
  } while (false)

/// Child cgroups named memopt-run-* anywhere below this process's memory cgroup.
std::vector<std::string> leftover_run_cgroups() {
  std::vector<std::string> found;
  for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup"}) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory() && it->path().filename().string().rfind("memopt-run-", 0) == 0) {
        found.push_back(it->path().string());
      }
      if (it.depth() > 6) it.disable_recursion_pending();
    }
  }
  return found;
}

nlohmann::json run_json(const std::vector<std::string>& args, int expected_exit) {
  TempTree tmp;
  std::vector<std::string> argv{"run", "--json", "--output", tmp.path("run.json")};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto result = run_memopt(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  EXPECT_EQ(result.exit_code, expected_exit) << result.err;
  return nlohmann::json::parse(slurp(tmp.path("run.json")));
}

TEST(Run, MeasuresAHolderUnderALimitAndRecommendsBySixtyPercent) {
  REQUIRE_CGROUPS();
  const auto run = run_json({"--limit", "1G", "--", MEMOPT_HOLDER, "300", "1500"}, 0);
  EXPECT_EQ(run["exit_code"], 0);
  EXPECT_TRUE(run["signal"].is_null());
  EXPECT_FALSE(run["oom_killed"].get<bool>());
  EXPECT_TRUE(run["limit_applied"].get<bool>());
  EXPECT_EQ(run["limit_bytes"].get<std::uint64_t>(), 1024 * kMiB);
  const auto peak = run["peak_bytes"].get<double>();
  EXPECT_GE(peak, 300 * kMiB * 0.9);
  EXPECT_LE(peak, 300 * kMiB * 1.1);
  EXPECT_GE(run["peak_rss_bytes"].get<double>(), 300 * kMiB * 0.95);
  EXPECT_GE(run["samples"].size(), 5u);
  // The smallest multiple of 256 MiB that keeps the peak at or below 60% of it.
  const auto memory = run["recommendation"]["memory_bytes"].get<std::uint64_t>();
  EXPECT_EQ(memory % (256 * kMiB), 0u);
  EXPECT_LE(peak, 0.6 * static_cast<double>(memory));
  EXPECT_GT(peak, 0.6 * static_cast<double>(memory - 256 * kMiB));
  EXPECT_EQ(run["recommendation"]["memory_swap_bytes"].get<std::uint64_t>(), 2 * memory);
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(Run, DetectsARealOomKill) {
  REQUIRE_CGROUPS();
  const auto run = run_json({"--limit", "256M", "--", MEMOPT_HOLDER, "400", "1000"}, 137);
  EXPECT_TRUE(run["oom_killed"].get<bool>());
  EXPECT_EQ(run["signal"], 9);
  EXPECT_EQ(run["exit_code"], 137);
  EXPECT_TRUE(run["recommendation"].is_null());
  EXPECT_TRUE(leftover_run_cgroups().empty());

  const auto text = run_memopt({"run", "--limit", "256M", "--", MEMOPT_HOLDER, "400", "1000"});
  EXPECT_EQ(text.exit_code, 137);
  EXPECT_NE(text.out.find("killed by the OOM killer at the 256 MiB limit"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("the true peak is unknown"), std::string::npos);
}

TEST(Run, PassesExitCodesAndSignalsThrough) {
  REQUIRE_CGROUPS();
  EXPECT_EQ(run_json({"--", "sh", "-c", "exit 3"}, 3)["exit_code"], 3);
  const auto killed = run_json({"--", "sh", "-c", "kill -TERM $$"}, 143);
  EXPECT_EQ(killed["signal"], 15);
  EXPECT_FALSE(killed["oom_killed"].get<bool>());
  EXPECT_EQ(run_memopt({"run", "--", "/nonexistent/command"}).exit_code, 127);
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(Run, ForwardsSigtermToTheCommand) {
  REQUIRE_CGROUPS();
  TempTree tmp;
  const std::string marker = tmp.path("got-term");
  std::thread killer([] {
    // memopt run is the only child of this test named memopt that runs `sleep 30`.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    (void)run_command({"pkill", "-TERM", "-f", "^" MEMOPT_BINARY " run --"});
  });
  const auto result = run_memopt(
      {"run", "--", "sh", "-c", "trap 'touch " + marker + "; exit 42' TERM; sleep 30 & wait"});
  killer.join();
  EXPECT_EQ(result.exit_code, 42) << result.err;
  EXPECT_TRUE(std::filesystem::exists(marker));
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(Run, UsageErrors) {
  EXPECT_EQ(run_memopt({"run", "--limit", "lots", "--", "true"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"run", "--swap", "1G", "--", "true"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"run"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"run", "--sample-ms", "0", "--", "true"}).exit_code, 2);
}

}  // namespace
}  // namespace memopt::testing

namespace memopt::testing {
namespace {

TEST(Run, WithoutCgroupsItRunsUnconstrainedAndSaysSo) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";
  if (::access(MEMOPT_BINARY, X_OK) != 0) GTEST_SKIP() << "binary not reachable";
  // An unprivileged user cannot create cgroups: the command must still run and be measured.
  const auto result =
      run_command({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", MEMOPT_BINARY,
                   "run", "--limit", "1G", "--json", "--", MEMOPT_HOLDER, "100", "800"},
                  {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  if (result.exit_code == 126 || result.exit_code == 127)
    GTEST_SKIP() << "cannot run as nobody: " << result.err;
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("the limit was NOT applied"), std::string::npos) << result.err;
  const auto run = nlohmann::json::parse(result.out);
  EXPECT_FALSE(run["limit_applied"].get<bool>());
  EXPECT_GE(run["peak_rss_bytes"].get<double>(), 100 * kMiB * 0.95);
}

}  // namespace
}  // namespace memopt::testing
