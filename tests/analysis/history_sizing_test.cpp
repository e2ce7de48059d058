// Sizing from history on synthetic histories (steady, growing, OOM-bumped, crash-looping, a model
// load), with VPA's figures worked out by hand: a bucket index n = floor(log(v × 0.05 / 1e7 + 1) /
// log 1.05), its end 1e7 × (1.05^(n+1) − 1) / 0.05, weights halving per day back from the newest
// interval's end, the percentile where the cumulative weight reaches p × total.
#include "memopt/analysis/history_sizing.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "memopt/error.hpp"
#include "memopt/units.hpp"

namespace memopt::analysis {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

const HistoryTime kStart = HistoryTime(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));

/// The end of VPA's memory bucket n (the start of bucket n + 1), in bytes.
double bucket_end(int n) { return 1e7 * (std::pow(1.05, n + 1) - 1) / (1.05 - 1.0); }

std::uint64_t mib_up(double bytes) {
  return static_cast<std::uint64_t>(std::ceil(bytes / static_cast<double>(kMiB))) * kMiB;
}

/// Points every `step` from `from` for `length`, used as `used(t)` says (t since `from`).
void add(std::vector<UsagePoint>& points, HistoryTime from, HistoryTime::duration length,
         seconds step, const std::function<std::uint64_t(HistoryTime::duration)>& used,
         std::optional<std::uint64_t> limit = std::nullopt,
         std::optional<std::uint64_t> oom_kills = std::nullopt) {
  const int resolution = step >= seconds(10) ? static_cast<int>(step.count()) : 0;
  for (auto t = HistoryTime::duration::zero(); t < length; t += step) {
    points.push_back({from + t, resolution, used(t), limit, oom_kills});
  }
}

std::function<std::uint64_t(HistoryTime::duration)> flat(std::uint64_t bytes) {
  return [bytes](HistoryTime::duration) { return bytes; };
}

TEST(DecayingHistogram, BucketsAsVpaLaysThemOut) {
  const HistorySizingOptions o;
  DecayingHistogram h(o, kStart);
  // ceil(log(1e12 × 0.05 / 1e7 + 1) / log 1.05) + 1 = ceil(174.57) + 1.
  EXPECT_EQ(h.bucket_count(), 176);
  EXPECT_EQ(h.bucket(9e6), 0);            // below the first 10 MB
  EXPECT_EQ(h.bucket(300.0 * kMiB), 19);  // log(2.5729) / log(1.05) = 19.37
  EXPECT_EQ(h.bucket(500.0 * kMiB), 26);  // log(3.6214) / log(1.05) = 26.38
  EXPECT_NEAR(h.bucket_start(1), 1e7, 1e-3);
  EXPECT_DOUBLE_EQ(h.bucket_start(20), bucket_end(19));
  EXPECT_EQ(h.bucket(2e13), 175);  // past the last start: the last bucket
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.percentile(0.9), 0.0);
  // Weights halve per half-life back: a day-old sample weighs half of one now.
  h.add(300.0 * kMiB, 1.0, kStart);
  h.add(500.0 * kMiB, 1.0, kStart - hours(24));
  // total 1.5: p50 (0.75) is reached in the 300 MiB bucket, p90 (1.35) only in the 500 MiB one.
  EXPECT_DOUBLE_EQ(h.percentile(0.5), bucket_end(19));
  EXPECT_DOUBLE_EQ(h.percentile(0.9), bucket_end(26));
}

TEST(HistorySizing, LimitsAreHostTotalOnlyWhenEveryKnownLimitIs) {
  const std::uint64_t host = 24 * kGiB;
  std::vector<UsagePoint> points;
  EXPECT_FALSE(limits_are_host_total(points, host)) << "no history says nothing";
  add(points, kStart, hours(1), seconds(60), flat(kGiB), host);
  EXPECT_TRUE(limits_are_host_total(points, host));
  EXPECT_FALSE(limits_are_host_total(points, std::nullopt)) << "an unknown host total";
  add(points, kStart + hours(1), minutes(2), seconds(60), flat(kGiB), 2 * kGiB);
  EXPECT_FALSE(limits_are_host_total(points, host)) << "a container's limit in the history";
  std::vector<UsagePoint> unknown;
  add(unknown, kStart, hours(1), seconds(60), flat(kGiB));
  EXPECT_FALSE(limits_are_host_total(unknown, host)) << "unknown limits are not the host's";
}

