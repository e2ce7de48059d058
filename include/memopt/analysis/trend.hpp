#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <vector>

// Trend math over time series: pure functions, time given as seconds on any fixed origin.
namespace memopt::analysis {

/// One point of a series: seconds (any origin) and a value (bytes).
struct Point {
  double t = 0;
  double value = 0;
};

/// An ordinary least-squares line through a series.
struct LinearFit {
  double slope = 0;      ///< value units per second
  double intercept = 0;  ///< value at t = 0
  double r2 = 0;         ///< goodness of fit, 0..1 (1 when the series is exactly on the line)
};

/// Fits a line; std::nullopt with fewer than 3 points or no spread in time.
[[nodiscard]] std::optional<LinearFit> fit_line(const std::vector<Point>& points);

/// When a series counts as a leak.
struct LeakParams {
  double window_seconds = 1800;        ///< fit over this much history
  double min_span_fraction = 0.8;      ///< the points must cover this share of the window
  double min_slope_mib_per_hour = 20;  ///< steady growth at least this fast
  double min_r2 = 0.8;                 ///< and this straight (a GC sawtooth is not)
};

/// A leak verdict for one series.
struct LeakVerdict {
  double slope_mib_per_hour = 0;
  double r2 = 0;
};

/// The leak verdict for `points` (time-ordered) over the last `params.window_seconds`;
/// std::nullopt when it does not look like a leak or there is too little history.
[[nodiscard]] std::optional<LeakVerdict> detect_leak(const std::vector<Point>& points,
                                                     const LeakParams& params);

/// When the working set is heading for the limit.
struct ForecastParams {
  double window_seconds = 300;    ///< fit the working set over this much history
  double horizon_seconds = 1800;  ///< warn when the limit is this close in time
  double min_r2 = 0.6;            ///< only trust a reasonably straight trend
};

/// Seconds until the fitted trend of `points` reaches `limit` (from the last point), if it
/// does within the horizon.
[[nodiscard]] std::optional<double> forecast_limit(const std::vector<Point>& points, double limit,
                                                   const ForecastParams& params);

}  // namespace memopt::analysis
