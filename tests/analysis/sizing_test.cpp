#include "memopt/analysis/sizing.hpp"

#include <gtest/gtest.h>

#include "memopt/units.hpp"

namespace memopt::analysis {
namespace {

using std::chrono::milliseconds;

TEST(Sizing, DockerAndKubernetesSizes) {
  EXPECT_EQ(docker_size(768 * kMiB), "768m");
  EXPECT_EQ(docker_size(3 * kGiB), "3g");
  EXPECT_EQ(docker_size(1536 * kMiB), "1536m");
  EXPECT_EQ(docker_size(kMiB + 1), "2m");  // rounded up, never below what was asked
  EXPECT_EQ(kubernetes_size(768 * kMiB), "768Mi");
  EXPECT_EQ(kubernetes_size(2 * kGiB), "2048Mi");
}

TEST(Sizing, TheSeedsFormForAGivenLimit) {
  const auto r = recommend_limit(2 * kGiB);
  EXPECT_EQ(r.memory_swap_bytes, 4 * kGiB);
  EXPECT_EQ(r.docker_flags, "--memory=2g --memory-swap=4g");
  EXPECT_EQ(r.kubernetes, "resources:\n  requests:\n    memory: 2048Mi\n  limits:\n    memory: 2048Mi\n");
  EXPECT_EQ(recommend_limit(768 * kMiB).docker_flags, "--memory=768m --memory-swap=1536m");
}

TEST(Sizing, SmallestStepKeepingThePeakAtSixtyPercent) {
  // 300 MiB / 0.6 = 500 MiB -> 512 MiB.
  EXPECT_EQ(recommend_for_peak(300 * kMiB).memory_bytes, 512 * kMiB);
  // 460.8 MiB is exactly 60% of 768 MiB: at the boundary is allowed.
  EXPECT_EQ(recommend_for_peak(768 * kMiB * 3 / 5).memory_bytes, 768 * kMiB);
  EXPECT_EQ(recommend_for_peak(768 * kMiB * 3 / 5 + 1).memory_bytes, 1024 * kMiB);
  EXPECT_EQ(recommend_for_peak(0).memory_bytes, 256 * kMiB);
  EXPECT_EQ(recommend_for_peak(1800 * kMiB).docker_flags, "--memory=3g --memory-swap=6g");
  for (std::uint64_t peak = kMiB; peak < 8 * kGiB; peak += 37 * kMiB) {
    const auto m = recommend_for_peak(peak).memory_bytes;
    ASSERT_EQ(m % (256 * kMiB), 0u);
    ASSERT_LE(static_cast<double>(peak), 0.6 * static_cast<double>(m));
    if (m > 256 * kMiB)
      ASSERT_GT(static_cast<double>(peak), 0.6 * static_cast<double>(m - 256 * kMiB));
  }
}

TEST(Sizing, SummaryPeaksAndTimeAtEachLevel) {
  const std::uint64_t limit = 1000 * kMiB;
  std::vector<RunSample> samples = {
      {milliseconds(0), 100 * kMiB, 120 * kMiB, 110 * kMiB, 90 * kMiB, std::nullopt},
      {milliseconds(100), 750 * kMiB, 760 * kMiB, 800 * kMiB, 700 * kMiB, std::nullopt},
      {milliseconds(300), 850 * kMiB, 860 * kMiB, 900 * kMiB, 800 * kMiB, 2 * kGiB},
      {milliseconds(600), 200 * kMiB, 200 * kMiB, 210 * kMiB, std::nullopt, std::nullopt},
  };
  const auto s = summarize_run(samples, milliseconds(1000), limit, Thresholds{});
  EXPECT_EQ(s.peak_working_set_bytes, 850 * kMiB);
  EXPECT_EQ(s.peak_rss_bytes, 900 * kMiB);
  EXPECT_EQ(s.peak_pss_bytes, 800 * kMiB);
  EXPECT_EQ(s.peak_gpu_bytes, 2 * kGiB);
  EXPECT_EQ(s.time_at_level[static_cast<int>(Level::kNormal)], milliseconds(100 + 400));
  EXPECT_EQ(s.time_at_level[static_cast<int>(Level::kAcceptable)], milliseconds(200));
  EXPECT_EQ(s.time_at_level[static_cast<int>(Level::kWarning)], milliseconds(300));
  EXPECT_EQ(s.time_at_level[static_cast<int>(Level::kSevere)], milliseconds(0));
}

TEST(Sizing, EmptyRunHasNoPeaks) {
  const auto s = summarize_run({}, milliseconds(5), kGiB, Thresholds{});
  EXPECT_EQ(s.peak_working_set_bytes, 0u);
  EXPECT_FALSE(s.peak_pss_bytes);
  EXPECT_FALSE(s.peak_gpu_bytes);
}

}  // namespace
}  // namespace memopt::analysis
