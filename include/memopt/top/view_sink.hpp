#pragma once

#include <deque>
#include <optional>
#include <string_view>
#include <vector>

#include "memopt/analysis/process_groups.hpp"
#include "memopt/engine.hpp"
#include "memopt/render/top.hpp"

// What `memopt top` shows, kept from the engine's output: the last sample's groups, the latest
// events and notices, and the history its growth and time-to-limit columns are fitted on. A
// view of the engine beside http::SnapshotRenderer; the terminal module only draws frames.
namespace memopt::top {

/// The data one frame is drawn from (valid until the sink changes).
struct Frame {
  const analysis::Report* report = nullptr;
  const std::vector<analysis::ProcessGroup>& groups;
  const std::deque<analysis::Event>& events;
  const render::TopHistory& history;
};

class ViewSink final : public EngineSink {
 public:
  /// Events kept for the pane (it shows the newest that fit).
  static constexpr std::size_t kEventsKept = 50;

  void on_sample(const analysis::Report& report) override;
  /// The engine's own groups of that sample: the tree is read once per sample, by the engine.
  void on_groups(const std::vector<analysis::ProcessGroup>& groups) override;
  void on_event(const analysis::Event& event) override { keep(event); }
  void on_observation(const analysis::QuickObservation& observation,
                      analysis::Level level) override;
  /// A notice is shown among the events, as a `notice` without a level.
  void on_notice(std::string_view message) override;

  [[nodiscard]] const std::vector<analysis::ProcessGroup>& groups() const { return groups_; }
  [[nodiscard]] const std::deque<analysis::Event>& events() const { return events_; }
  [[nodiscard]] const render::TopHistory& history() const { return history_; }

  /// Paused: frames show `report` and what is kept now until resume(), whatever comes in.
  void freeze(const analysis::Report& report);
  void resume() { frozen_.reset(); }
  /// The frozen moment while one is kept, else `live` (the engine's report) with what is kept.
  [[nodiscard]] Frame frame(const analysis::Report* live) const;

  /// Another target: nothing of the last one stays on the screen.
  void clear();
  /// Whether a sample or an event came since the last call.
  bool take_changed() { return std::exchange(changed_, false); }

 private:
  void keep(const analysis::Event& event);

  struct Frozen {
    analysis::Report report;
    std::vector<analysis::ProcessGroup> groups;
    std::deque<analysis::Event> events;
    render::TopHistory history;
  };

  std::vector<analysis::ProcessGroup> groups_;
  std::deque<analysis::Event> events_;
  render::TopHistory history_;
  std::optional<Frozen> frozen_;
  bool changed_ = false;
};

}  // namespace memopt::top
