#pragma once

#include <cstdint>
#include <deque>
#include <string>

#include "memopt/engine.hpp"
#include "memopt/http/server.hpp"

// The documents `monitor --listen` serves, rendered from what the engine publishes. The one
// place an EngineSnapshot becomes text: the monitor's printer calls it only while it serves.
namespace memopt::http {

/// Renders EngineSnapshots into ready-to-send Snapshots. Keeps each event's line between calls,
/// so that an event is rendered once however many snapshots serve it.
class SnapshotRenderer {
 public:
  /// /api/report (memopt.report/1, compact), /metrics (with memopt_events_total,
  /// memopt_cleanup_reclaimed_bytes_total and, when recording, memopt_postmortems_total),
  /// /api/history, /api/events (the latest events, oldest first) and the recorder's
  /// post-mortems.
  [[nodiscard]] Snapshot render(const EngineSnapshot& snapshot);

 private:
  std::deque<std::string> event_lines_;  ///< the latest events' JSON, oldest first
  std::uint64_t events_seen_ = 0;        ///< EngineSnapshot::events_total at the last call
};

}  // namespace memopt::http
