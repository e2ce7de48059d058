#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The answer to `leaks` on the cleanup socket (protocol/wire.hpp): the report of the leak check
// running in that process (memopt.leak_check(), python/memopt/leaks.py LeakReport.as_dict)
// with the server's "pid" added, or {"pid","error"} when none runs there.
namespace memopt::protocol {

/// One allocation site whose memory grew steadily. A figure the report lacks, or one that is
/// not a number of its type, is absent.
struct LeakSiteAnswer {
  std::optional<std::string> file;
  std::optional<int> line;
  std::optional<std::string> kind;  ///< "python" (tracemalloc) or "native" (torch CPU tensors)
  std::optional<std::uint64_t> size_bytes;  ///< held at the last checkpoint
  std::optional<std::uint64_t> count;       ///< allocations (or tensors) held then
  std::optional<double> growth_bytes_per_hour;
  std::optional<double> r2;  ///< of the fit
  bool operator==(const LeakSiteAnswer&) const = default;
};

/// {"pid", "checkpoints", "duration_s", "rss_growth_bytes", "python_growth_bytes",
/// "torch_cpu_growth_bytes", "unexplained_native_growth_bytes", "sites": [{"file", "line",
/// "kind", "size_bytes", "count", "growth_bytes_per_hour", "r2"}]}, or {"pid", "error"}. The
/// report's other keys (frames, suspected, a site's growth_bytes) are not read.
struct LeaksAnswer {
  std::optional<int> pid;
  std::optional<std::string> error;  ///< no leak check runs there, or it failed
  std::optional<int> checkpoints;
  std::optional<double> duration_s;  ///< from the first checkpoint to the last
  std::optional<std::int64_t> rss_growth_bytes;
  std::optional<std::int64_t> python_growth_bytes;
  std::optional<std::int64_t> torch_cpu_growth_bytes;
  std::optional<std::int64_t> unexplained_native_growth_bytes;  ///< negative: given back
  std::vector<LeakSiteAnswer> sites;  ///< largest growth first, as the process sent them
  bool operator==(const LeaksAnswer&) const = default;
};

/// The answer as one JSON line (no newline); absent figures are left out.
[[nodiscard]] std::string encode_leaks_answer(const LeaksAnswer& answer);

/// What the server sends for a leak check's own report (`report`, one JSON object from the
/// embedding program): that object, every key kept and every string made printable(), with
/// "pid" set. Throws Error when `report` is not a JSON object nested at most kMaxAnswerDepth.
[[nodiscard]] std::string encode_leak_report(std::string_view report, int pid);

/// Reads a `leaks` answer; every string in it made printable(). An "error" answer is returned
/// with only that and the pid set. Throws Error when it is not a JSON object, its "sites" is not
/// a list, or a site is not an object.
[[nodiscard]] LeaksAnswer decode_leaks_answer(std::string_view answer);

}  // namespace memopt::protocol
