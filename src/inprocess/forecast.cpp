#include "memopt/forecast.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <mutex>
#include <utility>

#include "inprocess/self.hpp"
#include "memopt/protect.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/statm.hpp"
#include "memopt/units.hpp"

namespace memopt {

namespace {

/// The median of `values[0..n)`, reordering them.
double median_of(double* values, std::size_t n) {
  const auto middle = values + n / 2;
  std::nth_element(values, middle, values + n);
  if (n % 2 == 1) return *middle;
  const double upper = *middle;
  return (*std::max_element(values, middle) + upper) / 2;
}

std::string mib_text(double bytes) {
  return fmt::format("{:+.1f} MiB", bytes / static_cast<double>(kMiB));
}

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("~{:.0f} s", seconds);
  if (seconds < 90 * 60) return fmt::format("~{:.0f} min", seconds / 60);
  return fmt::format("~{:.1f} h", seconds / 3600);
}

std::mutex g_said_mutex;
std::deque<SaidForecast> g_said;    // guarded by g_said_mutex; the latest kKeptForecasts
std::uint64_t g_said_sequence = 0;  // guarded by g_said_mutex

/// Keeps a forecast for the `stats` answer (serve_cleanup), whether or not a socket serves.
void keep_said(const LoopPrediction& prediction, std::string message) {
  const auto at = std::chrono::system_clock::now();
  const std::lock_guard lock(g_said_mutex);
  g_said.push_back({++g_said_sequence, at, prediction, std::move(message)});
  while (g_said.size() > kKeptForecasts) g_said.pop_front();
}

}  // namespace

std::vector<SaidForecast> said_forecasts() {
  const std::lock_guard lock(g_said_mutex);
  return {g_said.begin(), g_said.end()};
}

void GrowthFit::add(std::uint64_t index, std::uint64_t bytes, double seconds) {
  last_index_ = index;
  if (index < warmup_) return;
  ring_[next_] = {static_cast<double>(index), static_cast<double>(bytes), seconds};
  next_ = (next_ + 1) % kWindow;
  count_ = std::min(count_ + 1, kWindow);
}

const GrowthFit::Point& GrowthFit::at(std::size_t i) const {
  return ring_[(next_ + kWindow - count_ + i) % kWindow];
}

std::optional<double> GrowthFit::bytes_per_item() const {
  if (count_ < kMinItems) return std::nullopt;
  // Pairs an eighth of the kept items apart: each slope spans several items, so RSS that moves in
  // steps of a few items (malloc growing its heap) averages out, while a one-off jump falls
  // between few enough pairs (an eighth) and one item's spike between few enough (a quarter)
  // that the median of the slopes does not follow them.
  const std::size_t lag = std::max<std::size_t>(1, count_ / 8);
  const std::size_t pairs = count_ - lag;
  std::array<double, kWindow> slopes{};
  for (std::size_t j = 0; j < pairs; ++j) {
    const auto& a = at(j);
    const auto& b = at(j + lag);
    slopes[j] = (b.bytes - a.bytes) / (b.index - a.index);
  }
  return median_of(slopes.data(), pairs);
}

std::optional<double> GrowthFit::level_bytes() const {
  const auto slope = bytes_per_item();
  if (!slope) return std::nullopt;
  const auto& last = at(count_ - 1);
  std::array<double, kWindow> levels{};
  for (std::size_t i = 0; i < count_; ++i) {
    const auto& p = at(i);
    levels[i] = p.bytes + *slope * (last.index - p.index);
  }
  return median_of(levels.data(), count_);
}

std::optional<double> GrowthFit::seconds_per_item() const {
  if (count_ < kMinItems) return std::nullopt;
  const auto& first = at(0);
  const auto& last = at(count_ - 1);
  return (last.seconds - first.seconds) / (last.index - first.index);
}

