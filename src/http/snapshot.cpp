#include "memopt/http/snapshot.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/render/live_page.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/render/prometheus.hpp"

namespace memopt::http {

Snapshot SnapshotRenderer::render(const EngineSnapshot& snapshot) {
  Snapshot out;
  render::RenderOptions render_options;
  render_options.top = snapshot.top;
  render_options.pretty = false;
  render_options.containers = snapshot.containers;
  out.report_json = render::render_json(*snapshot.report, render_options);
  render::MetricsExtras extras;
  extras.top = snapshot.top;
  extras.events = snapshot.summary->events;
  extras.cleanup_reclaimed_bytes = snapshot.cleanup_reclaimed_bytes;
  out.metrics = render::render_prometheus(*snapshot.report, extras);
  if (snapshot.postmortems_written) {
    out.metrics += fmt::format(
        "# HELP memopt_postmortems_total Post-mortems the flight recorder wrote (OOM kills and "
        "danger episodes) since the monitor started.\n"
        "# TYPE memopt_postmortems_total counter\n"
        "memopt_postmortems_total {}\n",
        *snapshot.postmortems_written);
  }
  out.history_json = render::render_history_json(snapshot.history->to_vector());

  // Only the events new since the last call are rendered; the rest keep their lines.
  const auto& events = *snapshot.events;
  const auto fresh = static_cast<std::size_t>(
      std::min<std::uint64_t>(snapshot.events_total - events_seen_, events.size()));
  for (auto it = events.end() - static_cast<std::ptrdiff_t>(fresh); it != events.end(); ++it) {
    auto line = render::render_event(*it, true);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    event_lines_.push_back(std::move(line));
  }
  while (event_lines_.size() > events.size()) event_lines_.pop_front();
  events_seen_ = snapshot.events_total;
  out.events_json = "[";
  for (const auto& line : event_lines_) {
    if (out.events_json.size() > 1) out.events_json += ',';
    out.events_json += line;
  }
  out.events_json += "]";

  out.postmortems_json = snapshot.postmortems_json;
  out.postmortems = snapshot.postmortems;
  return out;
}

}  // namespace memopt::http
