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
  EXPECT_EQ(r.kubernetes,
            "resources:\n  requests:\n    memory: 2048Mi\n  limits:\n    memory: 2048Mi\n");
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
      {milliseconds(0), 100 * kMiB, 120 * kMiB, 110 * kMiB, 90 * kMiB, std::nullopt, 0,
       std::nullopt},
      {milliseconds(100), 750 * kMiB, 760 * kMiB, 800 * kMiB, 700 * kMiB, std::nullopt, 0,
       std::nullopt},
      {milliseconds(300), 850 * kMiB, 860 * kMiB, 900 * kMiB, 800 * kMiB, 2 * kGiB, 0,
       std::nullopt},
      {milliseconds(600), 200 * kMiB, 200 * kMiB, 210 * kMiB, std::nullopt, std::nullopt, 0,
       std::nullopt},
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

TEST(Sizing, GpuPeakPerDevice) {
  auto at = [](int ms, std::vector<DeviceGpuBytes> devices) {
    RunSample s;
    s.at = milliseconds(ms);
    std::uint64_t total = 0;
    for (const auto& d : devices) total += d.used_bytes;
    s.gpu_bytes = total;
    s.gpu_devices = std::move(devices);
    return s;
  };
  const std::uint64_t h200 = 143771 * kMiB;
  // Device 1 peaks while device 0 is low: the summed peak (7 GiB) is on no single device.
  const std::vector<RunSample> samples = {
      at(0, {{1, "NVIDIA H200", h200, kGiB}, {0, "NVIDIA H200", h200, 4 * kGiB}}),
      at(100, {{0, "NVIDIA H200", h200, 2 * kGiB}, {1, "NVIDIA H200", h200, 5 * kGiB}}),
      at(200, {{0, "NVIDIA H200", h200, 3 * kGiB}}),  // device 1's list unreadable here
  };
  const auto s = summarize_run(samples, milliseconds(300), kGiB, Thresholds{});
  EXPECT_EQ(s.peak_gpu_bytes, 7 * kGiB);
  ASSERT_EQ(s.peak_gpu_devices.size(), 2u);
  EXPECT_EQ(s.peak_gpu_devices[0].index, 0u);  // by index, whatever order NVML gave
  EXPECT_EQ(s.peak_gpu_devices[0].used_bytes, 4 * kGiB);
  EXPECT_EQ(s.peak_gpu_devices[1].used_bytes, 5 * kGiB);
  EXPECT_EQ(s.peak_gpu_devices[1].total_bytes, h200);
  EXPECT_EQ(s.peak_gpu_devices[1].name, "NVIDIA H200");
}

TEST(Sizing, EmptyRunHasNoPeaks) {
  const auto s = summarize_run({}, milliseconds(5), kGiB, Thresholds{});
  EXPECT_EQ(s.peak_working_set_bytes, 0u);
  EXPECT_FALSE(s.peak_pss_bytes);
  EXPECT_FALSE(s.peak_gpu_bytes);
  EXPECT_TRUE(s.peak_gpu_devices.empty());
}

/// A sample from the sandbox cgroup: usage, inactive cache, and the kernel's interval peak.
RunSample cgroup_sample(int at_ms, std::uint64_t usage, std::uint64_t inactive,
                        std::optional<std::uint64_t> interval_peak) {
  RunSample s;
  s.at = milliseconds(at_ms);
  s.usage_bytes = usage;
  s.inactive_file_bytes = inactive;
  s.working_set_bytes = usage - std::min(usage, inactive);
  s.interval_peak_usage_bytes = interval_peak;
  return s;
}

TEST(EstimatePeak, ASpikeBetweenTwoSamplesCountsInFull) {
  // Holds 150 MiB; a 0.1 s spike to 280 MiB falls between the samples at 0 and 500 ms.
  const std::vector<RunSample> samples{cgroup_sample(0, 150 * kMiB, 0, 150 * kMiB),
                                       cgroup_sample(500, 150 * kMiB, 0, 280 * kMiB),
                                       cgroup_sample(1000, 150 * kMiB, 0, 150 * kMiB)};
  const auto peak = estimate_peak(samples);
  EXPECT_TRUE(peak.from_kernel);
  EXPECT_EQ(peak.working_set_bytes, 280 * kMiB);
  EXPECT_EQ(peak.usage_bytes, 280 * kMiB);
  EXPECT_EQ(peak.cache_bytes, 0u);
  EXPECT_EQ(peak.sampled_working_set_bytes, 150 * kMiB);
  // 280 MiB at or below 60%: 512 MiB, where the sampled 150 MiB would have said 256 MiB.
  EXPECT_EQ(recommend_for_peak(peak.working_set_bytes).memory_bytes, 512 * kMiB);
}

