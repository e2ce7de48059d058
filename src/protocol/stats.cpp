#include "memopt/protocol/stats.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/protocol/wire.hpp"

namespace memopt::protocol {

namespace {

/// 2^63: byte counts and item numbers at or above it are not figures.
constexpr double kHuge = 9223372036854775808.0;
/// 2200-01-01 in seconds since 1970: a later "at" is not a time (and would overflow a clock).
constexpr double kLatestTime = 7258118400.0;

// A finite number in [low, kHuge), else absent.
std::optional<double> real_from(const nlohmann::json& object, const char* name, double low) {
  const auto value = real_at(object, name);
  if (!value || *value < low || *value >= kHuge) return std::nullopt;
  return value;
}

nlohmann::json or_null(const auto& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

model::TorchDeviceMemory device_of(const nlohmann::json& device) {
  if (!device.is_object()) throw Error("a torch device is not a JSON object");
  const auto index = whole_at(device, key::kDevice);
  const auto allocated = whole_at(device, key::kAllocatedBytes);
  const auto reserved = whole_at(device, key::kReservedBytes);
  if (!index || !allocated || !reserved || *index > std::numeric_limits<unsigned>::max()) {
    throw Error(
        "a torch device lacks a whole \"device\", \"allocated_bytes\" or \"reserved_bytes\"");
  }
  if (*allocated > *reserved) {
    throw Error("implausible answer: torch allocated more than it reserved on cuda:" +
                std::to_string(*index));
  }
  model::TorchDeviceMemory memory;
  memory.device = static_cast<unsigned>(*index);
  memory.uuid = text_at(device, key::kUuid);
  memory.allocated_bytes = *allocated;
  memory.reserved_bytes = *reserved;
  memory.peak_allocated_bytes = whole_at(device, key::kPeakAllocatedBytes);
  memory.context_bytes_estimate = whole_at(device, key::kContextBytes);
  return memory;
}

std::vector<model::TorchDeviceMemory> devices_of(const nlohmann::json& torch) {
  std::vector<model::TorchDeviceMemory> devices;
  for (const auto& device : torch) devices.push_back(device_of(device));
  return devices;
}

// One entry of "forecasts", or why it is not one.
std::optional<model::LoopForecastReport> forecast_of(const nlohmann::json& entry,
                                                     std::string& why) {
  if (!entry.is_object()) {
    why = "an entry is not a JSON object";
    return std::nullopt;
  }
  model::LoopForecastReport f;
  const auto sequence = whole_at(entry, key::kSequence);
  const auto at = real_from(entry, key::kAt, 0);
  const auto per_item = real_from(entry, key::kBytesPerItem, 0);
  const auto item = whole_at(entry, key::kItem);
  const auto limit_item = whole_at(entry, key::kLimitItem);
  const auto message = text_at(entry, key::kMessage);
  if (!sequence || !at || !per_item || *per_item <= 0 || !item || !limit_item || !message ||
      message->empty()) {
    why =
        "an entry lacks a whole \"sequence\", \"item\" or \"limit_item\", a time \"at\", a "
        "growth \"bytes_per_item\" above 0 or a \"message\"";
    return std::nullopt;
  }
  if (*at > kLatestTime) {
    why = "an entry's \"at\" is not a time (seconds since 1970 before 2200)";
    return std::nullopt;
  }
  if (*limit_item < *item) {
    why = "an entry's limit_item comes before its item";
    return std::nullopt;
  }
  f.sequence = *sequence;
  f.at_unix_seconds = *at;
  f.bytes_per_item = *per_item;
  f.item = *item;
  f.limit_item = *limit_item;
  // Optional figures: null means unknown; one present but not a figure makes the entry unsure.
  const auto present = [&entry](const char* name) {
    const auto it = entry.find(name);
    return it != entry.end() && !it->is_null();
  };
  f.total = whole_at(entry, key::kTotal);
  f.limit_bytes = whole_at(entry, key::kLimitBytes);
  f.seconds_left = real_from(entry, key::kSecondsLeft, 0);
  const bool ok = (!present(key::kTotal) || f.total) &&
                  (!present(key::kLimitBytes) || f.limit_bytes) &&
                  (!present(key::kSecondsLeft) || f.seconds_left);
  if (!ok || (f.total && *f.total < f.item)) {
    why = "an entry's \"total\", \"limit_bytes\" or \"seconds_left\" is not a figure";
    return std::nullopt;
  }
  f.message = *message;
  return f;
}

// "forecasts" (absent from servers before it): bad entries are left out and noted.
void take_forecasts(const nlohmann::json& json, StatsAnswer& out) {
  const auto forecasts = json.find(key::kForecasts);
  if (forecasts == json.end()) return;
  if (!forecasts->is_array()) {
    out.forecasts_note = "its \"forecasts\" is not a list; none taken";
    return;
  }
  std::size_t left_out = 0;
  std::string why;
  const std::size_t n = forecasts->size();
  const std::size_t first = n > kMaxForecasts ? n - kMaxForecasts : 0;
  left_out += first;
  if (first > 0) why = "only the latest " + std::to_string(kMaxForecasts) + " are read";
  for (std::size_t i = first; i < n; ++i) {
    std::string reason;
    if (auto f = forecast_of((*forecasts)[i], reason)) {
      out.forecasts.push_back(std::move(*f));
    } else {
      ++left_out;
      why = std::move(reason);
    }
  }
  if (left_out > 0) {
    out.forecasts_note = std::to_string(left_out) + " of its " + std::to_string(n) +
                         " forecasts left out (" + why + ")";
  }
}

}  // namespace

std::string encode_stats_answer(const StatsAnswer& answer) {
  nlohmann::json json = nlohmann::json::object();
  if (answer.pid) json[key::kPid] = *answer.pid;
  if (answer.error) {
    json[key::kError] = *answer.error;
    return dump_line(json);
  }
  nlohmann::json torch = nlohmann::json::array();
  for (const auto& device : answer.torch) {
    nlohmann::json item = {{key::kDevice, device.device},
                           {key::kAllocatedBytes, device.allocated_bytes},
                           {key::kReservedBytes, device.reserved_bytes}};
    if (device.uuid) item[key::kUuid] = *device.uuid;
    if (device.peak_allocated_bytes) item[key::kPeakAllocatedBytes] = *device.peak_allocated_bytes;
    if (device.context_bytes_estimate) item[key::kContextBytes] = *device.context_bytes_estimate;
    torch.push_back(std::move(item));
  }
  json[key::kTorch] = std::move(torch);
  if (answer.torch_error) json[key::kTorchError] = *answer.torch_error;
  if (answer.torch_version) json[key::kTorchVersion] = *answer.torch_version;
  nlohmann::json models = nlohmann::json::array();
  for (const auto& held : answer.models) {
    models.push_back({{key::kName, held.name},
                      {key::kBytes, or_null(held.bytes)},
                      {key::kIdleSeconds, or_null(held.idle_seconds)}});
  }
  json[key::kModels] = std::move(models);
  nlohmann::json forecasts = nlohmann::json::array();
  for (const auto& f : answer.forecasts) {
    forecasts.push_back({{key::kSequence, f.sequence},
                         {key::kAt, f.at_unix_seconds},
                         {key::kBytesPerItem, f.bytes_per_item},
                         {key::kItem, f.item},
                         {key::kLimitItem, f.limit_item},
                         {key::kTotal, or_null(f.total)},
                         {key::kSecondsLeft, or_null(f.seconds_left)},
                         {key::kLimitBytes, or_null(f.limit_bytes)},
                         {key::kMessage, f.message}});
  }
  json[key::kForecasts] = std::move(forecasts);
  return dump_line(json);
}

StatsAnswer decode_stats_answer(std::string_view answer) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty()) throw Error(parsed.error);
  const auto& json = parsed.json;
  StatsAnswer out;
  if (const auto pid = signed_at(json, key::kPid);
      pid && *pid > 0 && *pid <= std::numeric_limits<int>::max()) {
    out.pid = static_cast<int>(*pid);
  }
  if ((out.error = error_of(json))) return out;
  out.torch_version = text_at(json, key::kTorchVersion);
  if (const auto error = json.find(key::kTorchError); error != json.end()) {
    out.torch_error = error->is_string() ? error->get<std::string>() : key::kTorchError;
    return out;
  }
  const auto torch = json.find(key::kTorch);
  const auto models = json.find(key::kModels);
  if (torch == json.end() || !torch->is_array() || models == json.end() || !models->is_array()) {
    throw Error("the answer lacks its \"torch\" and \"models\" lists (not a stats answer)");
  }
  out.torch = devices_of(*torch);
  for (const auto& entry : *models) {
    auto name = text_at(entry, key::kName);
    if (!name) throw Error("a model lacks its \"name\"");
    model::HeldModel held;
    held.name = std::move(*name);
    held.bytes = whole_at(entry, key::kBytes);
    if (const auto idle = real_at(entry, key::kIdleSeconds); idle && *idle >= 0) {
      held.idle_seconds = idle;
    }
    out.models.push_back(std::move(held));
  }
  take_forecasts(json, out);
  return out;
}

std::vector<model::TorchDeviceMemory> decode_torch_devices(std::string_view text) {
  // Wrapped so the provider's array gets the answer's limits and escaping.
  const auto parsed =
      parse_answer("{\"" + std::string(key::kTorch) + "\":" + std::string(text) + "}");
  if (!parsed.error.empty() || !parsed.json.at(key::kTorch).is_array()) {
    throw Error("the torch figures are not a JSON array");
  }
  return devices_of(parsed.json.at(key::kTorch));
}

std::optional<std::string> torch_version_of(std::string_view answer) {
  const auto parsed = parse_answer(answer);
  if (!parsed.error.empty()) return std::nullopt;
  auto version = text_at(parsed.json, key::kTorchVersion);
  if (!version || version->empty()) return std::nullopt;
  return version;
}

}  // namespace memopt::protocol
