#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/config.hpp"
#include "memopt/sys/state_file.hpp"

// The flight recorder's history: quick observations, full samples (top processes, GPUs),
// events and post-mortems in one SQLite database (WAL), thinned as it ages and kept under a
// size cap. `monitor --record` writes it; `memopt history` and `memopt postmortem` read it.
namespace memopt::record {

class Database;
class Statement;

using TimePoint = std::chrono::system_clock::time_point;

/// The schema this build writes (PRAGMA user_version). A database with a newer one is refused.
inline constexpr int kSchemaVersion = 1;

/// Where the history goes without a path: $MEMOPT_STATE_DIR/history.db, else
/// /var/lib/memopt/history.db as root, else $XDG_STATE_HOME/memopt/history.db
/// (~/.local/state/memopt/history.db).
[[nodiscard]] std::string default_database_path();

/// One recorded quick observation (or a bucket of them: maximum used, minimum available,
/// worst level). Absent figures were unknown when observed.
struct ObservationRow {
  TimePoint at;
  int resolution_s = 0;  ///< 0: one observation; 10 or 60: a bucket starting at `at`
  std::optional<std::uint64_t> used_bytes;
  std::optional<std::uint64_t> limit_bytes;
  std::optional<std::uint64_t> available_bytes;
  analysis::Level level = analysis::Level::kNormal;
  std::optional<double> pressure_some_avg10;  ///< PSI some avg10 (%), the effective one
  std::optional<double> pressure_full_avg10;
  std::optional<std::uint64_t> oom_kills;  ///< the cgroup's counter
};

/// One process in a recorded full sample.
struct ProcessRow {
  int pid = 0;
  std::string name;
  std::uint64_t rss_bytes = 0;
  std::optional<std::uint64_t> pss_bytes;
  std::optional<std::uint64_t> uss_bytes;
  std::optional<std::uint64_t> swap_bytes;
  std::optional<std::uint64_t> gpu_bytes;  ///< NVML's figure for the pid, summed over GPUs
};

/// One GPU in a recorded full sample.
struct GpuRow {
  unsigned index = 0;
  std::string name;
  std::uint64_t used_bytes = 0;
  std::uint64_t total_bytes = 0;
};

/// One recorded full sample.
struct SampleRow {
  std::int64_t id = 0;
  TimePoint at;
  int resolution_s = 0;  ///< 0, or 10/60 once thinned to one sample per bucket
  std::optional<std::uint64_t> used_bytes;
  std::optional<std::uint64_t> limit_bytes;
  analysis::Level level = analysis::Level::kNormal;
  std::vector<ProcessRow> processes;  ///< largest (PSS, else RSS) first
  std::vector<GpuRow> gpus;
};

/// A stored post-mortem's heading.
struct PostmortemEntry {
  std::int64_t id = 0;
  TimePoint at;
  std::string kind;     ///< "oom_kill" or "danger"
  std::string summary;  ///< one sentence
};

/// The history database. Writes are batched into one transaction per second (a `kill -9`
/// loses at most that second); pruning runs once a minute. Not thread-safe.
class Recorder {
 public:
  /// Opens or creates the database at `path` (and its directory) for writing. Throws Error
  /// naming the file when it cannot be opened or created, is not a SQLite database, is
  /// corrupt, or has a newer schema; when it or its -wal/-shm/.lock is a link or not a regular
  /// file, when its directory is writable by another user, and when another process records
  /// into it (PATH.lock is flock(2)ed while recording).
  Recorder(std::string path, config::RecordConfig config,
           std::function<TimePoint()> clock = nullptr);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  /// Keeps a quick observation: at most one a second, and every change of level.
  void observe(const analysis::QuickObservation& observation, analysis::Level level);
  /// Keeps a full sample: its figures, the top processes by PSS and the GPUs.
  void sample(const analysis::Report& report);
  /// Keeps an event (its JSON line as rendered by the monitor).
  void event(const analysis::Event& event, const std::string& json);
  /// Stores a post-mortem document; returns its id.
  std::int64_t add_postmortem(TimePoint at, const std::string& kind, const std::string& summary,
                              const std::string& json);
  /// Replaces a stored post-mortem's document (to add its id).
  void set_postmortem_json(std::int64_t id, const std::string& json);
  /// Commits the open batch at once.
  void flush();
  /// Applies retention and the size cap now (also done once a minute while recording).
  void prune();
  /// New retention settings (a reload).
  void set_config(const config::RecordConfig& config) { config_ = config; }

  /// What is recorded so far (the open batch included), as History reads it.
  [[nodiscard]] std::vector<ObservationRow> observations(TimePoint from, TimePoint to);
  [[nodiscard]] std::vector<SampleRow> samples(TimePoint from, TimePoint to);
  /// Events with `from <= at <= to` as their JSON lines, oldest first (lines that do not read
  /// as memopt's are left out).
  [[nodiscard]] std::vector<std::string> events(TimePoint from, TimePoint to);
  /// How many post-mortems the database holds.
  [[nodiscard]] std::int64_t postmortem_count();

