#include "memopt/analysis/report.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "memopt/error.hpp"
#include "memopt/units.hpp"

namespace memopt::analysis {
namespace {

using ::testing::HasSubstr;

model::Sample host_sample(std::uint64_t total, std::uint64_t available) {
  model::Sample sample;
  sample.host.total_bytes = total;
  sample.host.free_bytes = available / 2;
  sample.host.available_bytes = available;
  sample.host.swap_total_bytes = 0;
  return sample;
}

model::Sample container_sample(std::uint64_t limit, std::uint64_t working_set,
                               std::uint64_t host_available = 20 * kGiB) {
  auto sample = host_sample(24 * kGiB, host_available);
  model::CgroupMemory cg;
  cg.version = 2;
  cg.path = "/kubepods/pod1/ctr";
  cg.limit_bytes = limit;
  cg.inactive_file_bytes = 10 * kMiB;
  cg.usage_bytes = working_set + *cg.inactive_file_bytes;
  cg.working_set_bytes = working_set;
  sample.cgroup = cg;
  return sample;
}

bool has_advice(const Report& report, std::string_view id) {
  return std::any_of(report.advice.begin(), report.advice.end(),
                     [&](const auto& a) { return a.id == id; });
}

TEST(EffectiveMemory, ContainerScopeUsesWorkingSetAgainstTheLimit) {
  const auto m = effective_memory(container_sample(kGiB, 512 * kMiB));
  EXPECT_EQ(m.scope, Scope::kContainer);
  EXPECT_EQ(m.limit_bytes, kGiB);
  EXPECT_EQ(m.used_bytes, 512 * kMiB);
  EXPECT_EQ(m.available_bytes, 512 * kMiB);
  EXPECT_DOUBLE_EQ(m.used_percent, 50.0);
}

TEST(EffectiveMemory, AvailableIsCappedByTheHost) {
  // The container's headroom is 512 MiB, but the host itself has only 100 MiB left.
  const auto m = effective_memory(container_sample(kGiB, 512 * kMiB, 100 * kMiB));
  EXPECT_EQ(m.available_bytes, 100 * kMiB);
}

TEST(EffectiveMemory, LimitAboveHostMemoryIsCappedAtMemTotal) {
  const auto m = effective_memory(container_sample(64 * kGiB, 12 * kGiB));
  EXPECT_EQ(m.limit_bytes, 24 * kGiB);
  EXPECT_DOUBLE_EQ(m.used_percent, 50.0);
}

TEST(EffectiveMemory, NoLimitMeansHostScope) {
  auto sample = container_sample(kGiB, 512 * kMiB);
  sample.cgroup->limit_bytes.reset();
  const auto m = effective_memory(sample);
  EXPECT_EQ(m.scope, Scope::kHost);
  EXPECT_EQ(m.limit_bytes, 24 * kGiB);
  EXPECT_EQ(m.used_bytes, 4 * kGiB);  // MemTotal - MemAvailable, not the cgroup's working set
  EXPECT_EQ(m.available_bytes, 20 * kGiB);
}

TEST(EffectiveMemory, WorkingSetAboveTheLimitGivesZeroAvailableNotAWrap) {
  const auto m = effective_memory(container_sample(kGiB, kGiB + kMiB));
  EXPECT_EQ(m.available_bytes, 0u);
  // Saturated and flagged (tests/hostile/numbers_test.cpp): never 3.4e12% for a usage of 2^64-1.
  EXPECT_EQ(m.used_percent, 100.0);
  EXPECT_TRUE(m.over_limit);
}

TEST(Assess, LevelsFollowTheDesignTableAtItsBoundaries) {
  const Thresholds t;
  const auto level_at = [&](std::uint64_t used_mib) {
    return assess(effective_memory(container_sample(1000 * kMiB, used_mib * kMiB)), t).level;
  };
  EXPECT_EQ(level_at(699), Level::kNormal);
  EXPECT_EQ(level_at(700), Level::kAcceptable);  // >= 70
  EXPECT_EQ(level_at(800), Level::kAcceptable);  // not > 80
  EXPECT_EQ(level_at(801), Level::kWarning);
  EXPECT_EQ(level_at(900), Level::kWarning);  // not > 90
  EXPECT_EQ(level_at(901), Level::kSevere);
  EXPECT_EQ(level_at(950), Level::kSevere);  // 50 MiB available: not < 50
  EXPECT_EQ(level_at(951), Level::kDanger);
}

TEST(Assess, DangerComesFromAvailableEvenAtLowPercent) {
  // A 24 GiB host where only 40 MiB is available to this container because the host is full.
  const auto m = effective_memory(container_sample(8 * kGiB, kGiB, 40 * kMiB));
  const auto status = assess(m, Thresholds{});
  EXPECT_EQ(status.level, Level::kDanger);
  ASSERT_EQ(status.reasons.size(), 1u);
  EXPECT_THAT(status.reasons[0], HasSubstr("40.0 MiB available"));
}

TEST(Assess, ThresholdsAreConfigurable) {
  Thresholds t;
  t.warning_percent = 50;
  const auto status = assess(effective_memory(container_sample(kGiB, 600 * kMiB)), t);
  EXPECT_EQ(status.level, Level::kWarning);
  EXPECT_THAT(status.reasons[0], HasSubstr("above 50%"));
}

TEST(Levels, NamesRoundTripAndUnknownNamesAreUsageErrors) {
  for (auto level :
       {Level::kNormal, Level::kAcceptable, Level::kWarning, Level::kSevere, Level::kDanger}) {
    EXPECT_EQ(parse_level(to_string(level), "--level"), level);
  }
  try {
    (void)parse_level("critical", "--auto-cleanup");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("--auto-cleanup"));
  }
}

TEST(Models, TheSeedTableAndCaseInsensitiveLookup) {
  EXPECT_EQ(model_table().size(), 5u);
  EXPECT_EQ(find_model("StreamPETR").minimum_bytes, 3 * kGiB / 2);
  EXPECT_EQ(find_model("vad").best_bytes, 6 * kGiB);
  EXPECT_EQ(find_model("maptr").recommended_bytes, 2 * kGiB);
  try {
    (void)find_model("yolo");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("maptr, petr, streampetr, topomlp, vad"));
  }
}

