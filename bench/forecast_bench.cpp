// The loop forecast's cost per item (issue 27: at most 5 µs when nothing is printed): the fit
// alone on given figures, and step() as memopt.forecast() calls it (reads /proc/self/statm).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>

#include "memopt/forecast.hpp"

namespace {

// A flat loop: the forecast fits every item and never speaks, the common case.
void BM_LoopForecastFitOnly(benchmark::State& state) {
  memopt::LoopForecast forecast({}, std::uint64_t{1} << 40, "the limit");
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t i = 0;
  for (auto _ : state) {
    ++i;
    auto said = forecast.step((std::uint64_t{400} << 20) + (i % 7) * 4096,
                              start + std::chrono::milliseconds(i));
    benchmark::DoNotOptimize(said);
  }
}
BENCHMARK(BM_LoopForecastFitOnly);

// What memopt.forecast() pays per item on the C++ side: statm read, clock, fit.
void BM_LoopForecastStep(benchmark::State& state) {
  memopt::LoopForecastOptions options;
  options.limit_bytes = std::uint64_t{1} << 40;
  memopt::LoopForecast forecast(options);
  for (auto _ : state) {
    auto said = forecast.step();
    benchmark::DoNotOptimize(said);
  }
}
BENCHMARK(BM_LoopForecastStep);

}  // namespace
