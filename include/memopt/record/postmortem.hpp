#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/watch.hpp"
#include "memopt/config.hpp"
#include "memopt/record/recorder.hpp"

// A post-mortem: what the recorder saw in the minutes before an OOM kill or a danger episode,
// as one JSON document (memopt.postmortem/1) that the text and HTML views are drawn from.
namespace memopt::record {

/// How far back a post-mortem looks.
inline constexpr std::chrono::minutes kPostmortemWindow{10};

/// What a post-mortem is built from.
struct PostmortemInput {
  std::string kind;       ///< "oom_kill" or "danger"
  analysis::Event event;  ///< the oom_kill event (victims), or the one ending the episode
  TimePoint started;      ///< a danger episode's start (= event.at for a kill)
  std::string target;     ///< what was watched, in words
  std::vector<ObservationRow> observations;  ///< the window, oldest first
  std::vector<SampleRow> samples;            ///< the window, oldest first
  /// The cgroup's files at the time, by name (memory.stat, memory.events, ...): raw text.
  std::map<std::string, std::string> cgroup_files;
  std::string config_json;  ///< the configuration in force (config_json())
  /// The window's loop_forecast events, as the monitor rendered them (JSON lines): what the
  /// target's own loops forecast before it.
  std::vector<std::string> loop_forecasts;
  /// The target's /dev/shm at the last full sample before it (absent where it was not read),
  /// and the window's shm_filling and shm_sweep events as the monitor rendered them.
  std::optional<model::ShmLedger> dev_shm;
  std::vector<std::string> shm_events;
};

/// The document and its one-sentence summary.
struct Postmortem {
  std::string json;
  std::string summary;
};

/// Builds the document: the window's observations, the top processes at the peak and their
/// growth (first to peak, least-squares slope), the victims, the cgroup files, the config,
/// and what would have prevented it.
[[nodiscard]] Postmortem build_postmortem(const PostmortemInput& input);

/// The configuration in force as JSON (thresholds, cadences, hooks, cleanup, record).
[[nodiscard]] std::string config_json(const config::MonitorConfig& config);

/// Plain words: what grew, by how much, how fast, who was killed, what would have prevented it.
[[nodiscard]] std::string render_postmortem_text(const std::string& json);

/// The stored document indented for `postmortem --json`.
[[nodiscard]] std::string render_postmortem_json(const std::string& json);

/// A self-contained page (no network): the memory of the minutes before, the kill marked.
[[nodiscard]] std::string render_postmortem_html(const std::string& json);

/// `--list`: one line per post-mortem.
[[nodiscard]] std::string render_postmortem_list(const std::vector<PostmortemEntry>& entries,
                                                 bool json);

}  // namespace memopt::record
