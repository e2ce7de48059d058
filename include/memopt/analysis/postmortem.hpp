#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

// A post-mortem as plain data: what the recorder saw in the minutes before an OOM kill or a
// danger episode, and what memopt concludes from it. Built from the recorder's rows
// (record::analyze_postmortem), written as memopt.postmortem/1 by one serializer and read back
// by one parser (record::postmortem_to_json / parse_postmortem), drawn as text and HTML.
//
// Times named `t` or `*_t` are seconds relative to the event (the kill, or the end of the
// episode): negative before it. Members that a document written by an older memopt lacks are
// optional; read back, they stay absent and are written again as null.
namespace memopt::analysis {

/// The schema every post-mortem document names.
inline constexpr const char* kPostmortemSchema = "memopt.postmortem/1";

/// Where a series actually grew (the cgroup's memory, or a process's): from where it last sat
/// low to where it first got near its top.
struct PostmortemRamp {
  double from_bytes = 0;
  double to_bytes = 0;
  double start_t = 0;
  double end_t = 0;
  double seconds = 0;  ///< end_t - start_t
  int steps = 0;       ///< sample intervals in it (1: one jump, the rate is a lower bound)
  std::optional<double> bytes_per_second;  ///< absent when it did not grow
};

/// The highest memory used observed in the episode.
struct PostmortemPeak {
  double t = 0;
  std::uint64_t used_bytes = 0;
};

/// One observation of the cgroup (the whole window, for the chart).
struct PostmortemObservation {
  double t = 0;
  std::optional<std::uint64_t> used_bytes;
  std::optional<std::uint64_t> limit_bytes;
  std::optional<std::uint64_t> available_bytes;
  std::string level;  ///< as analysis::to_string(Level) wrote it; read back as stored
  std::optional<double> psi_some_avg10;  ///< PSI some avg10 (%)
};

/// A process's memory figures in one full sample.
struct PostmortemFigures {
  std::uint64_t rss_bytes = 0;
  std::optional<std::uint64_t> pss_bytes;
  std::optional<std::uint64_t> uss_bytes;
  std::optional<std::uint64_t> gpu_bytes;  ///< NVML's figure for the pid, summed over GPUs
};

/// One point of a process's series: its figures in the full sample at `t`.
struct PostmortemPoint {
  double t = 0;
  PostmortemFigures figures;
};

/// A process alive in the episode and its growth there. Its weight is PSS, else RSS.
struct PostmortemProcess {
  int pid = 0;
  std::string name;
  double first_t = 0;
  double last_t = 0;
  std::optional<double> first_bytes;
  std::optional<double> last_bytes;
  double growth_bytes = 0;  ///< over its ramp only (never negative)
  std::optional<double> growth_from_bytes;
  std::optional<double> growth_to_bytes;
  std::optional<double> growth_start_t;
  std::optional<double> growth_seconds;
  std::optional<double> bytes_per_second;    ///< absent when it did not grow
  std::optional<PostmortemFigures> at_peak;  ///< absent when not in the peak sample
  std::optional<std::uint64_t> last_rss_bytes;
  std::vector<PostmortemPoint> series;
};

/// A victim's growth, copied from its process: present when it was in the samples.
struct PostmortemVictimGrowth {
  std::optional<double> growth_bytes;
  std::optional<double> growth_from_bytes;
  std::optional<double> growth_to_bytes;
  std::optional<double> growth_seconds;
  std::optional<double> bytes_per_second;
  std::optional<double> first_bytes;
  std::optional<double> last_bytes;
};

/// A process the kernel's OOM killer killed, as the kernel log said.
struct PostmortemVictim {
  int pid = 0;
  std::string name;
  std::optional<std::uint64_t> anon_rss_bytes;
  std::optional<std::string> task_memcg;
  std::optional<std::string> kernel_log;          ///< the line itself
  std::optional<PostmortemVictimGrowth> sampled;  ///< absent: not in the samples
};

/// A process that did a share of the growth (at least a tenth of it).
struct PostmortemGrower {
  int pid = 0;
  std::string name;
  double growth_bytes = 0;
  std::optional<double> bytes_per_second;
};

/// What kind of episode it was, and the figures that decided it.
struct PostmortemClassification {
  /// "bounded_peak", "unbounded_growth", "many_processes", "spike_between_samples" or
  /// "unknown" (also for a document whose class does not read).
  std::string cls = "unknown";
  std::optional<std::string> description;  ///< in plain words
  std::optional<std::uint64_t> observed_peak_bytes;
  std::optional<double> kernel_peak_bytes;  ///< memory.peak or memory.max_usage_in_bytes
  std::optional<std::string> kernel_peak_file;
  double unseen_bytes = 0;  ///< what came and went between two samples
  std::uint64_t processes_at_peak = 0;
  double processes_sum_bytes = 0;
  std::vector<PostmortemGrower> growers;  ///< the largest first, at most 3
};

/// Growth without bound: no limit would have held, only delayed it.
struct PostmortemNoLargerLimit {
  std::optional<double> bytes_per_second;
  std::optional<double> seconds_per_gib;  ///< the delay a GiB more of limit buys
  std::string reason;
  std::optional<PostmortemGrower> grower;
};

/// A limit that would have held.
struct PostmortemLargerLimit {
  std::uint64_t limit_bytes = 0;  ///< whole MiB, above the limit that failed
  std::optional<double> basis_bytes;
  std::string reason;
};

/// What would have prevented it.
using PostmortemPrevention = std::variant<PostmortemNoLargerLimit, PostmortemLargerLimit>;

/// A GPU in the peak sample.
struct PostmortemGpu {
  unsigned index = 0;
  std::string name;
  std::uint64_t used_bytes = 0;
  std::uint64_t total_bytes = 0;
};

/// A line of a cgroup file ("key value"; "value" for a file of one number): a number where the
/// text is one, else the text.
using PostmortemFileValue = std::variant<std::uint64_t, std::string>;

/// A cgroup file at the time (memory.stat, memory.events, memory.peak, ...), its lines in order.
struct PostmortemCgroupFile {
  std::string name;
  std::vector<std::pair<std::string, PostmortemFileValue>> values;
};

/// A loop_forecast event from the window, as the monitor wrote it. Each member is absent where
/// the event line lacked it.
struct PostmortemLoopForecast {
  std::optional<std::string> timestamp;
  std::optional<std::int64_t> pid;
  std::optional<std::string> name;
  std::optional<double> bytes_per_item;
  std::optional<std::uint64_t> item;
  std::optional<std::uint64_t> limit_item;
  std::optional<std::uint64_t> total;
  std::optional<double> seconds_left;
  std::optional<std::uint64_t> limit_bytes;
  std::optional<std::string> forecast_at;
  std::optional<std::string> message;
};

/// A file of /dev/shm (the largest five are kept).
struct PostmortemShmFile {
  std::string name;  ///< made printable
  std::uint64_t allocated_bytes = 0;
  std::optional<int> owner_pid;
  std::optional<bool> owner_alive;
};

/// The target's /dev/shm at the last full sample.
struct PostmortemShm {
  std::string path;  ///< made printable
  std::uint64_t size_bytes = 0;
  std::uint64_t used_bytes = 0;
  std::uint64_t file_count = 0;
  std::uint64_t orphan_bytes = 0;
  std::uint64_t orphan_files = 0;
  bool owners_judged = false;
  std::vector<PostmortemShmFile> largest_files;
};

/// A shm_filling or shm_sweep event from the window.
struct PostmortemShmEvent {
  std::optional<std::string> timestamp;
  std::string event;  ///< "shm_filling" or "shm_sweep"
  std::optional<std::string> message;
};

/// The post-mortem (memopt.postmortem/1, docs/recorder.md).
struct Postmortem {
  std::string kind;                    ///< "oom_kill" or "danger"
  std::string at;                      ///< the event, RFC 3339
  std::optional<std::string> started;  ///< a danger episode's start (= at for a kill)
  std::string target;                  ///< what was watched, in words
  std::optional<std::string> event;    ///< the event's message
  std::optional<std::uint64_t> limit_bytes;
  std::optional<double> window_seconds;  ///< how far back the observations reach
  std::optional<double> episode_start_t;
  std::optional<double> previous_kill_t;  ///< an earlier kill in the window starts the episode
  std::optional<PostmortemPeak> peak;     ///< absent: no memory figures in the episode
  std::optional<PostmortemRamp> growth;   ///< the cgroup's rise, when it grew
  std::vector<PostmortemVictim> victims;
  std::optional<std::uint64_t> oom_kills;  ///< new kills the event counted
  std::optional<PostmortemClassification> classification;
  std::optional<PostmortemPrevention> prevention;  ///< absent when the class is unknown
  std::vector<PostmortemProcess> processes;        ///< the largest growth first
  std::vector<PostmortemGpu> gpus_at_peak;
  std::vector<PostmortemCgroupFile> cgroup_files;  ///< by name
  /// The configuration in force, as its own JSON document (record::config_json): compact text.
  std::optional<std::string> config_json;
  std::vector<PostmortemObservation> observations;  ///< the window, oldest first
  std::vector<PostmortemLoopForecast> loop_forecasts;
  std::optional<PostmortemShm> dev_shm;  ///< absent where it was not read
  std::vector<PostmortemShmEvent> dev_shm_events;
  std::optional<std::string> summary;  ///< one sentence, for lists
  std::optional<std::int64_t> id;      ///< the recorder's id, once stored

  [[nodiscard]] bool is_kill() const { return kind == "oom_kill"; }
};

}  // namespace memopt::analysis