TEST(HistorySizing, SteadyThreeDays) {
  std::vector<UsagePoint> points;
  add(points, kStart, hours(72), seconds(60), flat(300 * kMiB));
  const auto s = size_from_history(points, {});
  ASSERT_TRUE(s.recommended_bytes) << s.why;
  ASSERT_TRUE(s.steady);
  EXPECT_EQ(s.steady->peaks.size(), 3u);
  EXPECT_TRUE(s.loads.empty());  // steady from its first point: no load phase seen
  EXPECT_TRUE(s.kills.empty());
  // Three days less one minute spanned, 4320 minutes observed (= 3.0): confidence 2.99931 days.
  const double confidence = (72.0 * 60 - 1) / (24 * 60);
  EXPECT_NEAR(s.confidence_days, confidence, 1e-9);
  // All three peaks in bucket 19, which ends at 330 659 541 B.
  EXPECT_NEAR(s.steady->p90_bytes, 330659541.03, 0.01);
  EXPECT_DOUBLE_EQ(s.steady->p50_bytes, s.steady->p90_bytes);
  EXPECT_EQ(s.steady->target_bytes, 380258473u);  // × 1.15 = 380 258 472.18, rounded up
  EXPECT_EQ(s.steady->lower_bytes,
            static_cast<std::uint64_t>(
                std::ceil(330659541.0288844 * 1.15 * std::pow(1 + 0.001 / confidence, -2))));
  EXPECT_EQ(s.steady->upper_bytes,
            static_cast<std::uint64_t>(std::ceil(330659541.0288844 * 1.15 * (1 + 1 / confidence))));
  EXPECT_EQ(*s.recommended_bytes, 363 * kMiB);  // 362.64 MiB, rounded up to a whole MiB
  EXPECT_EQ(s.basis, "steady");
}

TEST(HistorySizing, AnOldHighDayStillSetsP90ButNotP50) {
  std::vector<UsagePoint> points;
  add(points, kStart, hours(24), seconds(60), flat(400 * kMiB));
  add(points, kStart + hours(24), hours(48), seconds(60), flat(300 * kMiB));
  const auto s = size_from_history(points, {});
  ASSERT_TRUE(s.steady);
  ASSERT_EQ(s.steady->peaks.size(), 3u);
  // Weights 0.25 (400 MiB), 0.5 and 1 (300 MiB): total 1.75. p50 = 0.875 is reached in the
  // 300 MiB bucket (1.5); p90 = 1.575 needs the 400 MiB one (bucket 23).
  EXPECT_DOUBLE_EQ(s.steady->peaks[0].weight, 0.25);
  EXPECT_DOUBLE_EQ(s.steady->p50_bytes, bucket_end(19));
  EXPECT_DOUBLE_EQ(s.steady->p90_bytes, bucket_end(23));
  EXPECT_EQ(*s.recommended_bytes, 489 * kMiB);  // 445 019 988.7 × 1.15 = 488.05 MiB
}

TEST(HistorySizing, GrowingUsesTheNewestDayAndKeepsEightIntervals) {
  std::vector<UsagePoint> points;
  // 200, 250, ..., 650 MiB: one step a day for ten days.
  for (int day = 0; day < 10; ++day) {
    add(points, kStart + hours(24 * day), hours(24), seconds(60),
        flat(static_cast<std::uint64_t>(200 + 50 * day) * kMiB));
  }
  const auto s = size_from_history(points, {});
  ASSERT_TRUE(s.steady);
  EXPECT_EQ(s.steady->peaks.size(), 8u);  // days 3..10; the first two are gone
  EXPECT_EQ(s.steady->peaks.front().peak_bytes, 300 * kMiB);
  // Halving weights: the newest day alone (1) outweighs all the others (< 1), so even p50 is
  // the newest day's bucket: 650 MiB -> n = floor(log(4.408) / log 1.05) = 30.
  DecayingHistogram h({}, kStart);
  ASSERT_EQ(h.bucket(650.0 * kMiB), 30);
  EXPECT_DOUBLE_EQ(s.steady->p50_bytes, bucket_end(30));
  EXPECT_DOUBLE_EQ(s.steady->p90_bytes, bucket_end(30));
  EXPECT_EQ(*s.recommended_bytes, mib_up(std::ceil(bucket_end(30) * 1.15)));
  EXPECT_GT(*s.recommended_bytes, 650 * kMiB);
}