TEST(EstimatePeak, CachePresentAtBothEndsOfTheIntervalIsSetAside) {
  // A fresh cgroup; 100 MiB of inactive page cache from the second sample on; anon 200 MiB
  // rises to 320 MiB between the second and third samples.
  const std::vector<RunSample> samples{cgroup_sample(0, 0, 0, 10 * kMiB),
                                       cgroup_sample(100, 300 * kMiB, 100 * kMiB, 300 * kMiB),
                                       cgroup_sample(200, 300 * kMiB, 100 * kMiB, 420 * kMiB),
                                       cgroup_sample(300, 300 * kMiB, 100 * kMiB, 300 * kMiB)};
  const auto peak = estimate_peak(samples);
  EXPECT_EQ(peak.usage_bytes, 420 * kMiB);
  EXPECT_EQ(peak.working_set_bytes, 320 * kMiB);
  EXPECT_EQ(peak.cache_bytes, 100 * kMiB);
  EXPECT_EQ(peak.sampled_working_set_bytes, 200 * kMiB);
}

TEST(EstimatePeak, CacheThatArrivesAfterASpikeCannotHideIt) {
  // Spike to 280 MiB anon, then a 200 MiB file read: the usage peak (350) comes later, with
  // cache; the spike's interval had no cache at its start, so it counts in full.
  const std::vector<RunSample> samples{cgroup_sample(0, 150 * kMiB, 0, 150 * kMiB),
                                       cgroup_sample(500, 150 * kMiB, 0, 280 * kMiB),
                                       cgroup_sample(1000, 350 * kMiB, 200 * kMiB, 350 * kMiB),
                                       cgroup_sample(1500, 350 * kMiB, 200 * kMiB, 350 * kMiB)};
  const auto peak = estimate_peak(samples);
  EXPECT_EQ(peak.usage_bytes, 350 * kMiB);
  // The spike's interval says 280 MiB. The interval in which the cache arrived (0 -> 200 MiB)
  // cannot set it aside (it was not there throughout), so it counts 350 MiB: an over-estimate,
  // on the safe side; the last interval, with 200 MiB of cache at both ends, says 150 MiB.
  EXPECT_EQ(peak.working_set_bytes, 350 * kMiB);
  EXPECT_EQ(peak.cache_bytes, 0u);
}

TEST(EstimatePeak, CacheGrowingWithinAnIntervalIsNotSetAside) {
  // The cache went 0 -> 200 MiB within the interval: it was not there throughout.
  const std::vector<RunSample> samples{cgroup_sample(0, 100 * kMiB, 0, 100 * kMiB),
                                       cgroup_sample(500, 300 * kMiB, 200 * kMiB, 320 * kMiB)};
  EXPECT_EQ(estimate_peak(samples).working_set_bytes, 320 * kMiB);
}

TEST(EstimatePeak, WithoutTheKernelItIsTheSampledPeakAndSaysSo) {
  const std::vector<RunSample> samples{cgroup_sample(0, 100 * kMiB, 0, std::nullopt),
                                       cgroup_sample(100, 180 * kMiB, 0, std::nullopt)};
  const auto peak = estimate_peak(samples);
  EXPECT_FALSE(peak.from_kernel);
  EXPECT_FALSE(peak.usage_bytes);
  EXPECT_EQ(peak.working_set_bytes, 180 * kMiB);
}

TEST(RoomForCommand, TheTightestLimitedLevelOrTheHost) {
  // The case: a 488 MiB container holding 300 MiB (plus 5 MiB): 183 MiB left.
  const std::vector<EnclosingCgroup> levels{{"/ctr/inner", "", std::nullopt, 305 * kMiB, 0},
                                            {"/ctr", "", 488 * kMiB, 320 * kMiB, 15 * kMiB},
                                            {"/", "", std::nullopt, 10 * kGiB, kGiB}};
  const auto room = room_for_command(levels, 20 * kGiB);
  EXPECT_EQ(room.available_bytes, 183 * kMiB);
  EXPECT_EQ(room.limited_by, "cgroup /ctr (limit 488 MiB, working set 305 MiB)");
  const auto host = room_for_command(levels, 100 * kMiB);
  EXPECT_EQ(host.available_bytes, 100 * kMiB);
  EXPECT_EQ(host.limited_by, "the host (MemAvailable 100 MiB)");
  // A level already over its limit (cache not yet reclaimed) leaves 0, not a wrapped number.
  const auto full = room_for_command({{"/x", "", 100 * kMiB, 150 * kMiB, 0}}, 20 * kGiB);
  EXPECT_EQ(full.available_bytes, 0u);
}

TEST(Sizing, RecommendationCarriesTheDockerUpdateCommand) {
  EXPECT_EQ(recommend_limit(3 * kGiB).docker_update,
            "docker update --memory=3g --memory-swap=6g CONTAINER");
}

}  // namespace
}  // namespace memopt::analysis
