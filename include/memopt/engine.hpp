#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/config.hpp"
#include "memopt/model/ring_buffer.hpp"
#include "memopt/model/target.hpp"
#include "memopt/sys/fs.hpp"

// The monitor engine: one watched state per target (observation -> analysis -> level with
// hysteresis -> events -> actions), run by `memopt monitor`, the HTTP exporter, the C++
// library and Python alike. Every output reads the level from the engine's one state, so
// sample lines, events, hooks, /api/*, /metrics and in-process callbacks always agree.
namespace memopt::analysis {
struct ProcessGroup;
}  // namespace memopt::analysis

namespace memopt {

namespace actions {
class Signaller;
}  // namespace actions

/// What an engine publishes for an exporter after each change: its one state, typed. The
/// engine renders nothing; a sink that serves documents renders them (http::SnapshotRenderer),
/// and only when it serves. The pointers are the engine's own and valid until on_publish()
/// returns.
struct EngineSnapshot {
  const analysis::Report* report = nullptr;         ///< status = the engine's level; never null
  const analysis::WatchSummary* summary = nullptr;  ///< event counts since start; never null
  /// The last hour of readings ({t, used, limit, available, level}), oldest first; never null.
  const model::RingBuffer<analysis::HistoryPoint>* history = nullptr;
  /// The most recent events, oldest first (at most a hundred); never null...
  const std::deque<analysis::Event>* events = nullptr;
  /// ...and how many were published since start: the newest `events_total - seen` of `events`
  /// are new to a sink that saw `seen` (so that each is rendered once).
  std::uint64_t events_total = 0;
  /// memopt_cleanup_reclaimed_bytes_total; absent without --auto-cleanup.
  std::optional<std::uint64_t> cleanup_reclaimed_bytes;
  std::size_t top = 5;      ///< processes a document lists (config top)
  bool containers = false;  ///< whether the report lists containers (config containers)
  /// Filled by a recorder sink (`--record`) once it has post-mortems, empty otherwise: their
  /// list ([{id, at, kind, summary}]), each document by id, and how many it wrote since start
  /// (memopt_postmortems_total).
  std::string postmortems_json;
  std::shared_ptr<const std::map<std::int64_t, std::string>> postmortems;
  std::optional<std::uint64_t> postmortems_written;
};

/// The engine's front end: it prints, serves or calls back. Called on the engine's thread.
class EngineSink {
 public:
  virtual ~EngineSink() = default;
  /// A full sample; `report.status.level` is the engine's level.
  virtual void on_sample(const analysis::Report& /*report*/) {}
  /// An event, once its level is the engine's level (a sample never shows a level before
  /// the event that announced it).
  virtual void on_event(const analysis::Event& /*event*/) {}
  /// A quick observation (each watch interval, and each full sample's figures) with the
  /// engine's level after it: what a recorder keeps.
  virtual void on_observation(const analysis::QuickObservation& /*observation*/,
                              analysis::Level /*level*/) {}
  /// A new snapshot for an exporter (only when EngineOptions::publish is set).
  virtual void on_publish(const EngineSnapshot& /*snapshot*/) {}
  /// A sentence about the engine itself (a fallback, a reload, a failed hook's detail).
  virtual void on_notice(std::string_view /*message*/) {}
  /// The process groups (parents with their workers) the engine found in the full sample just
  /// given to on_sample(), from one reading of the process tree: a view shows these rather
  /// than reading the tree again.
  virtual void on_groups(const std::vector<analysis::ProcessGroup>& /*groups*/) {}
};

/// The clocks an engine reads; the real ones by default, fakes in tests.
struct EngineClock {
  std::function<std::chrono::system_clock::time_point()> wall;
  std::function<std::chrono::steady_clock::time_point()> steady;
};

/// How an engine runs.
struct EngineOptions {
  Roots roots = sys::default_roots();
  model::Target target;
  analysis::AnalysisOptions analysis;  ///< thresholds (overridden by config.watch) and --model
  config::MonitorConfig config;
  /// Reloaded on reload() (SIGHUP); empty: reload() keeps the configuration.
  std::string config_path;
  /// Who named `config_path` ("--config", "$MEMOPT_CONFIG"): a reload that cannot read it says so.
  std::string config_origin = "--config";
  /// Applied over a reloaded file, as the command line's flags are (interval, on_alert, ...).
  std::function<void(config::MonitorConfig&)> config_overrides;
  bool publish = false;  ///< publish EngineSnapshots (an exporter): keeps an hour of history
  bool kernel_notifications = true;  ///< v1 thresholds, v2 events, PSI triggers (off in tests)
  /// Sleep until the next full sample while calm instead of a quick reading every watch
  /// interval: the level normal, the usage below every v1 usage threshold (so the kernel wakes
  /// the engine at any crossing), the target's stalls and the host's watched by PSI triggers,
  /// no cleanup, hook or cooperating process to follow, and nothing served (`publish`).
  /// Wakeups from the kernel, request_stop(), request_reload() and wake_on() descriptors end
  /// the sleep. Off: readers of every quick observation (top's header, tests) keep them.
  bool quiet_when_calm = false;
  /// --protect: how victims are signalled (not owned); null: pidfds (actions::SystemSignaller).
  actions::Signaller* signaller = nullptr;
  EngineClock clock;
};

/// One watched target. Not thread-safe except request_stop() and request_reload(), which
/// may be called from any thread (or a signal handler) while run() runs.
class Engine {
 public:
  Engine(EngineOptions options, EngineSink& sink);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Watches until request_stop() or `duration`; waits for a running cleanup and ends hooks.
  /// Returns how long it watched (the engine's steady clock), for the summary.
  /// Throws Error(kUsage) when [protect] is enabled on host scope without allow_host.
  std::chrono::milliseconds run(std::optional<std::chrono::milliseconds> duration = std::nullopt);

  /// One pass without waiting: a quick observation (with pressure when due), a full sample
  /// when due (the first pass always takes one), finished cleanups and hooks. run() is this
  /// in a loop with kernel notifications in between; tests and embedders call it directly.
  void step();

  /// Rereads the configuration file (SIGHUP). A bad file keeps the old configuration and is
  /// said through on_notice.
  void reload();

  /// Asks run() to return; ends its wait at once.
  void request_stop() noexcept;
  /// Asks run() to reload(); ends its wait at once.
  void request_reload() noexcept;

  /// Called by run() on its thread before each step: where a front end looks at its own
  /// controls (the CLI reads its signals there) and calls request_stop()/request_reload().
  void set_poll(std::function<void()> poll) { poll_ = std::move(poll); }
  /// A descriptor (not owned, not read) whose readability ends run()'s wait, so that poll()
  /// sees it at once however long the engine sleeps (the CLI's SignalWaiter::fd()).
  void wake_on(int fd);

  /// The engine's level: the one every output shows.
  [[nodiscard]] analysis::Level level() const;
  [[nodiscard]] const analysis::WatchSummary& summary() const;
  /// The last full sample's report with the latest quick figures and the engine's level;
  /// null before the first step.
  [[nodiscard]] const analysis::Report* report() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  std::function<void()> poll_;
};

}  // namespace memopt
