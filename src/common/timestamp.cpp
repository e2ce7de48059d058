#include "memopt/timestamp.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace memopt {

std::string rfc3339(std::chrono::system_clock::time_point at) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%SZ}",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(at)));
}

}  // namespace memopt