std::string format_loop_prediction(const LoopPrediction& p, const std::string& what) {
  const std::string of_total = p.total ? fmt::format(" of {}", *p.total) : std::string();
  const std::string when =
      p.seconds_left ? fmt::format(" ({})", duration_text(*p.seconds_left)) : std::string();
  const std::string memory = what.empty() ? std::string() : " in " + what;
  return fmt::format(
      "at {}/item{} this loop reaches {} (at an RSS of {}) at item {}{}{}; now at item {}, {}: "
      "results are "
      "kept in memory; move them to CPU or write them out",
      mib_text(p.bytes_per_item), memory, p.limit_source, format_bytes(p.limit_bytes), p.limit_item,
      of_total, when, p.item, format_bytes(p.bytes_now));
}

LoopForecast::LoopForecast(LoopForecastOptions options)
    : options_(options), fit_(options.warmup_items), start_(std::chrono::steady_clock::now()) {
  if (options_.limit_bytes) {
    limit_bytes_ = *options_.limit_bytes;
    limit_source_ = "the limit";
    return;
  }
  const auto rss = inprocess::self_rss_bytes();
  const auto memory = container_memory_now();
  // What this process may still grow by: what its cgroup (or the host) has available now.
  limit_bytes_ = rss + memory.available_bytes;
  limit_source_ = memory.scope == analysis::Scope::kContainer ? "the container's limit"
                                                              : "the host's available memory";
}

LoopForecast::LoopForecast(LoopForecastOptions options, std::uint64_t limit_bytes,
                           std::string limit_source)
    : options_(options),
      limit_bytes_(limit_bytes),
      limit_source_(std::move(limit_source)),
      fit_(options.warmup_items),
      start_(std::chrono::steady_clock::now()) {}

LoopForecast::~LoopForecast() = default;
LoopForecast::LoopForecast(LoopForecast&&) noexcept = default;
LoopForecast& LoopForecast::operator=(LoopForecast&&) noexcept = default;

std::optional<LoopPrediction> LoopForecast::step() {
  if (!statm_) statm_ = std::make_unique<sys::SelfStatm>(sys::default_roots().procfs);
  const auto rss = readers::parse_statm_rss(statm_->read(), page_size(), statm_->path());
  return step(rss, std::chrono::steady_clock::now());
}

std::optional<LoopPrediction> LoopForecast::step(std::uint64_t bytes,
                                                 std::chrono::steady_clock::time_point now) {
  const std::uint64_t index = items_++;
  if (said_) return std::nullopt;
  fit_.add(index, bytes, std::chrono::duration<double>(now - start_).count());
  const auto slope = fit_.bytes_per_item();
  const auto level = fit_.level_bytes();
  // Below a page per item, growth is the allocator's noise, not the loop's.
  if (!slope || !level || *slope < 4096.0) {
    in_a_row_ = 0;
    return std::nullopt;
  }
  const double room = static_cast<double>(limit_bytes_) - *level;
  const std::uint64_t done = items_;
  const std::uint64_t more = room <= 0 ? 0 : static_cast<std::uint64_t>(std::ceil(room / *slope));
  const std::uint64_t limit_item = done + more;
  const bool inside = options_.total ? limit_item <= *options_.total : more <= done;
  if (!inside) {
    in_a_row_ = 0;
    return std::nullopt;
  }
  if (++in_a_row_ < std::max<std::size_t>(options_.confirm_items, 1)) return std::nullopt;
  said_ = true;
  LoopPrediction p;
  p.bytes_per_item = *slope;
  p.item = done;
  p.limit_item = limit_item;
  p.total = options_.total;
  if (const auto pace = fit_.seconds_per_item(); pace && *pace > 0) {
    p.seconds_left = *pace * static_cast<double>(more);
  }
  p.bytes_now = bytes;
  p.limit_bytes = limit_bytes_;
  p.limit_source = limit_source_;
  keep_said(p, format_loop_prediction(p, what_));
  return p;
}

}  // namespace memopt
