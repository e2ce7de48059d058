#include "memopt/record/recorder.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <map>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/record/sqlite.hpp"
#include "memopt/record/stored.hpp"
#include "memopt/sys/clock.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/self.hpp"

namespace memopt::record {

namespace {

using std::chrono::milliseconds;

/// Writes are committed at least this often: what a `kill -9` may lose.
constexpr milliseconds kBatch{1000};
/// Retention and the size cap are applied this often.
constexpr std::chrono::seconds kPruneEvery{60};
/// Quick observations are kept at most this often (plus every change of level).
constexpr milliseconds kObserveEvery{1000};
/// A pressure reading stands for the observations this long after it (PSI is read each second).
constexpr milliseconds kPressureFresh{2500};
/// SQLite's page cache, KiB: the monitor must stay small (its default is 2000).
constexpr int kCacheKiB = 512;

constexpr std::string_view kSchema = R"sql(
CREATE TABLE observations(
  t INTEGER NOT NULL, resolution_s INTEGER NOT NULL,
  used_bytes INTEGER, limit_bytes INTEGER, available_bytes INTEGER, level INTEGER NOT NULL,
  psi_some_avg10 REAL, psi_full_avg10 REAL, oom_kills INTEGER,
  PRIMARY KEY(resolution_s, t)) WITHOUT ROWID;
CREATE TABLE samples(
  id INTEGER PRIMARY KEY, t INTEGER NOT NULL, resolution_s INTEGER NOT NULL,
  used_bytes INTEGER, limit_bytes INTEGER, level INTEGER NOT NULL);
CREATE INDEX samples_t ON samples(t);
CREATE INDEX samples_resolution ON samples(resolution_s, t);
CREATE TABLE processes(
  sample_id INTEGER NOT NULL, pid INTEGER NOT NULL, name TEXT NOT NULL,
  rss_bytes INTEGER NOT NULL, pss_bytes INTEGER, uss_bytes INTEGER, swap_bytes INTEGER,
  gpu_bytes INTEGER);
CREATE INDEX processes_sample ON processes(sample_id);
CREATE TABLE gpus(
  sample_id INTEGER NOT NULL, gpu_index INTEGER NOT NULL, name TEXT NOT NULL,
  used_bytes INTEGER NOT NULL, total_bytes INTEGER NOT NULL);
CREATE INDEX gpus_sample ON gpus(sample_id);
CREATE TABLE events(
  t INTEGER NOT NULL, name TEXT NOT NULL, level INTEGER NOT NULL, message TEXT NOT NULL,
  json TEXT NOT NULL);
CREATE INDEX events_t ON events(t);
CREATE TABLE postmortems(
  id INTEGER PRIMARY KEY, t INTEGER NOT NULL, kind TEXT NOT NULL, summary TEXT NOT NULL,
  json TEXT NOT NULL);
)sql";

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

TimePoint from_ms(std::int64_t ms) { return TimePoint(milliseconds(ms)); }

/// The times a TimePoint (nanoseconds since 1970) holds: up to 2262.
constexpr std::int64_t kMaxMs =
    std::chrono::duration_cast<milliseconds>(TimePoint::max().time_since_epoch()).count();

/// A stored level: an integer of the enum's range, else nullopt (the row is skipped).
std::optional<analysis::Level> level_column(const Statement& s, int column) {
  if (!s.is_integer(column)) return std::nullopt;
  const auto v = s.integer(column);
  if (v < static_cast<int>(analysis::Level::kUnknown) ||
      v > static_cast<int>(analysis::Level::kDanger))
    return std::nullopt;
  return static_cast<analysis::Level>(v);
}

/// Adds "N ROWS skipped: WHY" to `notes` when any were.
void note_skipped(std::vector<std::string>* notes, std::size_t n, std::string_view rows,
                  std::string_view why) {
  if (notes != nullptr && n > 0) notes->push_back(fmt::format("{} {} skipped: {}", n, rows, why));
}

std::optional<std::int64_t> opt(std::optional<std::uint64_t> v) {
  if (!v) return std::nullopt;
  return static_cast<std::int64_t>(*v);
}

std::optional<std::uint64_t> unsigned_column(const Statement& s, int column) {
  const auto v = s.optional_integer(column);
  if (!v || *v < 0) return std::nullopt;
  return static_cast<std::uint64_t>(*v);
}

/// mkdir -p for the database's directory; throws Error naming the directory.
void make_parents(const std::string& path, const std::string& database) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return;
  const std::string dir = path.substr(0, slash);
  if (sys::is_directory(dir)) return;
  make_parents(dir, database);
  if (const int err = sys::make_directory_mode(dir, 0700); err != 0 && err != EEXIST) {
    // Named by the database asked for, not by the ancestor this recursion level was making.
    throw Error(fmt::format("history database {}: cannot create the state directory {}: {}",
                            database, dir, sys::error_text(err)));
  }
}

