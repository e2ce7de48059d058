#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/postmortem.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/config.hpp"
#include "memopt/record/recorder.hpp"

// A post-mortem: what the recorder saw in the minutes before an OOM kill or a danger episode.
// analyze_postmortem() turns the recorder's rows into an analysis::Postmortem (pure, no JSON);
// postmortem_to_json() is its one serializer (memopt.postmortem/1, stored by the recorder) and
// parse_postmortem() its one parser (a stored document read back); the text and HTML views
// take the struct.
namespace memopt::record {

/// How far back a post-mortem looks.
inline constexpr std::chrono::minutes kPostmortemWindow{10};

/// What a post-mortem is built from.
struct PostmortemInput {
  std::string kind;       ///< "oom_kill" or "danger"
  /// The oom_kill event (victims), or the one ending the episode.
  analysis::Event event{analysis::OomKills{}};
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

/// The document as written and its one-sentence summary.
struct Postmortem {
  std::string json;
  std::string summary;
};

/// The analysis: the window's observations, the top processes at the peak and their growth
/// (over their ramp), the victims, the cgroup files, the config, the class of the episode and
/// what would have prevented it. Pure: the same input gives the same post-mortem. Names keep
/// their bytes (the serializer makes them valid UTF-8); the summary is valid UTF-8.
[[nodiscard]] analysis::Postmortem analyze_postmortem(const PostmortemInput& input);

/// The one serializer: the post-mortem as memopt.postmortem/1 (compact, or indented by
/// `indent` spaces). Invalid UTF-8 in a name becomes U+FFFD. A member the struct lacks is
/// written as null; `summary` and `id` only when present.
[[nodiscard]] std::string postmortem_to_json(const analysis::Postmortem& postmortem,
                                             int indent = -1);

/// The one parser: a stored document (the recorder's database, a file beside it) back into the
/// struct. Throws Error when postmortem_problem() finds it damaged (not JSON, too deep, a member
/// the views read missing or of the wrong type). A member it does not check, or one an older
/// memopt did not write, is absent in the struct; members memopt does not write are dropped.
/// For a document memopt wrote, postmortem_to_json(parse_postmortem(json)) == json.
[[nodiscard]] analysis::Postmortem parse_postmortem(std::string_view json);

/// analyze_postmortem() written out: the document and its summary.
[[nodiscard]] Postmortem build_postmortem(const PostmortemInput& input);

/// The configuration in force as JSON (thresholds, cadences, hooks, cleanup, record).
[[nodiscard]] std::string config_json(const config::MonitorConfig& config);

/// Plain words: what grew, by how much, how fast, who was killed, what would have prevented it.
[[nodiscard]] std::string render_postmortem_text(const analysis::Postmortem& postmortem);

/// The document indented for `postmortem --json`.
[[nodiscard]] std::string render_postmortem_json(const analysis::Postmortem& postmortem);

/// A self-contained page (no network): the memory of the minutes before, the kill marked.
[[nodiscard]] std::string render_postmortem_html(const analysis::Postmortem& postmortem);

/// `--list`: one line per post-mortem.
[[nodiscard]] std::string render_postmortem_list(const std::vector<PostmortemEntry>& entries,
                                                 bool json);

}  // namespace memopt::record