TEST(HistorySizing, OomKillsBumpOnceAndDoNotCompound) {
  std::vector<UsagePoint> points;
  const std::uint64_t limit = 512 * kMiB;
  add(points, kStart, hours(26), seconds(60), flat(300 * kMiB), limit, 0);
  // Killed at the limit (the counter rises to 1), back at once; killed again later (2).
  add(points, kStart + hours(26), hours(8), seconds(60), flat(300 * kMiB), limit, 1);
  add(points, kStart + hours(34), hours(14), seconds(60), flat(300 * kMiB), limit, 2);
  const auto s = size_from_history(points, {});
  ASSERT_EQ(s.kills.size(), 2u);
  for (const auto& k : s.kills) {
    EXPECT_EQ(k.used_bytes, limit);  // the limit it hit, above every recorded sample
    // max(512 + 100, 512 × 1.2 = 614.4) MiB
    EXPECT_EQ(k.bumped_bytes, static_cast<std::uint64_t>(512.0 * kMiB * 1.2));
  }
  ASSERT_TRUE(s.oom_bytes);
  EXPECT_EQ(*s.oom_bytes, 615 * kMiB);  // once: not 512 × 1.2 × 1.2 = 737 MiB
  EXPECT_FALSE(s.crash_loop);
  EXPECT_EQ(*s.recommended_bytes, 615 * kMiB);
  EXPECT_EQ(s.basis, "oom");
  EXPECT_EQ(s.steady->target_bytes, 380258473u);  // the steady state alone would say 363 MiB

  // Small: max(50 + 100, 60) = 150 MiB, capped at twice the use at the kill.
  std::vector<UsagePoint> small;
  add(small, kStart, hours(1), seconds(60), flat(40 * kMiB), 50 * kMiB, 0);
  add(small, kStart + hours(1), hours(1), seconds(60), flat(40 * kMiB), 50 * kMiB, 1);
  const auto capped = size_from_history(small, {});
  EXPECT_EQ(*capped.oom_bytes, 100 * kMiB);
  EXPECT_THAT(capped.oom_note, HasSubstr("capped at 2× that use"));
  EXPECT_EQ(*capped.recommended_bytes, 250 * kMiB);  // VPA's floor is above both

  // Never past the ceiling.
  HistorySizingOptions o;
  o.ceiling_bytes = 400 * kMiB;
  const auto ceiling = size_from_history(points, {}, o);
  EXPECT_TRUE(ceiling.capped_by_ceiling);
  EXPECT_EQ(*ceiling.recommended_bytes, 400 * kMiB);
}

TEST(HistorySizing, ACounterThatFallsIsANewCgroupNotAKill) {
  std::vector<UsagePoint> points;
  add(points, kStart, hours(1), seconds(10), flat(300 * kMiB), 512 * kMiB, 3);
  add(points, kStart + hours(1), hours(1), seconds(10), flat(300 * kMiB), 512 * kMiB, 0);
  EXPECT_TRUE(find_oom_kills(points, {}).empty());
}

TEST(HistorySizing, AnOngoingCrashLoopGetsNoFigure) {
  std::vector<UsagePoint> points;
  const std::uint64_t limit = 512 * kMiB;
  add(points, kStart, minutes(20), seconds(10), flat(300 * kMiB), limit, 0);
  // Killed every two minutes from minute 20 on: counters 1..4, the history ends a minute later.
  for (std::uint64_t n = 1; n <= 4; ++n) {
    add(points, kStart + minutes(20) + minutes(2 * (n - 1)), minutes(2), seconds(10),
        flat(450 * kMiB), limit, n);
  }
  const auto s = size_from_history(points, {});
  EXPECT_TRUE(s.crash_loop);
  EXPECT_FALSE(s.recommended_bytes);
  EXPECT_THAT(s.why, HasSubstr("OOM crash loop: 4 kills within 60 min"));
  EXPECT_THAT(s.why, HasSubstr("memopt run --limit 1g"));  // twice the 512 MiB it hit

  // The same loop, then two hours without a kill: over; one capped bump.
  add(points, kStart + minutes(28), hours(2), seconds(10), flat(300 * kMiB), limit, 4);
  const auto over = size_from_history(points, {});
  EXPECT_FALSE(over.crash_loop);
  ASSERT_TRUE(over.recommended_bytes);
  EXPECT_EQ(*over.recommended_bytes, 615 * kMiB);
}