/// Checks the schema of an open database; creates it in an empty one when `create`.
void check_schema(Database& db, bool create) {
  const auto version = db.scalar("PRAGMA user_version");
  if (version > kSchemaVersion) {
    throw Error(fmt::format(
        "history database {}: written by a newer memopt (schema {}; this one knows up to {}): "
        "use that memopt, or move the file away to start a new history",
        db.path(), version, kSchemaVersion));
  }
  const auto tables = db.scalar("SELECT count(*) FROM sqlite_master");
  if (version == kSchemaVersion) {
    const auto ours = db.scalar(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN "
        "('observations', 'samples', 'processes', 'gpus', 'events', 'postmortems')");
    if (ours != 6) {
      throw Error(
          fmt::format("history database {}: schema {} but its tables are missing: not "
                      "memopt's history, or damaged; move it away",
                      db.path(), version));
    }
    return;
  }
  if (tables > 0) {
    throw Error(fmt::format(
        "history database {}: a SQLite database, but not memopt's history (no schema version, "
        "{} other objects): it is left alone; choose another path",
        db.path(), tables));
  }
  if (!create) {
    throw Error(fmt::format("history database {}: empty (nothing recorded yet)", db.path()));
  }
  // Incremental vacuum must be chosen before the first table: it lets the size cap give pages
  // back to the file system.
  db.exec("PRAGMA auto_vacuum = INCREMENTAL");
  db.exec("BEGIN");
  db.exec(kSchema);
  db.exec(fmt::format("PRAGMA user_version = {}", kSchemaVersion));
  db.exec("COMMIT");
}

void check_integrity(Database& db) {
  const auto result = db.scalar_text("PRAGMA quick_check(1)");
  if (result != "ok") {
    throw Error(
        fmt::format("history database {}: corrupt ({}): move it away to start a new "
                    "history",
                    db.path(), result));
  }
}

}  // namespace

std::string default_database_path() {
  if (auto dir = sys::environment("MEMOPT_STATE_DIR"); dir && !dir->empty()) {
    return *dir + "/history.db";
  }
  if (sys::effective_uid() == 0) return "/var/lib/memopt/history.db";
  if (auto dir = sys::environment("XDG_STATE_HOME"); dir && !dir->empty() && dir->front() == '/') {
    return *dir + "/memopt/history.db";
  }
  if (auto home = sys::environment("HOME"); home && !home->empty()) {
    return *home + "/.local/state/memopt/history.db";
  }
  throw Error(
      "--record: no state directory (set MEMOPT_STATE_DIR or HOME, or give --record a path)",
      Error::Kind::kUsage);
}

// --- Recorder ---------------------------------------------------------------------------------

