#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "memopt/json_values.hpp"

// The cleanup socket's wire protocol, written once for both sides: the server embedded in a
// model's process (inprocess, serve_cleanup()) and its clients (actions: cleanup, report's
// in-process view, `report --leaks`, the monitor's asks). One request line goes out ("stats\n"),
// one JSON object comes back on one line. Every request name and every key is defined here and
// nowhere else; the answers' encoders and decoders are in cleanup.hpp, stats.hpp and leaks.hpp.
namespace memopt::protocol {

/// What a client may ask, each sent as its name and a newline.
enum class Request {
  kCleanup,  ///< run cleanup(): hooks, CUDA pools, malloc_trim; answers a CleanupAnswer
  kShed,     ///< run shed(): shed hooks, unused models evicted; answers a CleanupAnswer
  kPing,     ///< changes nothing; answers a PingAnswer
  kLeaks,    ///< changes nothing; answers the leak check's LeaksAnswer
  kStats,    ///< changes nothing; answers a StatsAnswer
};

/// The name of `request` on the wire ("cleanup", "shed", "ping", "leaks", "stats").
[[nodiscard]] std::string_view request_name(Request request);

/// The request named `line` (without its newline); absent for any other text.
[[nodiscard]] std::optional<Request> parse_request(std::string_view line);

/// The most bytes of a request line the server reads.
inline constexpr std::size_t kMaxRequestBytes = 256;

/// The most bytes of one answer a client reads (without its newline). A real answer is a few
/// KiB; past this the answer is refused and nothing of it is kept.
inline constexpr std::size_t kMaxAnswerBytes = 1 << 20;

/// How deep an answer's JSON may nest (arrays and objects). A real answer nests 4 levels;
/// a deeper one is refused before it is parsed (1 MiB of `[` would take 100 MiB to build).
inline constexpr std::size_t kMaxAnswerDepth = 64;

/// Every key of every answer, each spelled once. Renaming one breaks every embedded process
/// already running: the wire format is older than any one build.
namespace key {
// Any answer
inline constexpr char kPid[] = "pid";
inline constexpr char kError[] = "error";  ///< the server's own refusal or failure, in words
// ping
inline constexpr char kRssBytes[] = "rss_bytes";
// cleanup and shed
inline constexpr char kRssBeforeBytes[] = "rss_before_bytes";
inline constexpr char kRssAfterBytes[] = "rss_after_bytes";
inline constexpr char kHeapFreeResidentBeforeBytes[] = "heap_free_resident_before_bytes";
inline constexpr char kHeapFreeResidentAfterBytes[] = "heap_free_resident_after_bytes";
inline constexpr char kReleasedBytes[] = "released_bytes";
inline constexpr char kSteps[] = "steps";
inline constexpr char kName[] = "name";
inline constexpr char kStatus[] = "status";
inline constexpr char kReason[] = "reason";
inline constexpr char kRssReleasedBytes[] = "rss_released_bytes";
inline constexpr char kGpuReleasedBytes[] = "gpu_released_bytes";
// stats
inline constexpr char kTorch[] = "torch";
inline constexpr char kTorchError[] = "torch_error";
inline constexpr char kTorchVersion[] = "torch_version";
inline constexpr char kDevice[] = "device";
inline constexpr char kUuid[] = "uuid";
inline constexpr char kAllocatedBytes[] = "allocated_bytes";
inline constexpr char kReservedBytes[] = "reserved_bytes";
inline constexpr char kPeakAllocatedBytes[] = "peak_allocated_bytes";
inline constexpr char kContextBytes[] = "context_bytes";
inline constexpr char kModels[] = "models";
inline constexpr char kBytes[] = "bytes";
inline constexpr char kIdleSeconds[] = "idle_seconds";
inline constexpr char kForecasts[] = "forecasts";
inline constexpr char kSequence[] = "sequence";
inline constexpr char kAt[] = "at";
inline constexpr char kBytesPerItem[] = "bytes_per_item";
inline constexpr char kItem[] = "item";
inline constexpr char kLimitItem[] = "limit_item";
inline constexpr char kTotal[] = "total";
inline constexpr char kSecondsLeft[] = "seconds_left";
inline constexpr char kLimitBytes[] = "limit_bytes";
inline constexpr char kMessage[] = "message";
// leaks (memopt.leak_check()'s report, python/memopt/leaks.py LeakReport.as_dict)
inline constexpr char kCheckpoints[] = "checkpoints";
inline constexpr char kDurationSeconds[] = "duration_seconds";
/// The old spelling of kDurationSeconds, sent and read beside it for one release (docs/naming.md).
inline constexpr char kDurationSecondsOld[] = "duration_s";
inline constexpr char kRssGrowthBytes[] = "rss_growth_bytes";
inline constexpr char kPythonGrowthBytes[] = "python_growth_bytes";
inline constexpr char kTorchCpuGrowthBytes[] = "torch_cpu_growth_bytes";
inline constexpr char kUnexplainedNativeGrowthBytes[] = "unexplained_native_growth_bytes";
inline constexpr char kSites[] = "sites";
inline constexpr char kFile[] = "file";
inline constexpr char kLine[] = "line";
inline constexpr char kKind[] = "kind";
inline constexpr char kSizeBytes[] = "size_bytes";
inline constexpr char kCount[] = "count";
inline constexpr char kGrowthBytesPerHour[] = "growth_bytes_per_hour";
inline constexpr char kR2[] = "r2";
}  // namespace key

/// An answer read as JSON.
struct ParsedAnswer {
  nlohmann::json json;  ///< an object, every string in it (keys too) made printable()
  std::string error;    ///< why there is none ("the answer is not JSON", ...); empty when ok
};

/// Parses `answer` as one JSON object. Refuses, without building it, JSON nested deeper than
/// kMaxAnswerDepth. Every string (values and keys) is passed through printable(): escape
/// sequences, CR/LF and bidi controls a server sends never reach a terminal or a page. Every
/// decoder starts here, so every answer gets the same limits and escaping.
[[nodiscard]] ParsedAnswer parse_answer(std::string_view answer);

/// An answer that is only a refusal or a failure: {"error": message}, plus "pid" when given.
/// One line, no newline; bytes of `message` that are not UTF-8 are replaced.
[[nodiscard]] std::string encode_error_answer(std::string_view message,
                                              std::optional<int> pid = std::nullopt);

/// The answer to `ping`: who answers and how much it holds.
struct PingAnswer {
  std::optional<int> pid;
  std::optional<std::uint64_t> rss_bytes;  ///< its resident set, as it measured it
  std::optional<std::string> error;        ///< the server's refusal, in words
  bool operator==(const PingAnswer&) const = default;
};

/// {"pid","rss_bytes"} (and "error" when set) as one line.
[[nodiscard]] std::string encode_ping_answer(const PingAnswer& answer);

/// Reads a `ping` answer. Throws Error when it is not a JSON object; a figure that is not a
/// whole number below 2^63 is absent.
[[nodiscard]] PingAnswer decode_ping_answer(std::string_view answer);

/// The server's "error" of an answer: absent when it has none; its text, or a sentence saying
/// it was not text.
[[nodiscard]] std::optional<std::string> error_of(const nlohmann::json& answer);

// A figure of an answer is read with whole_at (a JSON integer below 2^63: 1e6 is a float, not a
// count), signed_at, real_at and text_at of memopt/json_values.hpp: absent when missing, null,
// of another type, negative or out of range.

/// JSON text of `value` as one line; invalid UTF-8 replaced (a name from a hook may hold any
/// byte).
[[nodiscard]] std::string dump_line(const nlohmann::json& value);

}  // namespace memopt::protocol
