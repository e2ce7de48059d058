#include "memopt/protocol/cleanup.hpp"

#include <limits>
#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/protocol/wire.hpp"

namespace memopt::protocol {

std::string encode_cleanup_answer(const CleanupAnswer& answer) {
  nlohmann::json json = nlohmann::json::object();
  if (answer.error) json[key::kError] = *answer.error;
  if (answer.pid) json[key::kPid] = *answer.pid;
  if (answer.rss_before_bytes) json[key::kRssBeforeBytes] = *answer.rss_before_bytes;
  if (answer.rss_after_bytes) json[key::kRssAfterBytes] = *answer.rss_after_bytes;
  if (answer.heap_free_resident_before_bytes) {
    json[key::kHeapFreeResidentBeforeBytes] = *answer.heap_free_resident_before_bytes;
  }
  if (answer.heap_free_resident_after_bytes) {
    json[key::kHeapFreeResidentAfterBytes] = *answer.heap_free_resident_after_bytes;
  }
  if (answer.released_bytes) json[key::kReleasedBytes] = *answer.released_bytes;
  if (!answer.error) {
    nlohmann::json steps = nlohmann::json::array();
    for (const auto& step : answer.steps) {
      nlohmann::json item = {{key::kName, step.name}, {key::kStatus, step.status}};
      if (step.rss_released_bytes) item[key::kRssReleasedBytes] = *step.rss_released_bytes;
      if (!step.reason.empty()) item[key::kReason] = step.reason;
      if (step.gpu_released_bytes) item[key::kGpuReleasedBytes] = *step.gpu_released_bytes;
      steps.push_back(std::move(item));
    }
    json[key::kSteps] = std::move(steps);
  }
  return dump_line(json);
}

CleanupAnswer decode_cleanup_answer(std::string_view answer) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty()) throw Error(parsed.error);
  const auto& json = parsed.json;
  CleanupAnswer out;
  if (const auto pid = signed_at(json, key::kPid);
      pid && *pid > 0 && *pid <= std::numeric_limits<int>::max()) {
    out.pid = static_cast<int>(*pid);
  }
  out.error = error_of(json);
  if (out.error) return out;
  out.rss_before_bytes = whole_at(json, key::kRssBeforeBytes);
  out.rss_after_bytes = whole_at(json, key::kRssAfterBytes);
  out.heap_free_resident_before_bytes = whole_at(json, key::kHeapFreeResidentBeforeBytes);
  out.heap_free_resident_after_bytes = whole_at(json, key::kHeapFreeResidentAfterBytes);
  out.released_bytes = signed_at(json, key::kReleasedBytes);
  if (const auto steps = json.find(key::kSteps); steps != json.end() && steps->is_array()) {
    for (const auto& item : *steps) {
      if (!item.is_object()) continue;
      CleanupStepAnswer step;
      step.name = text_at(item, key::kName).value_or("");
      step.status = text_at(item, key::kStatus).value_or("");
      step.reason = text_at(item, key::kReason).value_or("");
      step.rss_released_bytes = signed_at(item, key::kRssReleasedBytes);
      step.gpu_released_bytes = signed_at(item, key::kGpuReleasedBytes);
      out.steps.push_back(std::move(step));
    }
  }
  return out;
}

std::optional<std::int64_t> gpu_released_total(const CleanupAnswer& answer) {
  std::optional<std::int64_t> total;
  for (const auto& step : answer.steps) {
    if (!step.gpu_released_bytes) continue;
    std::int64_t sum = 0;
    if (__builtin_add_overflow(total.value_or(0), *step.gpu_released_bytes, &sum)) {
      throw Error("implausible answer: its GPU releases add up past 2^63 bytes");
    }
    total = sum;
  }
  return total;
}

}  // namespace memopt::protocol