Recorder::Recorder(std::string path, config::RecordConfig config, std::function<TimePoint()> clock)
    : config_(config), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return sys::wall_now(); };
  if (path.empty()) throw Error("--record: an empty path", Error::Kind::kUsage);
  if (sys::is_directory(path)) path += "/history.db";
  make_parents(path, path);
  // Root writes here: nothing another user planted (a link to /etc/shadow, a dangling link
  // that SQLite would create the target of) is followed.
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string(".") : path.substr(0, slash == 0 ? 1 : slash);
  if (auto problem = sys::state_directory_problem(dir)) {
    throw Error(fmt::format("history database {}: {}", path, *problem));
  }
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    if (auto problem = sys::state_file_problem(path + suffix)) {
      throw Error(fmt::format("history database {}: {}; it is left alone", path, *problem));
    }
  }
  long holder = 0;
  lock_ = sys::FileLock::try_lock(path + ".lock", holder);
  if (!lock_) {
    throw Error(fmt::format(
        "history database {}: another memopt monitor{} records into it (two writers would "
        "lose each other's rows): stop it, or give this one another --record path",
        path, holder > 0 ? fmt::format(" (pid {})", holder) : std::string()));
  }
  db_ = std::make_unique<Database>(std::move(path), true);
  check_schema(*db_, true);
  check_integrity(*db_);
  if (db_->scalar_text("PRAGMA journal_mode = WAL") != "wal") {
    throw Error(
        fmt::format("history database {}: cannot use write-ahead logging (a read-only "
                    "or network file system?)",
                    db_->path()));
  }
  db_->exec(fmt::format(
      "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{}; PRAGMA journal_size_limit = {};",
      kCacheKiB, 4 << 20));
  // A write now, so that a read-only file or a full disk is said at start, not a second later.
  db_->exec("BEGIN IMMEDIATE; COMMIT;");
}

Recorder::~Recorder() {
  statements_.clear();  // finalized before the connection closes
  // The caller flushes (and hears of failures); a failure here has no one to tell.
  if (in_batch_) db_->exec_quietly("COMMIT");
}

Statement& Recorder::cached(const char* sql) {
  auto& slot = statements_[sql];
  if (!slot) slot = std::make_unique<Statement>(db_->prepare(sql));
  return *slot;
}

const std::string& Recorder::path() const { return db_->path(); }

void Recorder::begin_batch() {
  if (in_batch_) return;
  db_->exec("BEGIN");
  in_batch_ = true;
  batch_started_ = clock_();
}

void Recorder::after_write() {
  const auto now = clock_();
  if (now - batch_started_ < kBatch && now >= batch_started_) return;
  flush();
  if (!last_prune_ || now - *last_prune_ >= kPruneEvery || now < *last_prune_) prune();
}

void Recorder::flush() {
  if (!in_batch_) return;
  in_batch_ = false;
  try {
    db_->exec("COMMIT");
  } catch (const Error&) {
    db_->exec_quietly("ROLLBACK");
    throw;
  }
}