TEST(HistorySizing, TheLoadSpikeIsSizedApartFromTheSteadyState) {
  std::vector<UsagePoint> points;
  // Two starts (the second after a 5 min gap): a 60 s ramp to 2 GiB, then 1 GiB for 30 min.
  for (const auto start : {kStart, kStart + minutes(35)}) {
    add(points, start, seconds(60), seconds(1), [](HistoryTime::duration t) {
      return static_cast<std::uint64_t>(2.0 * kGiB * std::chrono::duration<double>(t).count() /
                                        59.0);
    });
    add(points, start + seconds(60), minutes(30), seconds(1), flat(kGiB));
  }
  const auto s = size_from_history(points, {});
  ASSERT_EQ(s.loads.size(), 2u);
  for (const auto& l : s.loads) {
    EXPECT_TRUE(l.plateaued);
    EXPECT_EQ(l.peak_bytes, 2 * kGiB);
    EXPECT_TRUE(l.end - l.start == seconds(59));  // the ramp, not the plateau
  }
  ASSERT_TRUE(s.load_bytes);
  EXPECT_EQ(*s.load_bytes, 2356 * kMiB);  // 2048 MiB × 1.15 = 2355.2 MiB
  ASSERT_TRUE(s.steady);
  EXPECT_EQ(s.steady->max_bytes, kGiB);  // the ramp is not in the steady state
  EXPECT_EQ(s.steady->target_bytes, static_cast<std::uint64_t>(std::ceil(bucket_end(37) * 1.15)));
  EXPECT_EQ(*s.recommended_bytes, 2356 * kMiB);
  EXPECT_EQ(s.basis, "load");
}

TEST(HistorySizing, TooLittleHistoryGivesNoFigure) {
  std::vector<UsagePoint> points;
  add(points, kStart, minutes(5), seconds(1), flat(300 * kMiB));
  const auto s = size_from_history(points, {});
  EXPECT_FALSE(s.recommended_bytes);
  EXPECT_THAT(s.why, HasSubstr("too little history: 300 observation(s) over 299 s"));
  EXPECT_FALSE(size_from_history({}, {}).recommended_bytes);
}

TEST(HistorySizing, GpuPeakPerDeviceAndTheSmallestMigProfile) {
  std::vector<UsagePoint> points;
  add(points, kStart, hours(1), seconds(10), flat(300 * kMiB));
  const std::vector<GpuPoint> gpus = {
      {kStart, 0, "NVIDIA H200", 12 * kGiB, 143771 * kMiB},
      {kStart + minutes(1), 0, "NVIDIA H200", 20 * kGiB, 143771 * kMiB},
      {kStart, 1, "NVIDIA A100-SXM4-40GB", 38 * kGiB, 40960 * kMiB},
      {kStart, 2, "Tesla T4", kGiB, 15360 * kMiB},
      {kStart, 3, "NVIDIA A100-SXM4-80GB", 8 * kGiB, 81920 * kMiB},
  };
  const auto s = size_from_history(points, gpus);
  ASSERT_EQ(s.gpus.size(), 4u);
  EXPECT_EQ(s.gpus[0].peak_bytes, 20 * kGiB);
  EXPECT_EQ(s.gpus[0].samples, 2u);
  // 20 GiB + 15% = 24.7 GB: past 1g.18gb, within 1g.35gb.
  EXPECT_EQ(s.gpus[0].mig_profile, "1g.35gb");
  EXPECT_TRUE(s.gpus[1].known_device);
  EXPECT_FALSE(s.gpus[1].mig_profile);
  EXPECT_THAT(s.gpus[1].note, HasSubstr("no MIG profile fits"));
  EXPECT_FALSE(s.gpus[2].known_device);
  EXPECT_THAT(s.gpus[2].note, HasSubstr("unknown device"));
  // 8 GiB + 15% = 9.9 GB: the smallest profile of at least that, with one slice.
  EXPECT_EQ(s.gpus[3].mig_profile, "1g.10gb");
}

