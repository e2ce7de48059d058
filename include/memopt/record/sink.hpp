#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "memopt/engine.hpp"
#include "memopt/record/recorder.hpp"

// `monitor --record`: an EngineSink in front of the monitor's own (the printer) that keeps
// what the engine publishes in the history database and writes a post-mortem on every OOM
// kill and danger episode. The engine itself knows nothing of SQLite.
namespace memopt::record {

/// Forwards everything to `next` and records it. When the database cannot be opened or a
/// write fails (corrupt, foreign, newer schema, read-only, full), recording stops: `next`
/// hears a notice and a `recording_failed` event, and the monitor goes on monitoring.
class RecordingSink final : public EngineSink {
 public:
  struct Options {
    std::string path;  ///< the database (a directory: DIR/history.db)
    config::MonitorConfig config;
    std::string config_path;  ///< --config, for the post-mortem's "config in force"
    sys::Roots roots = sys::default_roots();
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

  /// At the end: a danger episode still open gets its post-mortem (unless an OOM kill's
  /// post-mortem already tells it); the last batch is written.
  void finish();
  /// New settings after a reload (retention, config in force).
  void set_config(const config::MonitorConfig& config);

  /// Whether it is still recording.
  [[nodiscard]] bool recording() const { return recorder_ != nullptr; }
  /// Post-mortems written since start (memopt_postmortems_total).
  [[nodiscard]] std::uint64_t postmortems_written() const { return written_; }

 private:
  template <typename F>
  void guarded(F&& write);
  void fail(const std::string& why);
  void postmortem(const std::string& kind, const analysis::Event& event, TimePoint started);
  void load_postmortems();
  /// Whether the open danger episode ended in an OOM kill, whose post-mortem tells it.
  [[nodiscard]] bool kill_covers_episode() const;

  EngineSink& next_;
  Options options_;
  std::unique_ptr<Recorder> recorder_;
  analysis::Level level_ = analysis::Level::kNormal;
  /// The last reading, carried by a recording_failed event (unknown before the first).
  analysis::EffectiveMemory memory_{.scope = analysis::Scope::kUnknown};
  std::optional<TimePoint> danger_since_;
  std::optional<TimePoint> last_kill_;  ///< the latest OOM kill's post-mortem
  std::uint64_t written_ = 0;
  std::string list_json_;
  std::shared_ptr<const std::map<std::int64_t, std::string>> documents_;
};

}  // namespace memopt::record
