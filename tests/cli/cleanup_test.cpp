// `memopt cleanup` on fixture trees: the plan of --dry-run, writes that land in the tree's
// control files, and read-only or absent /proc/sys reported as skipped, never as an error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::cli {
namespace {

using ::testing::HasSubstr;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

testing::RunResult cleanup_on(const testing::TempTree& tree, std::vector<std::string> extra) {
  std::vector<std::string> args{"cleanup", "--procfs", tree.path("proc"), "--sysfs",
                                tree.path("sys")};
  args.insert(args.end(), extra.begin(), extra.end());
  return testing::run_memopt(args, {kNoNvml, "MEMOPT_RUNTIME_DIR=" + tree.mkdir("run")});
}

TEST(CleanupCommand, DryRunPrintsThePlanAndWritesNothing) {
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("proc/sys/vm/drop_caches", "");
  const auto result = cleanup_on(tree, {"--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("dry run"));
  EXPECT_THAT(result.out, HasSubstr("drop_caches"));
  EXPECT_THAT(result.out, HasSubstr("would write '1'"));
  EXPECT_THAT(result.out, HasSubstr("cgroup v1 has no memory.reclaim"));
  EXPECT_EQ(testing::slurp(tree.path("proc/sys/vm/drop_caches")), "");
}

TEST(CleanupCommand, AggressiveWritesThroughTheRealActuator) {
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("proc/sys/vm/drop_caches", "");
  tree.write("proc/sys/vm/compact_memory", "");
  const auto result = cleanup_on(tree, {"--aggressive", "--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(testing::slurp(tree.path("proc/sys/vm/drop_caches")), "3");
  EXPECT_EQ(testing::slurp(tree.path("proc/sys/vm/compact_memory")), "1");
  const auto json = nlohmann::json::parse(result.out);
  ASSERT_EQ(json["steps"].size(), 5u);
  EXPECT_EQ(json["steps"][2]["status"], "done");
  EXPECT_EQ(json["steps"][4]["name"], "shm_orphans");  // the fixture has no /dev/shm
  EXPECT_EQ(json["steps"][4]["status"], "skipped");
  EXPECT_TRUE(json["steps"][2].contains("reclaimed_bytes"));
  EXPECT_TRUE(json["before"].contains("container_usage_bytes"));
  EXPECT_TRUE(json["after"].contains("host_available_bytes"));
  EXPECT_TRUE(json["reclaimed_bytes"].is_number_integer());
}

TEST(CleanupCommand, AbsentProcSysIsSkippedNotAnError) {
  testing::TempTree tree;
  tree.copy_fixture("v2-max-everywhere");
  const auto result = cleanup_on(tree, {"--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["steps"][0]["status"], "skipped");
  EXPECT_EQ(json["steps"][2]["name"], "drop_caches");
  EXPECT_EQ(json["steps"][2]["status"], "skipped");
  EXPECT_THAT(json["steps"][2]["reason"].get<std::string>(), HasSubstr("does not exist"));
}

TEST(CleanupCommand, ReadOnlyProcSysSaysItNeedsAdminRights) {
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("proc/sys/vm/drop_caches", "");
  const auto path = tree.path("proc/sys/vm/drop_caches");
  if (::geteuid() == 0)
    GTEST_SKIP() << "root writes any file; EACCES/EROFS are covered with the actuator twin";
  ASSERT_EQ(::chmod(path.c_str(), 0444), 0);
  const auto result = cleanup_on(tree, {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("needs admin rights"));
}

}  // namespace
}  // namespace memopt::cli