TEST(Analyze, AdviceForLowAvailableMemory) {
  AnalysisOptions options;
  EXPECT_TRUE(
      has_advice(analyze(container_sample(kGiB, 900 * kMiB), options), "available_below_minimum"));
  const auto mid = analyze(container_sample(kGiB, 700 * kMiB), options);
  EXPECT_TRUE(has_advice(mid, "available_below_recommended"));
  EXPECT_FALSE(has_advice(mid, "available_below_minimum"));
  EXPECT_FALSE(has_advice(analyze(container_sample(2 * kGiB, 100 * kMiB), options),
                          "available_below_recommended"));
}

TEST(Analyze, AdviceWhenTheLimitIsBelowTheModelMinimum) {
  AnalysisOptions options;
  options.model = find_model("streampetr");
  const auto small = analyze(container_sample(kGiB, 100 * kMiB), options);
  EXPECT_TRUE(has_advice(small, "limit_below_model_minimum"));
  const auto between = analyze(container_sample(2 * kGiB, 100 * kMiB), options);
  EXPECT_TRUE(has_advice(between, "limit_below_model_recommended"));
  const auto enough = analyze(container_sample(4 * kGiB, 100 * kMiB), options);
  EXPECT_FALSE(has_advice(enough, "limit_below_model_minimum"));
  EXPECT_FALSE(has_advice(enough, "limit_below_model_recommended"));
}

TEST(Analyze, AdviceWhenRssDoubleCountsSharedMemory) {
  auto sample = container_sample(4 * kGiB, kGiB);
  for (int pid = 1; pid <= 4; ++pid) {
    sample.processes.push_back({pid, "worker", kGiB, 300 * kMiB, 50 * kMiB, 0});
  }
  EXPECT_TRUE(has_advice(analyze(sample, {}), "rss_double_counts"));
  for (auto& p : sample.processes) p.pss_bytes = 900 * kMiB;
  EXPECT_FALSE(has_advice(analyze(sample, {}), "rss_double_counts"));
}

TEST(Analyze, SwapOomPressureAndGpuAdvice) {
  auto sample = container_sample(4 * kGiB, kGiB);
  sample.cgroup->oom_kill_events = 3;
  sample.cgroup->pressure = model::Pressure{25.0, 10, 5, 12, 6, 2};
  sample.gpus.push_back(
      {0, "H100", "GPU-1", 80 * kGiB, 78 * kGiB, 2 * kGiB, std::nullopt, true, {}});
  const auto report = analyze(sample, {});
  EXPECT_TRUE(has_advice(report, "swap_off"));
  EXPECT_TRUE(has_advice(report, "oom_kills"));
  EXPECT_TRUE(has_advice(report, "memory_pressure"));
  EXPECT_TRUE(has_advice(report, "gpu_memory_high"));
}

TEST(Analyze, NotesBecomeInfoAdvice) {
  auto sample = container_sample(4 * kGiB, kGiB);
  sample.notes.push_back({"no_peak", "peak unknown: memory.peak is absent"});
  const auto report = analyze(sample, {});
  const auto it = std::find_if(report.advice.begin(), report.advice.end(),
                               [](const auto& a) { return a.id == "no_peak"; });
  ASSERT_NE(it, report.advice.end());
  EXPECT_EQ(it->severity, "info");
}

}  // namespace
}  // namespace memopt::analysis
