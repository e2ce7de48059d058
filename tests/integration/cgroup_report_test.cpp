// `memopt report --json` run inside a real child memory cgroup with a 1 GiB limit, while a
// holder process in the same cgroup grows across every threshold.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

constexpr std::uint64_t kLimit = 1024 * kMiB;

nlohmann::json report_inside(const TestCgroup& cgroup) {
  auto argv = cgroup.enter_command();
  argv.insert(argv.end(), {MEMOPT_BINARY, "report", "--json"});
  const auto result = run_command(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return nlohmann::json::parse(result.out);
}

TEST(CgroupReport, LevelsFollowAHolderAcrossEveryThreshold) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(kLimit);

  Holder holder;
  cgroup->add(holder.pid());

  struct Step {
    unsigned mib;
    const char* level;
  };
  // With a 1 GiB limit: 70% = 717 MiB, 80% = 819 MiB, 90% = 922 MiB, danger under 50 MiB free.
  const Step steps[] = {{300, "normal"}, {760, "acceptable"}, {860, "warning"},
                        {945, "severe"}, {995, "danger"},     {200, "normal"}};
  for (const auto& step : steps) {
    SCOPED_TRACE(step.mib);
    ASSERT_TRUE(holder.hold(step.mib)) << "holder died";
    const auto report = report_inside(*cgroup);
    const auto& memory = report["memory"];
    EXPECT_EQ(memory["scope"], "container");
    EXPECT_EQ(memory["limit_bytes"].get<std::uint64_t>(), kLimit);
    EXPECT_EQ(report["cgroup"]["limit_bytes"].get<std::uint64_t>(), kLimit);
    // The holder's memory plus a few MiB for the holder's and memopt's own pages.
    const auto used = memory["used_bytes"].get<std::uint64_t>();
    EXPECT_GE(used, step.mib * kMiB);
    EXPECT_LE(used, step.mib * kMiB + 24 * kMiB);
    EXPECT_EQ(memory["available_bytes"].get<std::uint64_t>(), kLimit - used);
    EXPECT_EQ(report["status"]["level"], step.level);
  }
}

TEST(CgroupReport, CheckExitCodesFollowTheLevel) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(kLimit);
  Holder holder;
  cgroup->add(holder.pid());

  const std::pair<unsigned, int> steps[] = {{100, 0}, {860, 1}, {945, 2}};
  for (const auto& [mib, code] : steps) {
    ASSERT_TRUE(holder.hold(mib));
    auto argv = cgroup->enter_command();
    argv.insert(argv.end(), {MEMOPT_BINARY, "report", "--check"});
    const auto result = run_command(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
    EXPECT_EQ(result.exit_code, code) << result.out << result.err;
  }
}

}  // namespace
}  // namespace memopt::testing
