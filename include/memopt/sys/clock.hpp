#pragma once

#include <chrono>

namespace memopt::sys {

/// The wall clock (system_clock::now). Code that does time arithmetic takes a clock as a
/// value instead, so tests can inject one.
[[nodiscard]] std::chrono::system_clock::time_point wall_now() noexcept;

}  // namespace memopt::sys
