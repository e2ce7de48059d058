#pragma once

#include <chrono>
#include <string>

namespace memopt {

/// RFC 3339 UTC with seconds ("2026-11-27T07:25:24Z"): every timestamp memopt writes (JSON,
/// text, the environment of alert hooks).
[[nodiscard]] std::string rfc3339(std::chrono::system_clock::time_point at);

}  // namespace memopt