// HistorySizer folds a history one point at a time (recommend --from-history over a week at 1 s
// holds no vector of it). On random histories (1 s points with 10 s and 60 s buckets at the same
// times, gaps, load spikes, plateaus, OOM-counter rises and falls, a kill at a time shared by
// several points) it finds what the whole-vector functions find: the kills, the load phases, the
// steady points' VPA figures, the confidence.
TEST(HistorySizer, RowByRowFindsWhatTheWholeHistoryFunctionsFind) {
  std::uint64_t state = 12345;
  const auto next = [&state](std::uint64_t n) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (state >> 33) % n;
  };
  HistorySizingOptions o;
  o.min_history = seconds(60);
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE(round);
    std::vector<UsagePoint> points;
    auto t = kStart;
    std::uint64_t used = 500 * kMiB;
    std::uint64_t kills = next(3);
    const int length = 200 + static_cast<int>(next(8000));
    for (int i = 0; i < length; ++i) {
      switch (next(40)) {
        case 0:
          t += seconds(121 + next(4000));
          break;  // a gap: a start
        case 1:
          used = (300 + next(3000)) * kMiB;
          break;  // a jump
        case 2:
          kills += 1 + next(2);
          break;  // an OOM kill
        case 3:
          kills = next(2);
          break;  // a new counter (a fall)
        case 4:
          t += hours(6 + next(30));
          break;  // another day
        default:
          used = used + next(9) * kMiB - 4 * kMiB;
          break;  // within the tolerance
      }
      const std::optional<std::uint64_t> limit =
          next(10) == 0 ? std::nullopt : std::optional<std::uint64_t>(4096 * kMiB);
      const std::optional<std::uint64_t> counter =
          next(8) == 0 ? std::nullopt : std::optional<std::uint64_t>(kills);
      // A bucket row at the same time as a 1 s row, as the recorder keeps them.
      if (next(5) == 0) points.push_back({t, next(2) == 0 ? 10 : 60, used + kMiB, limit, counter});
      points.push_back({t, 0, used, limit, counter});
      t += seconds(next(4) == 0 ? 0 : 1 + next(2));
    }
    const auto sizing = size_from_history(points, {}, o);
    ASSERT_EQ(sizing.points, points.size());
    EXPECT_DOUBLE_EQ(sizing.confidence_days, vpa_confidence(points));
    if (sizing.last - sizing.first < o.min_history) continue;

    const auto kills_found = find_oom_kills(points, o);
    ASSERT_EQ(sizing.kills.size(), kills_found.size());
    for (std::size_t i = 0; i < kills_found.size(); ++i) {
      EXPECT_EQ(sizing.kills[i].at, kills_found[i].at);
      EXPECT_EQ(sizing.kills[i].count, kills_found[i].count);
      EXPECT_EQ(sizing.kills[i].used_bytes, kills_found[i].used_bytes);
      EXPECT_EQ(sizing.kills[i].bumped_bytes, kills_found[i].bumped_bytes);
    }
    const auto loads = find_load_phases(points, o);
    ASSERT_EQ(sizing.loads.size(), loads.size());
    for (std::size_t i = 0; i < loads.size(); ++i) {
      EXPECT_EQ(sizing.loads[i].start, loads[i].start);
      EXPECT_EQ(sizing.loads[i].end, loads[i].end);
      EXPECT_EQ(sizing.loads[i].peak_bytes, loads[i].peak_bytes);
      EXPECT_EQ(sizing.loads[i].plateaued, loads[i].plateaued);
    }
    std::vector<UsagePoint> steady;
    for (const auto& p : points) {
      if (std::none_of(loads.begin(), loads.end(),
                       [&](const LoadPhase& l) { return p.at >= l.start && p.at <= l.end; })) {
        steady.push_back(p);
      }
    }
    ASSERT_EQ(sizing.steady.has_value(), !steady.empty());
    if (steady.empty()) continue;
    const auto figures = vpa_figures(steady, sizing.confidence_days, o);
    ASSERT_EQ(sizing.steady->peaks.size(), figures.peaks.size());
    for (std::size_t i = 0; i < figures.peaks.size(); ++i) {
      EXPECT_EQ(sizing.steady->peaks[i].end, figures.peaks[i].end);
      EXPECT_EQ(sizing.steady->peaks[i].peak_bytes, figures.peaks[i].peak_bytes);
    }
    EXPECT_EQ(sizing.steady->target_bytes, figures.target_bytes);
    EXPECT_EQ(sizing.steady->lower_bytes, figures.lower_bytes);
    EXPECT_EQ(sizing.steady->upper_bytes, figures.upper_bytes);
    EXPECT_EQ(sizing.steady->max_bytes, figures.max_bytes);
  }
}

TEST(HistorySizer, APointOlderThanTheOneBeforeIsRefused) {
  HistorySizer sizer;
  sizer.add(UsagePoint{kStart + seconds(5), 0, kMiB, std::nullopt, std::nullopt});
  EXPECT_THROW(sizer.add(UsagePoint{kStart, 0, kMiB, std::nullopt, std::nullopt}), Error);
}

}  // namespace
}  // namespace memopt::analysis