void Recorder::observe(const analysis::QuickObservation& o, analysis::Level level) {
  if (o.pressure) {
    last_pressure_ = o.pressure;
    last_pressure_at_ = o.at;
  }
  const bool level_changed = last_level_ != level;
  if (!level_changed && last_observation_ && o.at - *last_observation_ < kObserveEvery &&
      o.at >= *last_observation_)
    return;
  last_observation_ = o.at;
  last_level_ = level;
  begin_batch();
  auto& s = cached(
      "INSERT OR REPLACE INTO observations(t, resolution_s, used_bytes, limit_bytes, "
      "available_bytes, level, psi_some_avg10, psi_full_avg10, oom_kills) "
      "VALUES(?1, 0, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  s.bind(1, to_ms(o.at));
  if (o.memory.scope != analysis::Scope::kUnknown) {
    s.bind(2, static_cast<std::int64_t>(o.memory.used_bytes));
    s.bind(3, static_cast<std::int64_t>(o.memory.limit_bytes));
    s.bind(4, static_cast<std::int64_t>(o.memory.available_bytes));
  }
  s.bind(5, static_cast<std::int64_t>(level));
  if (last_pressure_ && o.at - last_pressure_at_ <= kPressureFresh) {
    s.bind(6, last_pressure_->some_avg10);
    s.bind(7, last_pressure_->full_avg10);
  }
  s.bind(8, opt(o.oom_kills));
  s.run();
  after_write();
}

void Recorder::sample(const analysis::Report& r) {
  begin_batch();
  auto& s = cached(
      "INSERT INTO samples(t, resolution_s, used_bytes, limit_bytes, level) "
      "VALUES(?1, 0, ?2, ?3, ?4)");
  s.bind(1, to_ms(r.sample.timestamp));
  if (r.memory.scope != analysis::Scope::kUnknown) {
    s.bind(2, static_cast<std::int64_t>(r.memory.used_bytes));
    s.bind(3, static_cast<std::int64_t>(r.memory.limit_bytes));
  }
  s.bind(4, static_cast<std::int64_t>(r.status.level));
  s.run();
  const auto id = db_->last_insert_rowid();

  std::map<int, std::uint64_t> gpu_by_pid;
  for (const auto& gpu : r.sample.gpus) {
    for (const auto& p : gpu.processes) {
      if (p.used_bytes) gpu_by_pid[static_cast<int>(p.pid)] += *p.used_bytes;
    }
  }
  auto& p = cached(
      "INSERT INTO processes(sample_id, pid, name, rss_bytes, pss_bytes, uss_bytes, swap_bytes, "
      "gpu_bytes) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  std::size_t n = 0;
  for (const auto& proc : r.sample.processes) {
    if (n++ >= config_.processes) break;
    p.bind(1, static_cast<std::int64_t>(id)).bind(2, static_cast<std::int64_t>(proc.pid));
    p.bind(3, std::string_view(proc.name)).bind(4, static_cast<std::int64_t>(proc.rss_bytes));
    p.bind(5, opt(proc.pss_bytes)).bind(6, opt(proc.uss_bytes)).bind(7, opt(proc.swap_bytes));
    if (const auto it = gpu_by_pid.find(proc.pid); it != gpu_by_pid.end()) {
      p.bind(8, static_cast<std::int64_t>(it->second));
    }
    p.run();
  }
  auto& g = cached(
      "INSERT INTO gpus(sample_id, gpu_index, name, used_bytes, total_bytes) "
      "VALUES(?1, ?2, ?3, ?4, ?5)");
  for (const auto& gpu : r.sample.gpus) {
    // A device whose memory NVML refused (a MIG parent, NO_PERMISSION) has no figure to keep:
    // 0 of 0 would read as an idle GPU.
    if (!gpu.memory_known) continue;
    g.bind(1, static_cast<std::int64_t>(id)).bind(2, static_cast<std::int64_t>(gpu.index));
    g.bind(3, std::string_view(gpu.name)).bind(4, static_cast<std::int64_t>(gpu.used_bytes));
    g.bind(5, static_cast<std::int64_t>(gpu.total_bytes));
    g.run();
  }
  after_write();
}

void Recorder::event(const analysis::Event& e, const std::string& json) {
  begin_batch();
  auto& s = cached("INSERT INTO events(t, name, level, message, json) VALUES(?1, ?2, ?3, ?4, ?5)");
  s.bind(1, to_ms(e.at)).bind(2, std::string_view(analysis::to_string(e.kind())));
  s.bind(3, static_cast<std::int64_t>(e.level)).bind(4, std::string_view(e.message));
  s.bind(5, std::string_view(json));
  s.run();
  after_write();
}

std::int64_t Recorder::add_postmortem(TimePoint at, const std::string& kind,
                                      const std::string& summary, const std::string& json) {
  flush();
  auto s = db_->prepare("INSERT INTO postmortems(t, kind, summary, json) VALUES(?1, ?2, ?3, ?4)");
  s.bind(1, to_ms(at)).bind(2, std::string_view(kind)).bind(3, std::string_view(summary));
  s.bind(4, std::string_view(json));
  s.run();
  return db_->last_insert_rowid();
}

void Recorder::set_postmortem_json(std::int64_t id, const std::string& json) {
  auto s = db_->prepare("UPDATE postmortems SET json = ?2 WHERE id = ?1");
  s.bind(1, id).bind(2, std::string_view(json));
  s.run();
}

std::int64_t Recorder::postmortem_count() {
  return db_->scalar("SELECT count(*) FROM postmortems");
}

std::uint64_t Recorder::size_bytes() {
  const auto pages = db_->scalar("PRAGMA page_count") - db_->scalar("PRAGMA freelist_count");
  return static_cast<std::uint64_t>(pages * db_->scalar("PRAGMA page_size"));
}

void Recorder::prune() {
  flush();
  const auto now = clock_();
  last_prune_ = now;
  const auto now_ms = to_ms(now);
  // Bucket boundaries: only whole buckets are folded, so each is folded once.
  const auto align = [](std::int64_t ms, std::int64_t bucket) {
    return ms - ((ms % bucket) + bucket) % bucket;
  };
  const std::int64_t full_cut = align(now_ms - to_ms(TimePoint(config_.full)), 10'000);
  const std::int64_t ten_cut = align(now_ms - to_ms(TimePoint(config_.ten_second)), 60'000);
  const std::int64_t gone_cut = now_ms - to_ms(TimePoint(config_.minute));

  db_->exec("BEGIN");
  try {
    const auto fold = [this](int from, int to, std::int64_t cut) {
      const std::int64_t bucket = to * 1000LL;
      auto s = db_->prepare(fmt::format(
          "INSERT INTO observations(t, resolution_s, used_bytes, limit_bytes, available_bytes, "
          "level, psi_some_avg10, psi_full_avg10, oom_kills) "
          "SELECT (t - ((t % {0}) + {0}) % {0}), {1}, MAX(used_bytes), MAX(limit_bytes), "
          "MIN(available_bytes), MAX(level), MAX(psi_some_avg10), MAX(psi_full_avg10), "
          "MAX(oom_kills) FROM observations WHERE resolution_s = {2} AND t < ?1 "
          "GROUP BY 1 ON CONFLICT(resolution_s, t) DO NOTHING",
          bucket, to, from));
      s.bind(1, cut).run();
      auto d = db_->prepare("DELETE FROM observations WHERE resolution_s = ?1 AND t < ?2");
      d.bind(1, static_cast<std::int64_t>(from)).bind(2, cut).run();
      // Samples are thinned, not averaged: the largest of each bucket stays, processes and all.
      auto keep = db_->prepare(fmt::format(
          "UPDATE samples SET resolution_s = {1} WHERE id IN (SELECT id FROM (SELECT id, "
          "ROW_NUMBER() OVER (PARTITION BY (t - ((t % {0}) + {0}) % {0}) ORDER BY used_bytes "
          "DESC, t) AS rank FROM samples WHERE resolution_s = {2} AND t < ?1) WHERE rank = 1)",
          bucket, to, from));
      keep.bind(1, cut).run();
      for (const char* table : {"processes", "gpus"}) {
        auto drop = db_->prepare(fmt::format(
            "DELETE FROM {} WHERE sample_id IN (SELECT id FROM samples WHERE resolution_s = ?1 "
            "AND t < ?2)",
            table));
        drop.bind(1, static_cast<std::int64_t>(from)).bind(2, cut).run();
      }
      auto drop = db_->prepare("DELETE FROM samples WHERE resolution_s = ?1 AND t < ?2");
      drop.bind(1, static_cast<std::int64_t>(from)).bind(2, cut).run();
    };
    fold(0, 10, full_cut);
    fold(10, 60, ten_cut);
    const auto drop_before = [this](std::int64_t cut, bool postmortems) {
      for (const char* table : {"processes", "gpus"}) {
        auto s = db_->prepare(fmt::format(
            "DELETE FROM {} WHERE sample_id IN (SELECT id FROM samples WHERE t < ?1)", table));
        s.bind(1, cut).run();
      }
      // Observations are keyed by (resolution, time): each resolution is a range of the key.
      for (const char* sql :
           {"DELETE FROM samples WHERE t < ?1",
            "DELETE FROM observations WHERE resolution_s IN (0, 10, 60) AND t < ?1",
            "DELETE FROM events WHERE t < ?1"}) {
        auto s = db_->prepare(sql);
        s.bind(1, cut).run();
      }
      if (postmortems) {
        auto s = db_->prepare("DELETE FROM postmortems WHERE t < ?1");
        s.bind(1, cut).run();
      }
    };
    drop_before(gone_cut, true);
    db_->exec("COMMIT");

    // The size cap: the oldest tenth of what is left goes, until the pages in use fit;
    // post-mortems last.
    for (int round = 0; round < 40 && size_bytes() > config_.max_bytes; ++round) {
      const auto oldest = db_->scalar(
          "SELECT min(t) FROM (SELECT min(t) AS t FROM observations WHERE resolution_s = 0 "
          "UNION ALL SELECT min(t) FROM observations WHERE resolution_s = 10 UNION ALL "
          "SELECT min(t) FROM observations WHERE resolution_s = 60 UNION ALL "
          "SELECT min(t) FROM samples UNION ALL SELECT min(t) FROM events)");
      db_->exec("BEGIN");
      if (oldest != 0 && oldest < now_ms) {
        drop_before(oldest + (now_ms - oldest) / 10 + 1, false);
      } else {
        db_->exec("DELETE FROM postmortems WHERE id = (SELECT min(id) FROM postmortems)");
        if (db_->changes() == 0) {
          db_->exec("COMMIT");
          break;
        }
      }
      db_->exec("COMMIT");
    }
  } catch (const Error&) {
    db_->exec_quietly("ROLLBACK");
    throw;
  }
  db_->exec("PRAGMA incremental_vacuum");
}

std::vector<ObservationRow> Recorder::observations(TimePoint from, TimePoint to) {
  std::vector<ObservationRow> rows;
  detail::visit_observations(*db_, from, to, nullptr,
                             [&rows](const ObservationRow& r) { rows.push_back(r); });
  return rows;
}

std::vector<SampleRow> Recorder::samples(TimePoint from, TimePoint to) {
  std::vector<SampleRow> rows;
  detail::visit_samples(*db_, from, to, nullptr, true,
                        [&rows](const SampleRow& r) { rows.push_back(r); });
  return rows;
}

std::vector<std::string> Recorder::events(TimePoint from, TimePoint to) {
  std::vector<std::string> lines;
  auto s = db_->prepare("SELECT json FROM events WHERE t BETWEEN ?1 AND ?2 ORDER BY t");
  s.bind(1, to_ms(from)).bind(2, to_ms(to));
  while (s.step()) {
    auto line = s.text(0);
    if (decode_event_line(line)) lines.push_back(std::move(line));
  }
  return lines;
}

// --- reading ----------------------------------------------------------------------------------

namespace detail {

void visit_observations(Database& db, TimePoint from, TimePoint to, std::vector<std::string>* notes,
                        const std::function<void(const ObservationRow&)>& visit) {
  // One cursor per resolution, each a range of the primary key (resolution_s, t), merged here:
  // a single ORDER BY t over all three would sort the whole window first (605k rows a week).
  struct Cursor {
    Statement statement;
    bool ready = false;
  };
  std::vector<Cursor> cursors;
  for (const std::int64_t resolution : {60, 10, 0}) {  // at one time, the coarsest first
    auto s = db.prepare(
        "SELECT t, resolution_s, used_bytes, limit_bytes, available_bytes, level, "
        "psi_some_avg10, psi_full_avg10, oom_kills FROM observations WHERE resolution_s = ?3 AND "
        "t BETWEEN ?1 AND ?2 ORDER BY t");
    s.bind(1, to_ms(from)).bind(2, to_ms(to)).bind(3, resolution);
    cursors.push_back({std::move(s), false});
    cursors.back().ready = cursors.back().statement.step();
  }
  std::size_t skipped = 0;
  ObservationRow r;
  for (;;) {
    // The times read are within [from, to] (milliseconds up to 2262): exact as doubles, and a
    // time stored as a real (a crafted row) orders as SQLite orders it.
    Cursor* next = nullptr;
    for (auto& c : cursors) {
      if (c.ready && (next == nullptr || c.statement.real(0) < next->statement.real(0))) next = &c;
    }
    if (next == nullptr) break;
    const auto& s = next->statement;
    if (const auto level = level_column(s, 5)) {
      r.at = from_ms(s.integer(0));
      r.resolution_s = static_cast<int>(s.integer(1));
      r.used_bytes = unsigned_column(s, 2);
      r.limit_bytes = unsigned_column(s, 3);
      r.available_bytes = unsigned_column(s, 4);
      r.level = *level;
      r.pressure_some_avg10 = s.optional_real(6);
      r.pressure_full_avg10 = s.optional_real(7);
      r.oom_kills = unsigned_column(s, 8);
      visit(r);
    } else {
      ++skipped;
    }
    next->ready = next->statement.step();
  }
  note_skipped(notes, skipped, "observations", "their level is not one memopt writes");
}

void visit_samples(Database& db, TimePoint from, TimePoint to, std::vector<std::string>* notes,
                   bool processes, const std::function<void(const SampleRow&)>& visit) {
  auto s = db.prepare(
      "SELECT id, t, resolution_s, used_bytes, limit_bytes, level FROM samples WHERE t BETWEEN "
      "?1 AND ?2 ORDER BY t");
  s.bind(1, to_ms(from)).bind(2, to_ms(to));
  // Each sample's processes and GPUs by its id (an index lookup each), read with the sample.
  std::optional<Statement> p;
  if (processes) {
    p.emplace(db.prepare(
        "SELECT pid, name, rss_bytes, pss_bytes, uss_bytes, swap_bytes, gpu_bytes FROM processes "
        "WHERE sample_id = ?1 ORDER BY rowid"));
  }
  auto g = db.prepare(
      "SELECT gpu_index, name, used_bytes, total_bytes FROM gpus WHERE sample_id = ?1 ORDER BY "
      "gpu_index");
  std::size_t skipped = 0;
  SampleRow r;
  while (s.step()) {
    const auto level = level_column(s, 5);
    if (!level) {
      ++skipped;
      continue;
    }
    r.id = s.integer(0);
    r.at = from_ms(s.integer(1));
    r.resolution_s = static_cast<int>(s.integer(2));
    r.used_bytes = unsigned_column(s, 3);
    r.limit_bytes = unsigned_column(s, 4);
    r.level = *level;
    r.processes.clear();
    if (p) {
      p->reset();
      p->bind(1, r.id);
      while (p->step()) {
        ProcessRow process;
        process.pid = static_cast<int>(p->integer(0));
        process.name = printable(p->text(1));
        process.rss_bytes = unsigned_column(*p, 2).value_or(0);
        process.pss_bytes = unsigned_column(*p, 3);
        process.uss_bytes = unsigned_column(*p, 4);
        process.swap_bytes = unsigned_column(*p, 5);
        process.gpu_bytes = unsigned_column(*p, 6);
        r.processes.push_back(std::move(process));
      }
    }
    r.gpus.clear();
    g.reset();
    g.bind(1, r.id);
    while (g.step()) {
      GpuRow gpu;
      gpu.index = static_cast<unsigned>(g.integer(0));
      gpu.name = printable(g.text(1));
      gpu.used_bytes = unsigned_column(g, 2).value_or(0);
      gpu.total_bytes = unsigned_column(g, 3).value_or(0);
      r.gpus.push_back(std::move(gpu));
    }
    visit(r);
  }
  note_skipped(notes, skipped, "samples", "their level is not one memopt writes");
}

}  // namespace detail

// --- History ----------------------------------------------------------------------------------

History::History(std::string path) {
  if (sys::is_directory(path)) path += "/history.db";
  if (!sys::exists(path)) {
    throw Error(
        fmt::format("history database {}: no such file (record with `memopt monitor "
                    "--record`)",
                    path));
  }
  try {
    db_ = std::make_unique<Database>(path, false);
    check_schema(*db_, false);
  } catch (const Error&) {
    // A WAL database needs its -shm, which a read-only directory (a mounted volume, a copy)
    // cannot give: read the file as it is, without locks.
    const auto slash = path.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
    if (sys::is_writable(dir) && sys::is_writable(path)) throw;
    db_ = std::make_unique<Database>(path, false, true);
    check_schema(*db_, false);
    std::string wal;
    if (const int err = sys::read_into(path + "-wal", wal);
        (err == 0 && !wal.empty()) || err == sys::kFileTooLarge) {
      notes_.push_back(fmt::format(
          "{} is read as it is (a read-only directory): the last writes, still in {}-wal, are "
          "not shown",
          path, path));
    }
  }
}

History::~History() = default;

std::vector<ObservationRow> History::observations(TimePoint from, TimePoint to) {
  std::vector<ObservationRow> rows;
  each_observation(from, to, [&rows](const ObservationRow& r) { rows.push_back(r); });
  return rows;
}

std::vector<SampleRow> History::samples(TimePoint from, TimePoint to) {
  std::vector<SampleRow> rows;
  each_sample(from, to, [&rows](const SampleRow& r) { rows.push_back(r); });
  return rows;
}

void History::each_observation(TimePoint from, TimePoint to,
                               const std::function<void(const ObservationRow&)>& visit) {
  detail::visit_observations(*db_, from, to, &notes_, visit);
}

void History::each_sample(TimePoint from, TimePoint to,
                          const std::function<void(const SampleRow&)>& visit, bool processes) {
  detail::visit_samples(*db_, from, to, &notes_, processes, visit);
}

std::vector<PostmortemEntry> History::postmortems() {
  auto s = db_->prepare("SELECT id, t, kind, summary FROM postmortems ORDER BY t, id");
  std::vector<PostmortemEntry> out;
  std::size_t skipped = 0;
  while (s.step()) {
    const auto t = s.integer(1);
    if (!s.is_integer(0) || !s.is_integer(1) || t < 0 || t > kMaxMs) {
      ++skipped;
      continue;
    }
    out.push_back({s.integer(0), from_ms(t), printable(s.text(2)), printable(s.text(3))});
  }
  note_skipped(&notes_, skipped, "post-mortems", "their id or time is not one memopt writes");
  return out;
}

std::optional<std::string> History::postmortem_json(std::int64_t id) {
  auto s = db_->prepare("SELECT json FROM postmortems WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  auto json = s.text(0);
  if (const auto problem = postmortem_problem(json)) {
    throw Error(
        fmt::format("history database {}: post-mortem {} is damaged ({}): it cannot be "
                    "shown",
                    db_->path(), id, *problem));
  }
  return json;
}

std::vector<std::string> History::events(TimePoint from, TimePoint to) {
  std::vector<std::string> out;
  each_event(from, to, [&out](const std::string& line) { out.push_back(line); });
  return out;
}

void History::each_event(TimePoint from, TimePoint to,
                         const std::function<void(const std::string&)>& visit) {
  auto s = db_->prepare("SELECT json FROM events WHERE t BETWEEN ?1 AND ?2 ORDER BY t");
  s.bind(1, to_ms(from)).bind(2, to_ms(to));
  std::size_t skipped = 0;
  while (s.step()) {
    const auto line = s.text(0);
    if (!decode_event_line(line)) {
      ++skipped;
      continue;
    }
    visit(line);
  }
  note_skipped(&notes_, skipped, "events", "not an event line memopt writes");
}

}  // namespace memopt::record
