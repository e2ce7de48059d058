// `memopt monitor` against captured trees: what it must not do to them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

using ::testing::HasSubstr;

TEST(MonitorOnACapturedTree, RegistersNoPsiTriggerAndLeavesThePressureFilesAlone) {
  TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string cgroup_pressure = "sys/fs/cgroup/kubepods/pod1/ctr/memory.pressure";
  const auto host_before = slurp(tree.path("proc/pressure/memory"));
  const auto cgroup_before = slurp(tree.path(cgroup_pressure));

  const auto result = run_memopt({"monitor", "--json", "--duration", "1", "--procfs",
                                  tree.path("proc"), "--sysfs", tree.path("sys")},
                                 {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // A trigger written there would have been a line appended to a plain file.
  EXPECT_EQ(slurp(tree.path("proc/pressure/memory")), host_before);
  EXPECT_EQ(slurp(tree.path(cgroup_pressure)), cgroup_before);

  // The first sample (an `initial` level_changed event may come before it: the fixture is
  // above normal).
  std::istringstream lines(result.out);
  nlohmann::json sample;
  for (std::string line; std::getline(lines, line);) {
    sample = nlohmann::json::parse(line);
    if (sample["type"] == "sample") break;
  }
  ASSERT_EQ(sample["type"], "sample");
  nlohmann::json note;
  for (const auto& a : sample["advice"]) {
    if (a["id"] == "no_pressure_trigger") note = a;
  }
  ASSERT_FALSE(note.is_null()) << sample["advice"];
  EXPECT_THAT(note["message"].get<std::string>(),
              HasSubstr(cgroup_pressure + " is not on procfs or cgroup2"));
  EXPECT_THAT(result.err, HasSubstr("no PSI trigger"));
}

}  // namespace
}  // namespace memopt::testing
