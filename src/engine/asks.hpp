#pragma once

#include <chrono>
#include <future>
#include <optional>
#include <vector>

#include "memopt/actions/leaks.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/engine.hpp"
#include "memopt/model/sample.hpp"

// What the engine asks cooperating processes through their cleanup sockets, each on a thread
// of its own and off the sampling path: a leaking process's growing sites (for its
// leak_suspected event) and the loop forecasts their `stats` carry.
namespace memopt::engine {

/// leak_suspected: how long the leaking process has to answer a `leaks` request (its leak
/// check takes a checkpoint first). The event waits at most this long, off the sampling path.
inline constexpr std::chrono::milliseconds kLeakSitesTimeout{2000};
/// leak_suspected: how many of the process's growing sites the event carries.
inline constexpr std::size_t kLeakSites = 5;
/// loop_forecast: the processes have this long, all together, to answer. One that does not
/// answer is skipped.
inline constexpr std::chrono::milliseconds kForecastsTimeout{1000};

class InProcessAsks {
 public:
  /// Failures to ask go to `sink` as notices.
  InProcessAsks(Roots roots, EngineSink& sink) : roots_(std::move(roots)), sink_(sink) {}

  /// leak_suspected events wait for the process's own leak sites, asked on another thread
  /// (finish_leak_sites); the other events are returned to be emitted now.
  [[nodiscard]] std::vector<analysis::Event> ask_leak_sites(std::vector<analysis::Event> events);
  /// The leak_suspected events whose process answered (or failed to); `wait`: all of them.
  [[nodiscard]] std::vector<analysis::Event> finish_leak_sites(bool wait);

  /// Whether a `stats` round is in flight (one at most).
  [[nodiscard]] bool asking_stats() const { return pending_stats_.has_value(); }
  /// Whether anything is asked or to be asked: leak sites or a `stats` round in flight, or a
  /// live process's socket at the last look (its loops are asked every few seconds).
  [[nodiscard]] bool busy() const {
    return !pending_leaks_.empty() || pending_stats_.has_value() || saw_socket_;
  }
  /// Starts a `stats` round among the processes of `watched` whose socket is in a runtime
  /// directory; none there (the common case): no thread, no lookup of the target.
  void ask_stats(const model::Target& watched);
  /// The answers of a finished round (empty when it failed, said as a notice), or nothing
  /// while none finished; `wait`: waits for the round in flight.
  [[nodiscard]] std::optional<std::vector<model::ProcessStats>> finish_stats(bool wait);

 private:
  struct PendingLeak {
    std::future<actions::LeakSitesAnswer> answer;
    analysis::Event event;  ///< leak_suspected, emitted with the answer
  };

  Roots roots_;
  EngineSink& sink_;
  std::vector<PendingLeak> pending_leaks_;
  std::optional<std::future<std::vector<model::ProcessStats>>> pending_stats_;
  bool saw_socket_ = false;
};

}  // namespace memopt::engine
