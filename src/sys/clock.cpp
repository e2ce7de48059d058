#include "memopt/sys/clock.hpp"

namespace memopt::sys {

std::chrono::system_clock::time_point wall_now() noexcept {
  return std::chrono::system_clock::now();
}

}  // namespace memopt::sys
