#include "engine/scheduler.hpp"

#include "memopt/sys/clock.hpp"
#include "memopt/sys/process.hpp"

namespace memopt::engine {

EngineClock real_clock(EngineClock clock) {
  if (!clock.wall) clock.wall = [] { return sys::wall_now(); };
  if (!clock.steady) clock.steady = [] { return sys::steady_now(); };
  return clock;
}

}  // namespace memopt::engine
