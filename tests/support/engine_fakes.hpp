#pragma once

// Fakes for the engine's parts (tests/engine): a clock the test moves, a sink that keeps
// notices.
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/engine.hpp"

namespace memopt::testing {

/// An EngineClock whose steady time is `now` (the test moves it) and whose wall time stands
/// at the epoch.
inline EngineClock manual_clock(const std::chrono::steady_clock::time_point& now) {
  EngineClock clock;
  clock.steady = [&now] { return now; };
  clock.wall = [] { return std::chrono::system_clock::time_point{}; };
  return clock;
}

/// A sink that keeps the notices it is told, and nothing else.
struct NoticeSink final : EngineSink {
  void on_notice(std::string_view message) override { said.emplace_back(message); }
  std::vector<std::string> said;
};

}  // namespace memopt::testing
