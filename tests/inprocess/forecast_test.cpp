// The loop forecast's fit and its one-time prediction, on measured series given by the test.
#include "memopt/forecast.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>

#include "memopt/units.hpp"

namespace memopt {
namespace {

using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr double kTwoMiB = 2.0 * static_cast<double>(kMiB);

TEST(GrowthFit, ASteadyGrowthIsItsSlope) {
  GrowthFit fit(5);
  for (std::uint64_t i = 0; i < 40; ++i)
    fit.add(i, 100 * kMiB + i * 2 * kMiB, static_cast<double>(i) * 0.1);
  ASSERT_TRUE(fit.bytes_per_item());
  EXPECT_DOUBLE_EQ(*fit.bytes_per_item(), kTwoMiB);
  EXPECT_DOUBLE_EQ(*fit.level_bytes(), 100.0 * kMiB + 39 * kTwoMiB);
  EXPECT_NEAR(*fit.seconds_per_item(), 0.1, 1e-9);
}

TEST(GrowthFit, NothingBeforeEnoughItemsAfterTheWarmUp) {
  GrowthFit fit(5);
  for (std::uint64_t i = 0; i < 5 + GrowthFit::kMinItems - 1; ++i) fit.add(i, i * kMiB, 0);
  EXPECT_FALSE(fit.bytes_per_item());
  EXPECT_FALSE(fit.level_bytes());
  fit.add(5 + GrowthFit::kMinItems - 1, 100 * kMiB, 0);
  EXPECT_TRUE(fit.bytes_per_item());
}

TEST(GrowthFit, TheWarmUpsAllocationsDoNotCount) {
  GrowthFit fit(5);
  // The first items load a model: 500 MiB; then the loop holds still.
  for (std::uint64_t i = 0; i < 5; ++i) fit.add(i, (i + 1) * 100 * kMiB, 0);
  for (std::uint64_t i = 5; i < 30; ++i) fit.add(i, 500 * kMiB, 0);
  EXPECT_DOUBLE_EQ(*fit.bytes_per_item(), 0.0);
}

TEST(GrowthFit, OneJumpAndSpikesBarelyMoveIt) {
  GrowthFit fit(0);
  for (std::uint64_t i = 0; i < 64; ++i) {
    double bytes = 100.0 * kMiB + static_cast<double>(i) * kTwoMiB;
    if (i >= 40) bytes += 64.0 * kMiB;      // one arena taken once
    if (i % 10 == 3) bytes += 30.0 * kMiB;  // a transient spike
    fit.add(i, static_cast<std::uint64_t>(bytes), 0);
  }
  // A least-squares line through the same points says ~3.1 MiB/item.
  EXPECT_NEAR(*fit.bytes_per_item(), kTwoMiB, 0.5 * kMiB);
}

TEST(GrowthFit, OnlyTheLastWindowCounts) {
  GrowthFit fit(0);
  std::uint64_t bytes = 0;
  for (std::uint64_t i = 0; i < 200; ++i) {
    bytes += i < 100 ? 10 * kMiB : kMiB;
    fit.add(i, bytes, 0);
  }
  EXPECT_DOUBLE_EQ(*fit.bytes_per_item(), static_cast<double>(kMiB));
}

LoopForecastOptions with_total(std::uint64_t total) {
  LoopForecastOptions options;
  options.total = total;
  return options;
}

TEST(LoopForecast, SaysOnceWhereTheLimitIsMet) {
  // 40 MiB at the start, 2 MiB per item, a 512 MiB limit: item 236 reaches it.
  LoopForecast forecast(with_total(400), 512 * kMiB, "the container's limit");
  const auto start = std::chrono::steady_clock::now();
  std::optional<LoopPrediction> said;
  std::uint64_t said_at = 0;
  for (std::uint64_t i = 1; i <= 400 && !said; ++i) {
    said = forecast.step(40 * kMiB + i * 2 * kMiB, start + i * std::chrono::milliseconds(100));
    said_at = i;
  }
  ASSERT_TRUE(said);
  EXPECT_LT(said_at, 30u);
  EXPECT_EQ(said->item, said_at);
  EXPECT_DOUBLE_EQ(said->bytes_per_item, kTwoMiB);
  EXPECT_EQ(said->limit_item, 236u);
  EXPECT_EQ(said->total, 400u);
  ASSERT_TRUE(said->seconds_left);
  EXPECT_NEAR(*said->seconds_left, (236.0 - static_cast<double>(said_at)) * 0.1, 1e-6);
  const auto text = format_loop_prediction(*said);
  EXPECT_THAT(text, HasSubstr("at +2.0 MiB/item this loop reaches the container's limit "
                              "(at an RSS of 512 MiB) at item 236 of 400"));
  EXPECT_THAT(text, HasSubstr("move them to CPU or write them out"));
  // Once only.
  EXPECT_FALSE(forecast.step(1000 * kMiB, start + seconds(100)));
  EXPECT_TRUE(forecast.said());
}

TEST(LoopForecast, ALoopThatEndsBeforeTheLimitSaysNothing) {
  // 2 MiB per item for 100 items from 40 MiB: 240 MiB at the end, under 512 MiB.
  LoopForecast forecast(with_total(100), 512 * kMiB, "the limit");
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 1; i <= 100; ++i) {
    EXPECT_FALSE(forecast.step(40 * kMiB + i * 2 * kMiB, start + i * seconds(1))) << i;
  }
}

TEST(LoopForecast, AFlatLoopSaysNothing) {
  LoopForecast forecast({}, 512 * kMiB, "the limit");
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 1; i <= 1000; ++i) {
    // Noise of a few pages up and down.
    EXPECT_FALSE(forecast.step(400 * kMiB + (i % 7) * 4096 * 3, start + i * seconds(1))) << i;
  }
}

TEST(LoopForecast, WithoutATotalItSpeaksWhenTheLimitIsAsCloseAsTheItemsDone) {
  LoopForecastOptions options;
  options.confirm_items = 1;
  LoopForecast forecast(options, 512 * kMiB, "the limit");
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t said_at = 0;
  for (std::uint64_t i = 1; i <= 400 && said_at == 0; ++i) {
    if (forecast.step(40 * kMiB + i * 2 * kMiB, start + i * seconds(1))) said_at = i;
  }
  // The limit is met at item 236: said when no more than as many items remain as were done.
  EXPECT_EQ(said_at, 118u);
}

TEST(LoopForecast, ASingleSpikeIsNotConfirmed) {
  // 1 MiB per item from 100 MiB, 400 items: ends at 500 MiB, under a 600 MiB limit, except for
  // transient spikes that a plain last-two-points slope would read as a race to the limit.
  LoopForecast forecast(with_total(400), 600 * kMiB, "the limit");
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t i = 1; i <= 400; ++i) {
    std::uint64_t bytes = 100 * kMiB + i * kMiB;
    if (i % 50 == 0) bytes += 80 * kMiB;
    EXPECT_FALSE(forecast.step(bytes, start + i * seconds(1))) << i;
  }
}

}  // namespace
}  // namespace memopt
