// Hostile numbers: sizes that would wrap when summed, a usage of 2^64 - 1, NaN and infinity in
// the config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "memopt/analysis/report.hpp"
#include "memopt/config.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

TEST(HostileNumbers, SaturatingAdd) {
  EXPECT_EQ(saturating_add(1, 2), 3u);
  EXPECT_EQ(saturating_add(UINT64_MAX - 1024, 3584 * kKiB), UINT64_MAX);
  EXPECT_EQ(saturating_add(UINT64_MAX, UINT64_MAX), UINT64_MAX);
  EXPECT_EQ(saturating_add(UINT64_MAX - 5, 5), UINT64_MAX);
}

TEST(HostileNumbers, UssOfHostileRollupDoesNotWrap) {
  // Private_Clean of 2^64 - 1024 B (the largest kB count that fits) plus 3.5 MiB dirty: the
  // sum used to wrap to about 3.5 MiB.
  const std::string text =
      "00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\n"
      "Rss:             3584 kB\nPss:             3584 kB\n"
      "Private_Clean:   18014398509481983 kB\nPrivate_Dirty:   3584 kB\nSwap: 0 kB\n";
  const auto rollup = readers::parse_smaps_rollup(text, "smaps_rollup");
  ASSERT_TRUE(rollup);
  EXPECT_EQ(rollup->uss_bytes, UINT64_MAX);
}

TEST(HostileNumbers, RssSumOfHostileProcessesDoesNotWrap) {
  model::Sample sample;
  sample.host.total_bytes = 8 * kGiB;
  sample.host.available_bytes = 4 * kGiB;
  model::ProcessMemory a;
  a.pid = 1;
  a.rss_bytes = UINT64_MAX - 1024;
  a.pss_bytes = 1 * kMiB;
  model::ProcessMemory b = a;
  b.pid = 2;
  b.rss_bytes = 3584 * kKiB;
  sample.processes = {a, b};
  const auto report = analysis::analyze(sample, {});
  bool found = false;
  for (const auto& advice : report.advice) {
    if (advice.id != "rss_double_counts") continue;
    found = true;
    EXPECT_THAT(advice.message, HasSubstr("16.0 EiB")) << advice.message;
  }
  EXPECT_TRUE(found) << "a wrapped sum (3.5 MiB) would not exceed the PSS sum";
}

TEST(HostileNumbers, UsageOfTwoToThe64SaturatesUsedPercentAndSaysSo) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("sys/fs/cgroup/kubepods/pod1/ctr/memory.current", "18446744073709551615\n");
  const auto r = testing::run_memopt(
      {"report", "--json", "--procfs", tree.path("proc"), "--sysfs", tree.path("sys")},
      {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["memory"]["used_percent"].get<double>(), 100.0);
  EXPECT_EQ(doc["status"]["level"], "danger");
  EXPECT_THAT(doc["status"]["reasons"].dump(), HasSubstr("above its limit"));
}

TEST(HostileNumbers, EffectiveMemoryFlagsAWorkingSetAboveTheLimit) {
  model::Sample sample;
  sample.host.total_bytes = 8 * kGiB;
  sample.host.available_bytes = 4 * kGiB;
  model::CgroupMemory cgroup;
  cgroup.limit_bytes = 1 * kGiB;
  cgroup.usage_bytes = UINT64_MAX;
  cgroup.working_set_bytes = UINT64_MAX;
  sample.cgroup = cgroup;
  const auto m = analysis::effective_memory(sample);
  EXPECT_EQ(m.used_percent, 100.0);
  EXPECT_TRUE(m.over_limit);
  sample.cgroup->working_set_bytes = kGiB / 2;
  EXPECT_FALSE(analysis::effective_memory(sample).over_limit);
  EXPECT_DOUBLE_EQ(analysis::effective_memory(sample).used_percent, 50.0);
}

TEST(HostileNumbers, NanAndInfinityAreRejectedInEveryFloatKey) {
  const std::vector<std::pair<std::string, std::string>> keys = {
      {"thresholds", "acceptable_percent"},
      {"thresholds", "warning_percent"},
      {"thresholds", "severe_percent"},
      {"thresholds", "margin_percent"},
      {"pressure", "some_avg10"},
      {"pressure", "full_avg10"},
      {"leak", "window_s"},
      {"leak", "min_slope_mib_per_hour"},
      {"leak", "min_r2"},
      {"forecast", "window_s"},
      {"forecast", "horizon_s"},
      {"forecast", "min_r2"}};
  for (const auto& [table, key] : keys) {
    for (const std::string value : {"nan", "+nan", "-nan", "inf", "-inf"}) {
      const std::string text = "[" + table + "]\n" + key + " = " + value + "\n";
      try {
        (void)config::parse_monitor_config(text, "memopt.toml", {});
        ADD_FAILURE() << text << "was accepted";
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), Error::Kind::kUsage);
        EXPECT_THAT(e.what(), HasSubstr("[" + table + "] " + key)) << e.what();
        EXPECT_THAT(e.what(), HasSubstr("finite")) << e.what();
      }
    }
  }
}

}  // namespace
}  // namespace memopt
