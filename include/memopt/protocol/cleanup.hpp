#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The answer to `cleanup` and `shed` on the cleanup socket (protocol/wire.hpp): what the process
// ran and what each step gave back, as it measured it itself.
namespace memopt::protocol {

/// One step the process ran ("hook:NAME", "cuda_mem_pools", "malloc_trim", "model_cache", ...).
struct CleanupStepAnswer {
  std::string name;
  std::string status;  ///< "done", "skipped" or "failed"
  std::string reason;  ///< why skipped or failed; empty when there is none (the key is left out)
  std::optional<std::int64_t> rss_released_bytes;  ///< RSS before - after; negative: it grew
  std::optional<std::int64_t> gpu_released_bytes;  ///< NVML's bytes of the pid, before - after
  bool operator==(const CleanupStepAnswer&) const = default;
};

/// {"pid","rss_before_bytes","rss_after_bytes","heap_free_resident_before_bytes",
///  "heap_free_resident_after_bytes","released_bytes","steps":[{"name","status","reason"?,
///  "rss_released_bytes","gpu_released_bytes"?}]}, or {"error"} from a server that refused.
/// Absent figures are left out when encoded; a figure that is not a whole number that fits is
/// absent when decoded.
struct CleanupAnswer {
  std::optional<int> pid;
  std::optional<std::string> error;  ///< the server refused or failed; then nothing else is set
  std::optional<std::uint64_t> rss_before_bytes;
  std::optional<std::uint64_t> rss_after_bytes;
  std::optional<std::uint64_t> heap_free_resident_before_bytes;
  std::optional<std::uint64_t> heap_free_resident_after_bytes;
  std::optional<std::int64_t> released_bytes;  ///< rss_before - rss_after, as it measured it
  std::vector<CleanupStepAnswer> steps;
  bool operator==(const CleanupAnswer&) const = default;
};

/// The answer as one JSON line (no newline); invalid UTF-8 in names and reasons is replaced.
[[nodiscard]] std::string encode_cleanup_answer(const CleanupAnswer& answer);

/// Reads a `cleanup` or `shed` answer; every string in it made printable(). Throws Error when
/// it is not a JSON object (or nests deeper than kMaxAnswerDepth). An "error" answer is
/// returned with only `error` set. Entries of "steps" that are not objects are left out.
[[nodiscard]] CleanupAnswer decode_cleanup_answer(std::string_view answer);

/// The sum of the steps' gpu_released_bytes; absent when no step says. Throws Error when the
/// sum passes 2^63 bytes (no process holds that much: the answer is not true).
[[nodiscard]] std::optional<std::int64_t> gpu_released_total(const CleanupAnswer& answer);

}  // namespace memopt::protocol