  [[nodiscard]] const std::string& path() const;
  /// The database's size in bytes (pages in use; the WAL file comes on top).
  [[nodiscard]] std::uint64_t size_bytes();

 private:
  void begin_batch();
  void after_write();
  /// The statement for `sql`, prepared once (the inserts run every second).
  Statement& cached(const char* sql);
  /// PATH.lock, held while recording: a second writer is refused (released after db_ closes).
  std::optional<sys::FileLock> lock_;
  std::unique_ptr<Database> db_;
  std::map<const char*, std::unique_ptr<Statement>> statements_;
  config::RecordConfig config_;
  std::function<TimePoint()> clock_;
  bool in_batch_ = false;
  TimePoint batch_started_{};
  /// None until the first prune: a restarted monitor cuts an old history at its first write.
  std::optional<TimePoint> last_prune_;
  std::optional<TimePoint> last_observation_;
  std::optional<analysis::Level> last_level_;
  std::optional<model::Pressure> last_pressure_;
  TimePoint last_pressure_at_{};
};

/// Read access to a history database (`memopt history`, `memopt postmortem`).
class History {
 public:
  /// Opens `path` read-only; throws Error naming it when it is missing, not a database or
  /// from a newer schema.
  explicit History(std::string path);
  ~History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// Observations with `from <= at <= to`, all resolutions, oldest first (at one time, the
  /// coarsest first).
  [[nodiscard]] std::vector<ObservationRow> observations(TimePoint from, TimePoint to);
  /// Full samples with `from <= at <= to`, oldest first, with their processes and GPUs.
  [[nodiscard]] std::vector<SampleRow> samples(TimePoint from, TimePoint to);
  /// The observations() rows handed to `visit` one at a time as they are read: a week at 1 s
  /// (605k rows) is never held whole.
  void each_observation(TimePoint from, TimePoint to,
                        const std::function<void(const ObservationRow&)>& visit);
  /// The samples() rows handed to `visit` one at a time; without `processes`, each row's
  /// processes are left empty (not read).
  void each_sample(TimePoint from, TimePoint to, const std::function<void(const SampleRow&)>& visit,
                   bool processes = true);
  /// The events() lines handed to `visit` one at a time.
  void each_event(TimePoint from, TimePoint to,
                  const std::function<void(const std::string&)>& visit);
  /// Stored post-mortems, oldest first.
  [[nodiscard]] std::vector<PostmortemEntry> postmortems();
  /// A post-mortem's JSON document, or nullopt when there is no such id; throws Error naming it
  /// when the stored document is damaged (postmortem_problem).
  [[nodiscard]] std::optional<std::string> postmortem_json(std::int64_t id);
  /// Events with `from <= at <= to` as their JSON lines, oldest first.
  [[nodiscard]] std::vector<std::string> events(TimePoint from, TimePoint to);

  /// What the reads so far skipped, and why ("3 observations skipped: ..."): rows and
  /// documents that do not parse or are out of range are left out, never shown wrong.
  [[nodiscard]] const std::vector<std::string>& notes() const { return notes_; }

 private:
  std::unique_ptr<Database> db_;
  std::vector<std::string> notes_;
};

/// Reads with `db` (shared by Recorder and History), one row at a time: rows that cannot be read
/// (a level out of range) are skipped, counted in `notes` when given.
namespace detail {
void visit_observations(Database& db, TimePoint from, TimePoint to, std::vector<std::string>* notes,
                        const std::function<void(const ObservationRow&)>& visit);
/// Without `processes`, each row's processes are not read.
void visit_samples(Database& db, TimePoint from, TimePoint to, std::vector<std::string>* notes,
                   bool processes, const std::function<void(const SampleRow&)>& visit);
}  // namespace detail

}  // namespace memopt::record

namespace memopt::record {

/// `--since`/`--until`: a duration back from `now` ("90s", "30m", "1h", "2d", "1w"), or an
/// RFC 3339 UTC time ("2026-11-30T02:00:00Z"). Throws Error(kUsage) naming `what`.
[[nodiscard]] TimePoint parse_time_spec(std::string_view text, TimePoint now,
                                        std::string_view what);

/// A span of the history, both ends included.
struct TimeRange {
  TimePoint from;
  TimePoint to;
};

/// The span `--since` and `--until` name, read against the wall clock now: no `since` is the
/// beginning of the history, no `until` is now. Throws Error(kUsage) naming the flag that is
/// not a time, or saying that the span is empty (--until before --since, --since in the future).
[[nodiscard]] TimeRange time_range(const std::optional<std::string>& since,
                                   const std::optional<std::string>& until);

}  // namespace memopt::record
