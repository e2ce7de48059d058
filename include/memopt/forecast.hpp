#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Loop forecast, in-process: a loop that keeps every result (an evaluation loop appending its
// outputs) grows by about the same amount per item, so where it meets the limit is known long
// before it gets there. memopt.forecast() in Python wraps LoopForecast.
namespace memopt {

namespace sys {
class SelfStatm;
}

/// A robust fit of memory against the item number of a loop: growth per item is the median of
/// the slopes between pairs of items an eighth of the window apart over the last kWindow items
/// (after `warmup_items`, whose allocations are the loop's start-up, not its growth), so that a
/// one-off jump (a cache filled once, the allocator taking a new arena) moves it little. Pure: no
/// I/O, no clock. Not thread-safe.
class GrowthFit {
 public:
  /// How many recent items the fit keeps.
  static constexpr std::size_t kWindow = 64;
  /// How many items after the warm-up the fit needs before it says anything.
  static constexpr std::size_t kMinItems = 8;

  explicit GrowthFit(std::size_t warmup_items = 5) : warmup_(warmup_items) {}

  /// Records that after item `index` (0-based, increasing) the memory was `bytes`, at `seconds`
  /// (any monotonic origin). Items before the warm-up's end are ignored.
  void add(std::uint64_t index, std::uint64_t bytes, double seconds);

  /// Growth per item in bytes (may be negative); absent before kMinItems items were fitted.
  [[nodiscard]] std::optional<double> bytes_per_item() const;
  /// The fitted memory at the last item recorded (robust to that item's own noise); absent as
  /// bytes_per_item().
  [[nodiscard]] std::optional<double> level_bytes() const;
  /// Seconds per item over the window; absent as bytes_per_item().
  [[nodiscard]] std::optional<double> seconds_per_item() const;
  /// The last index recorded (0 before any).
  [[nodiscard]] std::uint64_t last_index() const { return last_index_; }

 private:
  struct Point {
    double index = 0;
    double bytes = 0;
    double seconds = 0;
  };
  [[nodiscard]] const Point& at(std::size_t i) const;  // 0 = oldest kept
  std::size_t warmup_;
  std::array<Point, kWindow> ring_{};
  std::size_t count_ = 0;  // points kept, at most kWindow
  std::size_t next_ = 0;   // where the next point goes
  std::uint64_t last_index_ = 0;
};

/// What a LoopForecast found: the loop meets its limit before it ends.
struct LoopPrediction {
  double bytes_per_item = 0;  ///< fitted growth per item
  std::uint64_t item = 0;     ///< items done so far (1-based: the item just finished)
  /// The item (1-based) after which memory reaches the limit.
  std::uint64_t limit_item = 0;
  std::optional<std::uint64_t> total;  ///< items in the loop, when known
  std::optional<double> seconds_left;  ///< until limit_item, at the recent pace
  std::uint64_t bytes_now = 0;         ///< the memory measured after `item`
  std::uint64_t limit_bytes = 0;       ///< the limit that memory is compared with
  std::string limit_source;            ///< what the limit is ("the container's limit", ...)
};

/// The sentence a forecast says: "at +2.0 MiB/item this loop reaches the limit at item 250 of
/// 400 (~40 s): results are kept in memory; move them to CPU or write them out". `what` names
/// the memory ("" for RSS; "GPU memory reserved by torch" for torch's figure).
[[nodiscard]] std::string format_loop_prediction(const LoopPrediction& prediction,
                                                 const std::string& what = "");

/// Options of LoopForecast.
struct LoopForecastOptions {
  std::optional<std::uint64_t> total;  ///< items in the loop (len() of the iterable), if known
  /// The RSS at which the process is taken to be killed. Absent: this process's RSS now plus
  /// the memory its cgroup has available now (the cgroup's limit less what the whole cgroup
  /// uses: the other processes, the page cache that cannot be reclaimed), or the host's when
  /// no limit applies; see LoopForecast's constructor.
  std::optional<std::uint64_t> limit_bytes;
  std::size_t warmup_items = 5;
  /// How many items in a row must predict the limit inside the loop before it is said.
  std::size_t confirm_items = 3;
};

/// Forecasts whether a loop meets its memory limit, from one measurement after each item.
/// Without a total, it warns when the limit comes within as many items again as were done.
/// It says so once: the first prediction is returned, later steps return nothing. Not
/// thread-safe (one per loop).
class LoopForecast {
 public:
  /// Reads the limit (container_memory_now() and this process's RSS) when the options give
  /// none. Throws Error when /proc/self cannot be read.
  explicit LoopForecast(LoopForecastOptions options = {});
  /// As above with the limit given and no reading at all (for tests and for torch's figures).
  LoopForecast(LoopForecastOptions options, std::uint64_t limit_bytes, std::string limit_source);
  ~LoopForecast();
  LoopForecast(LoopForecast&&) noexcept;
  LoopForecast& operator=(LoopForecast&&) noexcept;

  /// After an item: reads this process's RSS (`/proc/self/statm`, kept open: one pread) and the
  /// steady clock, and steps. Throws Error when /proc/self cannot be read.
  std::optional<LoopPrediction> step();
  /// After an item, with the memory measured by the caller.
  std::optional<LoopPrediction> step(std::uint64_t bytes,
                                     std::chrono::steady_clock::time_point now);

  [[nodiscard]] std::uint64_t limit_bytes() const { return limit_bytes_; }
  [[nodiscard]] const std::string& limit_source() const { return limit_source_; }
  [[nodiscard]] std::uint64_t items() const { return items_; }
  [[nodiscard]] bool said() const { return said_; }
  /// Names the memory this forecast measures in its sentence ("" for RSS; "GPU memory torch
  /// reserves"), as format_loop_prediction's `what`.
  void set_what(std::string what) { what_ = std::move(what); }

 private:
  LoopForecastOptions options_;
  std::uint64_t limit_bytes_ = 0;
  std::string limit_source_;
  GrowthFit fit_;
  std::chrono::steady_clock::time_point start_;
  std::uint64_t items_ = 0;
  std::size_t in_a_row_ = 0;
  bool said_ = false;
  std::string what_;
  std::unique_ptr<sys::SelfStatm> statm_;  // opened by the first step()
};

/// A forecast a LoopForecast of this process said, kept so that a `stats` request on the cleanup
/// socket (serve_cleanup) carries it to `memopt monitor` (the loop_forecast event).
struct SaidForecast {
  std::uint64_t sequence = 0;  ///< 1, 2, ... in this process
  std::chrono::system_clock::time_point at;
  LoopPrediction prediction;
  std::string message;  ///< format_loop_prediction's sentence
};

/// How many of the latest said forecasts this process keeps.
inline constexpr std::size_t kKeptForecasts = 8;

/// The latest forecasts said in this process (at most kKeptForecasts), oldest first.
/// Thread-safe.
[[nodiscard]] std::vector<SaidForecast> said_forecasts();

}  // namespace memopt
