// The client side of the `stats` request: what a process embedding memopt answered. Kept
// apart from the socket code so that the parser can be fuzzed on its own.
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "actions/answer.hpp"
#include "memopt/actions/process_stats.hpp"

namespace memopt::actions {

namespace {

// A byte count: a whole number below 2^63, else absent.
std::optional<std::uint64_t> bytes_at(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const auto value = it->get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return value;
  }
  const auto value = it->get<std::int64_t>();
  if (value < 0) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

void fail(model::ProcessStats& stats, std::string reason) {
  stats.torch.clear();
  stats.models.clear();
  stats.error = std::move(reason);
}

}  // namespace

std::optional<std::string> torch_version_of_stats_answer(std::string_view answer) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty() || !parsed.json.is_object()) return std::nullopt;
  const auto version = parsed.json.find("torch_version");
  if (version == parsed.json.end() || !version->is_string()) return std::nullopt;
  auto text = version->get<std::string>();
  if (text.empty()) return std::nullopt;
  return text;
}

void apply_stats_answer(std::string_view answer, model::ProcessStats& stats) {
  const auto parsed = parse_answer(answer);  // every string in it printable already
  if (!parsed.error.empty()) return fail(stats, parsed.error);
  const auto& json = parsed.json;
  if (const auto error = json.find("error"); error != json.end()) {
    return fail(stats, error->is_string() ? error->get<std::string>() : "error");
  }
  if (const auto error = json.find("torch_error"); error != json.end()) {
    return fail(stats, error->is_string() ? error->get<std::string>() : "torch_error");
  }
  const auto torch = json.find("torch");
  const auto models = json.find("models");
  if (torch == json.end() || !torch->is_array() || models == json.end() || !models->is_array()) {
    return fail(stats, "the answer lacks its \"torch\" and \"models\" lists (not a stats answer)");
  }
  for (const auto& device : *torch) {
    if (!device.is_object()) return fail(stats, "a torch device is not a JSON object");
    const auto index = bytes_at(device, "device");
    const auto allocated = bytes_at(device, "allocated_bytes");
    const auto reserved = bytes_at(device, "reserved_bytes");
    if (!index || !allocated || !reserved || *index > std::numeric_limits<unsigned>::max()) {
      return fail(stats,
                  "a torch device lacks a whole \"device\", \"allocated_bytes\" or "
                  "\"reserved_bytes\"");
    }
    if (*allocated > *reserved) {
      return fail(stats, "implausible answer: torch allocated more than it reserved on cuda:" +
                             std::to_string(*index));
    }
    model::TorchDeviceMemory memory;
    memory.device = static_cast<unsigned>(*index);
    if (const auto uuid = device.find("uuid"); uuid != device.end() && uuid->is_string()) {
      memory.uuid = uuid->get<std::string>();
    }
    memory.allocated_bytes = *allocated;
    memory.reserved_bytes = *reserved;
    memory.peak_allocated_bytes = bytes_at(device, "peak_allocated_bytes");
    memory.context_bytes_estimate = bytes_at(device, "context_bytes");
    stats.torch.push_back(std::move(memory));
  }
  for (const auto& entry : *models) {
    const auto name = entry.is_object() ? entry.find("name") : entry.end();
    if (!entry.is_object() || name == entry.end() || !name->is_string()) {
      return fail(stats, "a model lacks its \"name\"");
    }
    model::HeldModel model;
    model.name = name->get<std::string>();
    model.bytes = bytes_at(entry, "bytes");
    if (const auto idle = entry.find("idle_seconds");
        idle != entry.end() && idle->is_number() && idle->get<double>() >= 0) {
      model.idle_seconds = idle->get<double>();
    }
    stats.models.push_back(std::move(model));
  }
}

}  // namespace memopt::actions
