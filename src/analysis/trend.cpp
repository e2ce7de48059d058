#include "memopt/analysis/trend.hpp"

#include <algorithm>
#include <cmath>

namespace memopt::analysis {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

/// The points whose time lies within `window` of the last one.
std::vector<Point> tail(const std::vector<Point>& points, double window) {
  if (points.empty()) return {};
  const double since = points.back().t - window;
  const auto first =
      std::find_if(points.begin(), points.end(), [&](const Point& p) { return p.t >= since; });
  return {first, points.end()};
}

}  // namespace

std::optional<LinearFit> fit_line(const std::vector<Point>& points) {
  const auto n = static_cast<double>(points.size());
  if (points.size() < 3) return std::nullopt;
  // Centre on the means: numerically stable for large t (epoch seconds).
  double mean_t = 0, mean_v = 0;
  for (const auto& p : points) mean_t += p.t, mean_v += p.value;
  mean_t /= n;
  mean_v /= n;
  double stt = 0, stv = 0, svv = 0;
  for (const auto& p : points) {
    const double dt = p.t - mean_t, dv = p.value - mean_v;
    stt += dt * dt;
    stv += dt * dv;
    svv += dv * dv;
  }
  if (stt <= 0) return std::nullopt;
  LinearFit fit;
  fit.slope = stv / stt;
  fit.intercept = mean_v - fit.slope * mean_t;
  fit.r2 = svv <= 0 ? 1.0 : std::clamp(stv * stv / (stt * svv), 0.0, 1.0);
  return fit;
}

std::optional<LeakVerdict> detect_leak(const std::vector<Point>& points, const LeakParams& params) {
  const auto window = tail(points, params.window_seconds);
  if (window.size() < 3) return std::nullopt;
  if (window.back().t - window.front().t < params.window_seconds * params.min_span_fraction)
    return std::nullopt;
  const auto fit = fit_line(window);
  if (!fit) return std::nullopt;
  const double mib_per_hour = fit->slope * 3600.0 / kMiB;
  if (mib_per_hour < params.min_slope_mib_per_hour || fit->r2 < params.min_r2) return std::nullopt;
  return LeakVerdict{mib_per_hour, fit->r2};
}

std::optional<double> forecast_limit(const std::vector<Point>& points, double limit,
                                     const ForecastParams& params) {
  const auto window = tail(points, params.window_seconds);
  if (window.size() < 3 || window.back().t - window.front().t < params.window_seconds / 2)
    return std::nullopt;
  const auto fit = fit_line(window);
  if (!fit || fit->slope <= 0 || fit->r2 < params.min_r2) return std::nullopt;
  const double now = window.back().t;
  const double projected_now = fit->intercept + fit->slope * now;
  const double seconds = (limit - projected_now) / fit->slope;
  if (seconds < 0 || seconds > params.horizon_seconds) return std::nullopt;
  return seconds;
}

}  // namespace memopt::analysis
