#include "memopt/analysis/trend.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace memopt::analysis {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

/// A series sampled every `step` seconds for `duration` seconds.
template <typename F>
std::vector<Point> series(double duration, double step, F value) {
  std::vector<Point> points;
  for (double t = 0; t <= duration; t += step)
    points.push_back({1.8e9 + t, value(t)});  // epoch-sized t
  return points;
}

TEST(Trend, FitsALineExactly) {
  const auto fit = fit_line(series(100, 1, [](double t) { return 3.0 * t + 7.0; }));
  ASSERT_TRUE(fit);
  EXPECT_NEAR(fit->slope, 3.0, 1e-9);
  EXPECT_NEAR(fit->r2, 1.0, 1e-12);
  EXPECT_FALSE(fit_line({{1, 1}, {2, 2}}));          // too few points
  EXPECT_FALSE(fit_line({{5, 1}, {5, 2}, {5, 3}}));  // no spread in time
}

TEST(Trend, SteadyGrowthIsALeak) {
  // 100 MiB/hour over an hour, sampled each minute, with a little noise.
  std::mt19937 rng(42);
  std::normal_distribution<double> noise(0, 2 * kMiB);
  const auto points =
      series(3600, 60, [&](double t) { return 500 * kMiB + t / 3600 * 100 * kMiB + noise(rng); });
  LeakParams params;
  params.window_seconds = 3600;
  const auto verdict = detect_leak(points, params);
  ASSERT_TRUE(verdict);
  EXPECT_NEAR(verdict->slope_mib_per_hour, 100, 5);
  EXPECT_GT(verdict->r2, 0.95);
}

TEST(Trend, NoiseAroundAFlatLineIsNotALeak) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 30 * kMiB);
  const auto points = series(3600, 60, [&](double) { return 800 * kMiB + noise(rng); });
  LeakParams params;
  params.window_seconds = 3600;
  EXPECT_FALSE(detect_leak(points, params));
}

TEST(Trend, AGarbageCollectedSawtoothIsNotALeak) {
  // Grows 200 MiB over 10 minutes, then a collection drops it back: healthy.
  const auto points =
      series(3600, 30, [](double t) { return 400 * kMiB + std::fmod(t, 600) / 600 * 200 * kMiB; });
  LeakParams params;
  params.window_seconds = 3600;
  EXPECT_FALSE(detect_leak(points, params));
}

TEST(Trend, TooLittleHistoryIsNoVerdict) {
  const auto points = series(600, 60, [](double t) { return t * kMiB; });
  LeakParams params;
  params.window_seconds = 3600;  // ten minutes of a one-hour window
  EXPECT_FALSE(detect_leak(points, params));
}

TEST(Trend, ForecastSaysWhenTheLimitIsReached) {
  // 1 MiB/s towards a 1 GiB limit from 724 MiB: 300 s to go at the end of the window.
  const auto points = series(300, 5, [](double t) { return 424 * kMiB + t * kMiB; });
  ForecastParams params;
  const auto eta = forecast_limit(points, 1024 * kMiB, params);
  ASSERT_TRUE(eta);
  EXPECT_NEAR(*eta, 300, 1);
  params.horizon_seconds = 200;
  EXPECT_FALSE(forecast_limit(points, 1024 * kMiB, params));  // beyond the horizon
  const auto falling = series(300, 5, [](double t) { return 900 * kMiB - t * kMiB; });
  EXPECT_FALSE(forecast_limit(falling, 1024 * kMiB, ForecastParams{}));
}

}  // namespace
}  // namespace memopt::analysis
