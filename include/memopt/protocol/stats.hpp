#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"

// The answer to `stats` on the cleanup socket (protocol/wire.hpp): what a process embedding
// memopt says it holds (torch's caching allocator per device, its ModelCaches' models) and the
// loop forecasts it said. The figures are the model's own types: the client keeps them as read.
namespace memopt::protocol {

/// {"pid", "torch": [{"device", "uuid"?, "allocated_bytes", "reserved_bytes",
/// "peak_allocated_bytes"?, "context_bytes"?}], "torch_error"?, "torch_version"?,
/// "models": [{"name", "bytes", "idle_seconds"}], "forecasts": [{"sequence", "at",
/// "bytes_per_item", "item", "limit_item", "total", "seconds_left", "limit_bytes",
/// "message"}]} (docs/report-schema.md), or {"error"} from a server that refused.
struct StatsAnswer {
  std::optional<int> pid;
  std::optional<std::string> error;  ///< the server refused; then nothing else is set
  std::vector<model::TorchDeviceMemory> torch;
  std::optional<std::string> torch_error;    ///< its torch figures failed; then torch is empty
  std::optional<std::string> torch_version;  ///< torch.__version__ there, when it said
  std::vector<model::HeldModel> models;
  std::vector<model::LoopForecastReport> forecasts;  ///< oldest first, at most kMaxForecasts
  /// Decoded only: forecasts left out (not whole, or past kMaxForecasts) and why.
  std::optional<std::string> forecasts_note;
  bool operator==(const StatsAnswer&) const = default;
};

/// The most forecasts taken from one answer (a process keeps its latest 8).
inline constexpr std::size_t kMaxForecasts = 16;

/// The answer as one JSON line (no newline). Absent optional figures of a forecast or a model
/// are null (the keys are always there); a device's absent optional keys are left out.
[[nodiscard]] std::string encode_stats_answer(const StatsAnswer& answer);

/// Reads a `stats` answer; every string in it made printable(). An "error" answer is returned
/// with only that (and the pid) set; a "torch_error" one with that, the pid and torch_version.
/// Throws Error, saying why, when it is not a JSON object, lacks its "torch" and "models" lists, or
/// holds figures that cannot be true (allocated above reserved, byte counts that are not whole
/// numbers below 2^63, a model without a name). Forecasts that are not whole are left out and said
/// in `forecasts_note`, never fatal to the rest.
[[nodiscard]] StatsAnswer decode_stats_answer(std::string_view answer);

/// Reads the JSON array a torch stats provider returns (the "torch" of a stats answer, see
/// memopt::set_torch_stats_provider) by the same rules. Throws Error when it is not an array or
/// a device is not one.
[[nodiscard]] std::vector<model::TorchDeviceMemory> decode_torch_devices(std::string_view text);

/// The "torch_version" of a `stats` answer alone, read leniently (for `diagnose`): absent when
/// the answer has none, has an empty one or is not a JSON object.
[[nodiscard]] std::optional<std::string> torch_version_of(std::string_view answer);

}  // namespace memopt::protocol
