// The client side of the `stats` request: what a process embedding memopt answered. Kept
// apart from the socket code so that the parser can be fuzzed on its own.
#include <cmath>
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
  stats.forecasts.clear();
  stats.forecasts_note.reset();
  stats.error = std::move(reason);
}

/// The most forecasts taken from one answer (a process keeps its latest 8).
constexpr std::size_t kMaxForecasts = 16;
/// 2^63: byte counts and item numbers at or above it are not figures.
constexpr double kHuge = 9223372036854775808.0;
/// 2200-01-01 in seconds since 1970: a later "at" is not a time (and would overflow a clock).
constexpr double kLatestTime = 7258118400.0;

// A finite number in [low, kHuge), else absent.
std::optional<double> real_at(const nlohmann::json& object, const char* key, double low) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  const auto value = it->get<double>();
  if (!std::isfinite(value) || value < low || value >= kHuge) return std::nullopt;
  return value;
}

// One entry of "forecasts", or why it is not one.
std::optional<model::LoopForecastReport> forecast_of(const nlohmann::json& entry,
                                                     std::string& why) {
  if (!entry.is_object()) {
    why = "an entry is not a JSON object";
    return std::nullopt;
  }
  model::LoopForecastReport f;
  const auto sequence = bytes_at(entry, "sequence");
  const auto at = real_at(entry, "at", 0);
  const auto per_item = real_at(entry, "bytes_per_item", 0);
  const auto item = bytes_at(entry, "item");
  const auto limit_item = bytes_at(entry, "limit_item");
  const auto message = entry.find("message");
  if (!sequence || !at || !per_item || *per_item <= 0 || !item || !limit_item ||
      message == entry.end() || !message->is_string() || message->get<std::string>().empty()) {
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
  const auto optional_whole = [&](const char* key, std::optional<std::uint64_t>& out) {
    const auto it = entry.find(key);
    if (it == entry.end() || it->is_null()) return true;
    out = bytes_at(entry, key);
    return out.has_value();
  };
  bool ok = optional_whole("total", f.total) && optional_whole("limit_bytes", f.limit_bytes);
  if (const auto it = entry.find("seconds_left"); it != entry.end() && !it->is_null()) {
    f.seconds_left = real_at(entry, "seconds_left", 0);
    ok = ok && f.seconds_left.has_value();
  }
  if (!ok || (f.total && *f.total < f.item)) {
    why = "an entry's \"total\", \"limit_bytes\" or \"seconds_left\" is not a figure";
    return std::nullopt;
  }
  f.message = message->get<std::string>();
  return f;
}

// "forecasts" (absent from servers before it): bad entries are left out and noted, never fatal
// to the rest of the answer.
void take_forecasts(const nlohmann::json& json, model::ProcessStats& stats) {
  const auto forecasts = json.find("forecasts");
  if (forecasts == json.end()) return;
  if (!forecasts->is_array()) {
    stats.forecasts_note = "its \"forecasts\" is not a list; none taken";
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
      stats.forecasts.push_back(std::move(*f));
    } else {
      ++left_out;
      why = std::move(reason);
    }
  }
  if (left_out > 0) {
    stats.forecasts_note = std::to_string(left_out) + " of its " + std::to_string(n) +
                           " forecasts left out (" + why + ")";
  }
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
  take_forecasts(json, stats);
}

}  // namespace memopt::actions
