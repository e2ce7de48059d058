#include "engine/publisher.hpp"

namespace memopt::engine {

void Publisher::keep(const analysis::Event& event) {
  if (!enabled_) return;
  recent_.push_back(event);
  ++kept_;
  if (recent_.size() > kRecentEvents) recent_.pop_front();
  dirty_ = true;
}

void Publisher::publish(const analysis::Report* report, const analysis::Watcher& watcher,
                        const Extras& extras) {
  dirty_ = false;
  if (!enabled_ || report == nullptr) return;
  last_publish_ = clock_.steady();
  EngineSnapshot snapshot;
  snapshot.report = report;
  snapshot.summary = &watcher.summary();
  snapshot.history = &watcher.history();
  snapshot.events = &recent_;
  snapshot.events_total = kept_;
  snapshot.cleanup_reclaimed_bytes = extras.cleanup_reclaimed_bytes;
  snapshot.top = extras.top;
  snapshot.containers = extras.containers;
  sink_.on_publish(snapshot);
}

}  // namespace memopt::engine
