#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "memopt/engine.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/record/recorder.hpp"

// `monitor --record`: an EngineSink in front of the monitor's own (the printer) that keeps
// what the engine publishes in the history database and writes a post-mortem on every OOM
// kill and danger episode. The engine itself knows nothing of SQLite, and never waits for it:
// the database is written on a thread of its own, so that a prune of a large history, a full
// disk or another process's lock never delays a reading, an alert or a protection kill.
namespace memopt::record {

/// Forwards everything to `next` at once and records it on the writer thread. When the
/// database cannot be opened or a write fails (corrupt, foreign, newer schema, read-only,
/// full), recording stops: `next` hears a notice and a `recording_failed` event, and the
/// monitor goes on monitoring. What the writer has to say (post-mortems written, failures)
/// reaches `next` on the engine's thread, at its next call. While the writer is behind by
/// more than kMaxQueued writes, observations and samples are left out (counted in a notice);
/// events and post-mortems never are.
class RecordingSink final : public EngineSink {
 public:
  struct Options {
    std::string path;  ///< the database (a directory: DIR/history.db)
    config::MonitorConfig config;
    std::string config_path;  ///< --config, for the post-mortem's "config in force"
    Roots roots = sys::default_roots();
    model::Target target;
    std::function<TimePoint()> clock;  ///< wall time; the real clock when empty
  };

  RecordingSink(EngineSink& next, Options options);
  ~RecordingSink() override;
  RecordingSink(const RecordingSink&) = delete;
  RecordingSink& operator=(const RecordingSink&) = delete;

  void on_sample(const analysis::Report& report) override;
  void on_event(const analysis::Event& event) override;
  void on_observation(const analysis::QuickObservation& observation,
                      analysis::Level level) override;
  void on_publish(const EngineSnapshot& snapshot) override;
  void on_notice(std::string_view message) override;

  /// Writes the writer may fall behind by before readings are left out.
  static constexpr std::size_t kMaxQueued = 4096;

  /// At the end: a danger episode still open gets its post-mortem (unless an OOM kill's
  /// post-mortem already tells it); the last batch is written.
  void finish();
  /// Waits until the writer has done everything asked so far and hands on what it said.
  void settle();
  /// New settings after a reload (retention, config in force).
  void set_config(const config::MonitorConfig& config);

  /// Whether it is still recording (as of the writer's last write).
  [[nodiscard]] bool recording() const { return recording_; }
  /// Post-mortems written since start (memopt_postmortems_total).
  [[nodiscard]] std::uint64_t postmortems_written() const { return written_; }

 private:
  /// A write for the writer thread; `droppable` ones (readings) are left out when it is behind.
  struct Job {
    std::function<void()> run;
    bool droppable = false;
  };
  /// What the writer said, for the engine's thread to hand on.
  struct Outbox {
    std::vector<std::string> notices;
    std::vector<analysis::Event> events;
    std::optional<std::string> failure;
    std::optional<std::string> list_json;
    std::shared_ptr<const std::map<std::int64_t, std::string>> documents;
  };

  void enqueue(std::function<void()> run, bool droppable);
  void write_loop(const std::stop_token& stop);
  /// Hands on what the writer said (engine thread).
  void deliver();
  // On the writer thread:
  template <typename F>
  void guarded(F&& write);
  void fail(const std::string& why);
  void postmortem(PostmortemInput input, analysis::Level level);
  void load_postmortems();
  void notice(std::string message);
  // On the engine's thread:
  void request_postmortem(const std::string& kind, const analysis::Event& event, TimePoint started);
  /// Whether the open danger episode ended in an OOM kill, whose post-mortem tells it.
  [[nodiscard]] bool kill_covers_episode() const;

  EngineSink& next_;
  Options options_;
  std::unique_ptr<Recorder> recorder_;  ///< the writer thread's once it runs
  std::atomic<bool> recording_ = false;
  std::atomic<TimePoint> queued_at_{};  ///< the recorder's clock: when the last write was asked
  analysis::Level level_ = analysis::Level::kNormal;
  /// The last reading, carried by a recording_failed event (unknown before the first).
  analysis::EffectiveMemory memory_{.scope = analysis::Scope::kUnknown};
  std::optional<model::ShmLedger> shm_;  ///< the last full sample's /dev/shm, for post-mortems
  std::optional<TimePoint> danger_since_;
  std::optional<TimePoint> last_kill_;  ///< the latest OOM kill's post-mortem
  std::atomic<std::uint64_t> written_ = 0;
  std::string list_json_;
  std::shared_ptr<const std::map<std::int64_t, std::string>> documents_;
  bool failure_said_ = false;

  std::mutex mutex_;  ///< guards queue_, busy_, dropped_ and outbox_
  std::condition_variable_any wake_;
  std::condition_variable idle_;
  std::deque<Job> queue_;
  bool busy_ = false;
  std::uint64_t dropped_ = 0;
  Outbox outbox_;
  std::jthread writer_;  ///< last: stopped and joined before the rest goes
};

}  // namespace memopt::record
