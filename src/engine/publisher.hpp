#pragma once

#include <chrono>
#include <cstdint>
#include <deque>

#include "memopt/engine.hpp"

// Hands an exporter (EngineOptions::publish) the engine's one state after each change, typed:
// the report, the event counts, the history and the latest events. It renders nothing; the
// sink renders what it serves.
namespace memopt::engine {

/// Quick observations reach the published snapshot at most this often.
inline constexpr std::chrono::milliseconds kPublishEvery{1000};
/// Snapshots keep this many of the latest events.
inline constexpr std::size_t kRecentEvents = 100;

class Publisher {
 public:
  /// `enabled`: EngineOptions::publish (otherwise nothing is kept or handed on).
  Publisher(EngineSink& sink, bool enabled, EngineClock clock)
      : sink_(sink), enabled_(enabled), clock_(std::move(clock)) {}

  /// Keeps an event for the snapshots (the latest kRecentEvents).
  void keep(const analysis::Event& event);
  /// Something served changed: publish at the end of the step.
  void changed() { dirty_ = true; }
  [[nodiscard]] bool dirty() const { return dirty_; }
  /// Whether a quick observation is due in the served report (at most once a second).
  [[nodiscard]] bool quick_due() const { return clock_.steady() - last_publish_ >= kPublishEvery; }

  /// What the snapshot carries besides the engine's report and watcher.
  struct Extras {
    std::optional<std::uint64_t> cleanup_reclaimed_bytes;
    std::size_t top = 5;
    bool containers = false;
  };
  /// Hands the sink a snapshot of `report` (nothing before the first, or when not enabled).
  void publish(const analysis::Report* report, const analysis::Watcher& watcher,
               const Extras& extras);

 private:
  EngineSink& sink_;
  bool enabled_;
  EngineClock clock_;
  std::deque<analysis::Event> recent_;
  std::uint64_t kept_ = 0;  ///< events kept since start
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_publish_{};
};

}  // namespace memopt::engine
