// The client side of the cleanup socket's wire protocol: what a cooperating process answered.
// Kept apart from the socket code so that the parser can be fuzzed on its own.
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "actions/answer.hpp"
#include "memopt/actions/cleanup.hpp"

namespace memopt::actions {

namespace {

constexpr auto kMaxBytes = std::numeric_limits<std::int64_t>::max();

/// A byte count of the answer: absent when missing or not an integer that fits.
std::optional<std::int64_t> bytes_in(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(kMaxBytes)) return std::nullopt;
    return static_cast<std::int64_t>(value);
  }
  if (it->is_number_integer()) return it->get<std::int64_t>();
  return std::nullopt;
}

void refuse(CooperatingProcess& process, std::string reason) {
  process.status = "failed";
  process.reason = std::move(reason);
  process.released_bytes.reset();
  process.gpu_released_bytes.reset();
}

}  // namespace

void apply_cleanup_answer(std::string_view answer, std::string_view request,
                          CooperatingProcess& process) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty()) return refuse(process, parsed.error);
  const auto& json = parsed.json;
  if (const auto error = json.find("error"); error != json.end()) {
    return refuse(process, error->is_string() ? error->get<std::string>() : "error");
  }
  if (request == "ping") {
    process.status = "planned";
    return;
  }
  process.status = "done";
  process.released_bytes = bytes_in(json, "released_bytes");
  if (const auto steps = json.find("steps"); steps != json.end() && steps->is_array()) {
    for (const auto& step : *steps) {
      const auto gpu = bytes_in(step, "gpu_released_bytes");
      if (!gpu) continue;
      std::int64_t sum = 0;
      if (__builtin_add_overflow(process.gpu_released_bytes.value_or(0), *gpu, &sum)) {
        return refuse(process, "implausible answer: its GPU releases add up past 2^63 bytes");
      }
      process.gpu_released_bytes = sum;
    }
  }
  // A process cannot give back more memory than it held when asked.
  if (process.released_bytes && process.rss_before_bytes &&
      *process.released_bytes > static_cast<std::int64_t>(std::min<std::uint64_t>(
                                    *process.rss_before_bytes, kMaxBytes))) {
    const auto released = *process.released_bytes;
    return refuse(process, fmt::format("implausible answer: released {} bytes, more than the {} "
                                       "bytes of RSS it held",
                                       released, *process.rss_before_bytes));
  }
}

}  // namespace memopt::actions
