// The flight recorder's database: retention and the size cap over 8 simulated days with a fake
// clock, restarts, and every kind of bad database (each refused with a clear message).
#include "memopt/record/recorder.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/record/sink.hpp"
#include "memopt/record/sqlite.hpp"
#include "memopt/record/stored.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/timestamp.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt::record {
namespace {

using memopt::testing::TempTree;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

/// A wall clock the test moves by hand.
struct FakeClock {
  TimePoint now = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));
  std::function<TimePoint()> fn() {
    return [this] { return now; };
  }
};

analysis::QuickObservation observation(TimePoint at, std::uint64_t used) {
  analysis::QuickObservation o;
  o.at = at;
  o.memory.scope = analysis::Scope::kContainer;
  o.memory.limit_bytes = 1024 * kMiB;
  o.memory.used_bytes = used;
  o.memory.available_bytes = 1024 * kMiB - used;
  return o;
}

analysis::Report report(TimePoint at, std::uint64_t used, int processes) {
  analysis::Report r;
  r.sample.timestamp = at;
  r.memory.scope = analysis::Scope::kContainer;
  r.memory.used_bytes = used;
  r.memory.limit_bytes = 1024 * kMiB;
  for (int i = 0; i < processes; ++i) {
    model::ProcessMemory p;
    p.pid = 100 + i;
    p.name = fmt::format("worker-with-a-long-name-{}", i);
    p.rss_bytes = used / static_cast<std::uint64_t>(processes + 1);
    p.pss_bytes = p.rss_bytes;
    p.uss_bytes = p.rss_bytes / 2;
    r.sample.processes.push_back(p);
  }
  return r;
}

/// Rows per resolution, and the oldest and newest time of each, read with SQL.
struct Spread {
  std::int64_t count = 0;
  std::int64_t oldest_ms = 0;
  std::int64_t newest_ms = 0;
};

Spread spread(Database& db, std::string_view table, int resolution) {
  auto s = db.prepare(fmt::format(
      "SELECT count(*), coalesce(min(t), 0), coalesce(max(t), 0) FROM {} WHERE resolution_s = ?1",
      table));
  s.bind(1, static_cast<std::int64_t>(resolution));
  EXPECT_TRUE(s.step());
  return {s.integer(0), s.integer(1), s.integer(2)};
}

std::int64_t ms(TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

TEST(Recorder, RetentionOverEightSimulatedDays) {
  TempTree tmp;
  FakeClock clock;
  const auto start = clock.now;
  config::RecordConfig config;  // 1 h full, 10 s for a day, 1 min for 8 days
  const std::string path = tmp.path("state/history.db");
  {
    Recorder recorder(path, config, clock.fn());
    // An observation every 5 s whose used figure tells its own time: 1 MiB per minute of the
    // simulated day, so each bucket's maximum is its last observation's.
    const auto end = start + hours(24 * 8 + 2);
    for (auto t = start; t < end; t += seconds(5)) {
      clock.now = t;
      const auto minute_of_day =
          std::chrono::duration_cast<std::chrono::minutes>(t - start).count() % 1440;
      recorder.observe(observation(t, static_cast<std::uint64_t>(minute_of_day + 1) * kMiB),
                       analysis::Level::kNormal);
      if ((t - start) % seconds(60) == seconds(0)) recorder.sample(report(t, 100 * kMiB, 3));
    }
    recorder.prune();
  }
  Database db(path, false);
  const auto now_ms = ms(clock.now);
  const auto full = spread(db, "observations", 0);
  const auto ten = spread(db, "observations", 10);
  const auto minute = spread(db, "observations", 60);
  // Full resolution: the last hour only (one 10 s bucket of slack), every 5 s.
  EXPECT_GE(full.oldest_ms, now_ms - 3600'000 - 10'000);
  EXPECT_NEAR(static_cast<double>(full.count), 720.0, 4.0);
  // 10 s buckets: from an hour back to a day back (one minute bucket of slack).
  EXPECT_GE(ten.oldest_ms, now_ms - 86400'000 - 60'000);
  EXPECT_LE(ten.newest_ms, now_ms - 3600'000);
  EXPECT_NEAR(static_cast<double>(ten.count), (86400.0 - 3600.0) / 10.0, 12.0);
  // 1 min buckets: up to 8 days back, none older.
  EXPECT_GE(minute.oldest_ms, now_ms - 8 * 86400'000LL);
  EXPECT_LE(minute.newest_ms, now_ms - 86400'000);
  EXPECT_NEAR(static_cast<double>(minute.count), 7.0 * 1440.0, 3.0);
  // A bucket keeps the maximum of what it folded: the last minute's figure of its span.
  auto s = db.prepare(
      "SELECT t, used_bytes FROM observations WHERE resolution_s = 60 ORDER BY t LIMIT 50");
  int checked = 0;
  while (s.step()) {
    const auto minute_of_day = ((s.integer(0) - ms(start)) / 60'000) % 1440;
    EXPECT_EQ(s.integer(1), (minute_of_day + 1) * static_cast<std::int64_t>(kMiB));
    ++checked;
  }
  EXPECT_EQ(checked, 50);
  // Samples are thinned the same way: one a minute (they came once a minute) until 8 days.
  const auto samples_full = spread(db, "samples", 0);
  EXPECT_GE(samples_full.oldest_ms, now_ms - 3600'000 - 10'000);
  EXPECT_EQ(
      db.scalar(fmt::format("SELECT count(*) FROM samples WHERE t < {}", now_ms - 8 * 86400'000LL)),
      0);
  // Processes of dropped samples are gone too.
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processes WHERE sample_id NOT IN (SELECT id FROM "
                      "samples)"),
            0);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM processes"),
            3 * db.scalar("SELECT count(*) FROM samples"));
  EXPECT_EQ(db.scalar_text("PRAGMA integrity_check"), "ok");
}

TEST(Recorder, SizeCapDropsTheOldestFirst) {
  TempTree tmp;
  FakeClock clock;
  config::RecordConfig config;
  config.max_bytes = 2 * kMiB;
  config.processes = 50;
  const std::string path = tmp.path("history.db");
  Recorder recorder(path, config, clock.fn());
  const auto start = clock.now;
  for (auto t = start; t < start + hours(12); t += seconds(10)) {
    clock.now = t;
    recorder.observe(observation(t, 300 * kMiB), analysis::Level::kNormal);
    recorder.sample(report(t, 300 * kMiB, 50));
  }
  recorder.prune();
  EXPECT_LE(recorder.size_bytes(), config.max_bytes);
  const auto newest = recorder.observations(clock.now - seconds(60), clock.now);
  EXPECT_FALSE(newest.empty()) << "the newest minute must survive the cap";
  const auto oldest = recorder.observations(start, start + hours(1));
  EXPECT_TRUE(oldest.empty()) << "the oldest hour must go first";
  // The file itself shrank (incremental vacuum): pages go back to the file system.
  EXPECT_LE(std::filesystem::file_size(path), config.max_bytes + 256 * 1024);
}

TEST(Recorder, ARestartContinuesTheSameHistory) {
  TempTree tmp;
  FakeClock clock;
  const std::string path = tmp.path("history.db");
  const auto start = clock.now;
  {
    Recorder recorder(path, {}, clock.fn());
    for (int i = 0; i < 10; ++i) {
      clock.now = start + seconds(i);
      recorder.observe(observation(clock.now, 10 * kMiB), analysis::Level::kNormal);
    }
    recorder.flush();
  }
  {
    Recorder recorder(path, {}, clock.fn());
    for (int i = 20; i < 30; ++i) {
      clock.now = start + seconds(i);
      recorder.observe(observation(clock.now, 20 * kMiB), analysis::Level::kWarning);
    }
    recorder.flush();
  }
  History history(path);
  const auto rows = history.observations(start, clock.now);
  ASSERT_EQ(rows.size(), 20u);
  EXPECT_EQ(rows.front().used_bytes, 10 * kMiB);
  EXPECT_EQ(rows.back().used_bytes, 20 * kMiB);
  EXPECT_EQ(rows.back().level, analysis::Level::kWarning);
}

TEST(Recorder, UnknownFiguresStayUnknown) {
  TempTree tmp;
  FakeClock clock;
  Recorder recorder(tmp.path("history.db"), {}, clock.fn());
  analysis::QuickObservation o;
  o.at = clock.now;
  o.memory.scope = analysis::Scope::kUnknown;
  recorder.observe(o, analysis::Level::kUnknown);
  recorder.flush();
  const auto rows = recorder.observations(clock.now, clock.now);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_FALSE(rows[0].used_bytes);
  EXPECT_FALSE(rows[0].limit_bytes);
  EXPECT_EQ(rows[0].level, analysis::Level::kUnknown);
}

TEST(Recorder, TheWriterReadsBackTheWindowsEventLinesForAPostmortem) {
  TempTree tmp;
  FakeClock clock;
  Recorder recorder(tmp.path("history.db"), {}, clock.fn());
  analysis::Event e(analysis::LoopForecastSaid{.process = {42, std::nullopt}}, clock.now);
  e.message = "python3 (pid 42) forecast its loop";
  recorder.event(e, render::render_event(e, true));
  analysis::Event late(analysis::PressureFired{}, clock.now + seconds(700));  // outside the window
  recorder.event(late, render::render_event(late, true));
  recorder.flush();
  const auto lines = recorder.events(clock.now - seconds(600), clock.now + seconds(1));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("\"event\":\"loop_forecast\""));
  EXPECT_THAT(lines[0], HasSubstr("\"pid\":42"));
}

TEST(Recorder, AGpuWhoseMemoryIsUnknownIsNotRecordedAsIdle) {
  TempTree tmp;
  FakeClock clock;
  Recorder recorder(tmp.path("history.db"), {}, clock.fn());
  auto r = report(clock.now, 100 * kMiB, 1);
  model::GpuDevice refused;
  refused.index = 0;
  refused.name = "A100 (MIG parent)";
  refused.memory_known = false;
  model::GpuDevice slice;
  slice.index = 1;
  slice.name = "MIG 1g.10gb";
  slice.total_bytes = 10240 * kMiB;
  slice.used_bytes = 3000 * kMiB;
  r.sample.gpus = {refused, slice};
  recorder.sample(r);
  recorder.flush();
  const auto samples = recorder.samples(clock.now, clock.now);
  ASSERT_EQ(samples.size(), 1u);
  ASSERT_EQ(samples[0].gpus.size(), 1u);
  EXPECT_EQ(samples[0].gpus[0].index, 1u);
  EXPECT_EQ(samples[0].gpus[0].used_bytes, 3000 * kMiB);
}

// --- bad databases ----------------------------------------------------------------------------

std::string open_error(const std::string& path) {
  try {
    Recorder recorder(path, {});
  } catch (const Error& e) {
    return e.what();
  }
  return "opened";
}

TEST(RecorderBadInput, AForeignFileIsRefusedAndLeftAlone) {
  TempTree tmp;
  const std::string text(8192, 'x');
  const auto path = tmp.write("history.db", text);
  EXPECT_THAT(open_error(path), HasSubstr("not a SQLite database"));
  EXPECT_THAT(open_error(path), HasSubstr(path));
  EXPECT_EQ(memopt::testing::slurp(path), text);
}

TEST(RecorderBadInput, AnotherProgramsDatabaseIsRefused) {
  TempTree tmp;
  const auto path = tmp.path("other.db");
  {
    Database db(path, true);
    db.exec("CREATE TABLE accounts(id INTEGER, name TEXT); INSERT INTO accounts VALUES(1, 'a')");
  }
  EXPECT_THAT(open_error(path), HasSubstr("not memopt's history"));
  Database db(path, false);
  EXPECT_EQ(db.scalar("SELECT count(*) FROM accounts"), 1);
}

TEST(RecorderBadInput, ANewerSchemaIsRefused) {
  TempTree tmp;
  const auto path = tmp.path("history.db");
  { Recorder recorder(path, {}); }
  {
    Database db(path, true);
    db.exec("PRAGMA user_version = 99");
  }
  EXPECT_THAT(open_error(path), HasSubstr("newer memopt (schema 99"));
  EXPECT_THROW(History{path}, Error);
}

TEST(RecorderBadInput, ACorruptDatabaseIsRefused) {
  TempTree tmp;
  FakeClock clock;
  const auto path = tmp.path("history.db");
  {
    Recorder recorder(path, {}, clock.fn());
    for (int i = 0; i < 2000; ++i) {
      clock.now += seconds(1);
      recorder.sample(report(clock.now, 10 * kMiB, 5));
    }
    recorder.flush();
  }
  // Checkpointed into the main file by the close; scribble over pages past the header.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    for (std::streamoff at = 4096 * 3; at < 4096 * 40; at += 4096) {
      f.seekp(at + 8);
      f.write("garbage garbage garbage garbage garbage garbage", 48);
    }
  }
  const auto message = open_error(path);
  EXPECT_THAT(message, HasSubstr(path));
  EXPECT_THAT(message, ::testing::AnyOf(HasSubstr("corrupt"), HasSubstr("malformed")));
}

TEST(RecorderBadInput, AnEmptyPathIsAUsageError) { EXPECT_THROW(Recorder("", {}), Error); }

/// A sink that keeps what reaches it.
struct Capture final : EngineSink {
  std::vector<analysis::Event> events;
  std::vector<std::string> notices;
  int samples = 0;
  EngineSnapshot published;
  analysis::EffectiveMemory last_memory{.scope = analysis::Scope::kUnknown};
  void on_sample(const analysis::Report& r) override {
    ++samples;
    last_memory = r.memory;
  }
  void on_publish(const EngineSnapshot& s) override { published = s; }
  void on_event(const analysis::Event& e) override { events.push_back(e); }
  void on_notice(std::string_view m) override { notices.emplace_back(m); }
};

/// A tmpfs of its own (root only): read-only, or tiny to fill up.
class Mount {
 public:
  Mount(const std::string& dir, const char* options) : dir_(dir) {
    ok_ = ::mount("memopt-recorder-test", dir.c_str(), "tmpfs", 0, options) == 0;
  }
  ~Mount() {
    if (ok_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  [[nodiscard]] bool ok() const { return ok_; }
  void remount(const char* options) const {
    ::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, options);
  }

 private:
  std::string dir_;
  bool ok_ = false;
};

TEST(RecorderBadInput, AReadOnlyStateDirectoryStopsRecordingNotMonitoring) {
  TempTree tmp;
  const auto dir = tmp.mkdir("ro");
  Mount mount(dir, "size=1m,mode=0700");
  if (!mount.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  mount.remount("size=1m,mode=0700");
  Capture next;
  RecordingSink::Options options;
  options.path = dir + "/history.db";
  RecordingSink sink(next, options);
  EXPECT_FALSE(sink.recording());
  ASSERT_EQ(next.events.size(), 1u);
  EXPECT_EQ(next.events[0].kind(), analysis::EventKind::kRecordingFailed);
  EXPECT_THAT(next.events[0].message, HasSubstr(dir + "/history.db"));
  EXPECT_EQ(next.events[0].memory.scope, memopt::analysis::Scope::kUnknown)
      << "no reading yet: unknown, never zeros";
  sink.on_sample(report(TimePoint{}, kMiB, 1));
  EXPECT_EQ(next.samples, 1) << "samples still reach the printer";
}

TEST(RecorderBadInput, AStateDirectoryThatCannotBeMadeIsNamedByTheDatabase) {
  // As user nobody (HOME=/nonexistent) the event named /nonexistent/.local, not the database.
  TempTree tmp;
  const auto file = tmp.write("file", "");
  Capture next;
  RecordingSink::Options options;
  options.path = file + "/.local/state/memopt/history.db";
  RecordingSink sink(next, options);
  EXPECT_FALSE(sink.recording());
  ASSERT_EQ(next.events.size(), 1u);
  EXPECT_EQ(next.events[0].kind(), analysis::EventKind::kRecordingFailed);
  EXPECT_THAT(next.events[0].message, HasSubstr("history database " + options.path + ":"));
}

TEST(RecorderBadInput, AFullStateDirectoryStopsRecordingWithAMessage) {
  TempTree tmp;
  const auto dir = tmp.mkdir("full");
  Mount mount(dir, "size=256k,mode=0700");
  if (!mount.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  Capture next;
  RecordingSink::Options options;
  options.path = dir + "/history.db";
  FakeClock clock;
  options.clock = clock.fn();
  RecordingSink sink(next, options);
  // Either the database does not fit at all, or it fills up as samples come.
  for (int i = 0; i < 2000 && sink.recording(); ++i) {
    clock.now += seconds(1);
    sink.on_sample(report(clock.now, 10 * kMiB, 10));
  }
  sink.settle();
  EXPECT_FALSE(sink.recording());
  ASSERT_FALSE(next.events.empty());
  EXPECT_EQ(next.events.back().kind(), analysis::EventKind::kRecordingFailed);
  EXPECT_THAT(next.events.back().message, HasSubstr("full"));
  // The event carries the reading it failed on, not a made-up unknown or zero.
  EXPECT_EQ(next.events.back().memory.scope, next.last_memory.scope);
  EXPECT_EQ(next.events.back().memory.used_bytes, next.last_memory.used_bytes);
  EXPECT_NE(next.events.back().memory.scope, memopt::analysis::Scope::kUnknown);
  EXPECT_GE(next.samples, 1);
}

TEST(RecordingSink, StoppedWhileTheFallAfterAKillSettlesWritesOnlyTheKillsPostmortem) {
  TempTree tmp;
  FakeClock clock;
  Capture next;
  RecordingSink::Options options;
  options.path = tmp.path("state");
  options.clock = clock.fn();
  options.roots = {tmp.path("no-proc"), tmp.path("no-sys")};
  tmp.mkdir("state");
  RecordingSink sink(next, options);
  ASSERT_TRUE(sink.recording());
  const auto start = clock.now;
  for (int i = 0; i <= 5; ++i) {
    clock.now = start + seconds(i);
    const auto used = static_cast<std::uint64_t>(200 + 10 * i) * kMiB;
    sink.on_observation(observation(clock.now, used), analysis::Level::kDanger);
    sink.on_sample(report(clock.now, used, 1));
  }
  analysis::Event danger(analysis::LevelChange{});
  danger.at = start;
  danger.level = analysis::Level::kDanger;
  sink.on_event(danger);
  analysis::Event kill(analysis::OomKills{.count = 1}, clock.now);
  sink.on_event(kill);
  sink.settle();
  EXPECT_EQ(sink.postmortems_written(), 1u);
  // The monitor stops before the fall to normal is said: the episode is the kill's.
  clock.now += seconds(1);
  sink.finish();
  EXPECT_EQ(sink.postmortems_written(), 1u);
  History history(tmp.path("state"));
  ASSERT_EQ(history.postmortems().size(), 1u);
}

TEST(RecordingSink, AnOomKillLeavesAPostmortemServedAndCounted) {
  TempTree tmp;
  FakeClock clock;
  Capture next;
  RecordingSink::Options options;
  options.path = tmp.path("state");
  options.clock = clock.fn();
  options.roots = {tmp.path("no-proc"), tmp.path("no-sys")};  // no cgroup files to read
  tmp.mkdir("state");
  RecordingSink sink(next, options);
  ASSERT_TRUE(sink.recording());
  // A process that grows 10 MiB a second for a minute, then an OOM kill.
  const auto start = clock.now;
  for (int i = 0; i <= 60; ++i) {
    clock.now = start + seconds(i);
    const auto used = static_cast<std::uint64_t>(100 + 10 * i) * kMiB;
    sink.on_observation(observation(clock.now, used), analysis::Level::kNormal);
    auto r = report(clock.now, used, 1);
    r.sample.processes[0].name = "leaker";
    r.sample.processes[0].rss_bytes = used - 50 * kMiB;
    r.sample.processes[0].pss_bytes = used - 50 * kMiB;
    sink.on_sample(r);
  }
  analysis::Event kill(analysis::OomKills{.count = 1}, clock.now);
  model::OomKill victim;
  victim.pid = 100;
  victim.name = "leaker";
  victim.anon_rss_bytes = 700 * kMiB;
  kill.payload_if<analysis::OomKills>()->victims.push_back(victim);
  sink.on_event(kill);
  sink.settle();
  ASSERT_EQ(next.events.back().kind(), analysis::EventKind::kPostmortem)
      << next.events.back().message;
  EXPECT_EQ(sink.postmortems_written(), 1u);

  // What the exporter gets: the list, each document and the counter.
  EngineSnapshot snapshot;
  snapshot.top = 7;
  sink.on_publish(snapshot);
  EXPECT_EQ(next.published.top, 7u) << "the engine's snapshot is handed on";
  EXPECT_EQ(next.published.postmortems_written, 1u);
  ASSERT_TRUE(next.published.postmortems);
  EXPECT_EQ(next.published.postmortems->size(), 1u);
  EXPECT_THAT(next.published.postmortems_json, HasSubstr("\"kind\":\"oom_kill\""));

  History history(tmp.path("state"));
  const auto entries = history.postmortems();
  ASSERT_EQ(entries.size(), 1u);
  const auto doc = nlohmann::json::parse(*history.postmortem_json(entries[0].id));
  EXPECT_EQ(doc["id"], entries[0].id);
  EXPECT_EQ(doc["victims"][0]["name"], "leaker");
  EXPECT_TRUE(doc["victims"][0]["sampled"].get<bool>());
  // 10 MiB a second for 60 s: the growth and the slope are the test's.
  EXPECT_NEAR(doc["victims"][0]["growth_bytes"].get<double>(), 600.0 * kMiB, 1.0);
  EXPECT_NEAR(doc["victims"][0]["bytes_per_second"].get<double>(), 10.0 * kMiB, 1.0);
  // It grew steadily until the kill: no limit would have held, only delayed it.
  EXPECT_EQ(doc["classification"]["class"], "unbounded_growth");
  EXPECT_TRUE(doc["prevention"]["limit_bytes"].is_null());
  EXPECT_EQ(doc["prevention"]["grower"]["name"], "leaker");
  const auto text =
      render_postmortem_text(parse_postmortem(history.postmortem_json(entries[0].id).value()));
  EXPECT_THAT(text, HasSubstr("Killed: leaker (pid 100)"));
  EXPECT_THAT(text, HasSubstr("What grew most: leaker (pid 100), +600 MiB"));
  EXPECT_THAT(text, HasSubstr("10.0 MiB/s"));
  EXPECT_THAT(text, HasSubstr("What would have prevented it: no larger limit."));
}

// --- links, locks and read-only directories ------------------------------------------------

/// The post-mortem an OOM kill leaves through `sink` at `clock`'s time.
TEST(RecordingSink, TheEngineNeverWaitsForTheDatabase) {
  // Another writer holds the database (as a long prune of a large history, or a slow disk,
  // holds the writer): readings and an OOM kill still reach the printer at once, the calls
  // return while the lock is held, and nothing is lost once it is released. Before, the first
  // write waited the 2 s busy timeout on the engine's thread and then stopped recording.
  TempTree tmp;
  FakeClock clock;
  Capture next;
  RecordingSink::Options options;
  options.path = tmp.path("state");
  options.clock = clock.fn();
  options.roots = {tmp.path("no-proc"), tmp.path("no-sys")};
  options.config.record.full = hours(24);  // every reading stays at full resolution
  tmp.mkdir("state");
  RecordingSink sink(next, options);
  ASSERT_TRUE(sink.recording());
  Database other(tmp.path("state/history.db"), true);  // a writer: it takes the write lock
  other.exec("BEGIN IMMEDIATE");
  const auto start = clock.now;
  // More readings than the writer may fall behind by: the excess is left out, and said.
  const int readings = static_cast<int>(RecordingSink::kMaxQueued) + 100;
  for (int i = 1; i <= readings; ++i) {
    clock.now = start + seconds(i);
    sink.on_observation(observation(clock.now, (100 + i % 50) * kMiB), analysis::Level::kNormal);
  }
  analysis::Event kill(analysis::OomKills{.count = 1}, clock.now);
  sink.on_event(kill);
  EXPECT_EQ(next.events.back().kind(), analysis::EventKind::kOomKill)
      << "the printer hears it at once";
  other.exec("COMMIT");
  sink.settle();
  EXPECT_TRUE(sink.recording()) << (next.events.empty() ? "" : next.events.back().message);
  EXPECT_EQ(sink.postmortems_written(), 1u) << "events are never left out";
  EXPECT_THAT(next.notices, ::testing::Contains(HasSubstr("readings not recorded")));
  sink.finish();
  History history(tmp.path("state/history.db"));
  const auto rows = history.observations(start, clock.now);
  EXPECT_GE(rows.size(), RecordingSink::kMaxQueued - 1);
  EXPECT_LT(rows.size(), static_cast<std::size_t>(readings));
}

void oom_kill(RecordingSink& sink, FakeClock& clock) {
  for (int i = 0; i < 5; ++i) {
    clock.now += seconds(1);
    sink.on_observation(observation(clock.now, (100 + i) * kMiB), analysis::Level::kNormal);
    sink.on_sample(report(clock.now, (100 + i) * kMiB, 2));
  }
  analysis::Event kill(analysis::OomKills{.count = 1}, clock.now);
  sink.on_event(kill);
  sink.settle();
}

TEST(RecorderLinks, ADanglingDatabaseLinkDoesNotCreateItsTarget) {
  TempTree tmp;
  const auto target = tmp.path("elsewhere/created-by-root");
  tmp.mkdir("elsewhere");
  const auto db = tmp.path("state/history.db");
  tmp.mkdir("state");
  std::filesystem::create_symlink(target, db);
  EXPECT_THAT(open_error(db), HasSubstr("symbolic link"));
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST(RecorderLinks, ALinkToAnEmptyFileDoesNotMakeItADatabase) {
  TempTree tmp;
  const auto target = tmp.write("elsewhere/empty", "");
  tmp.mkdir("state");
  for (const char* name : {"history.db", "history.db-wal", "history.db-shm", "history.db.lock"}) {
    const auto link = tmp.path(std::string("state/") + name);
    std::filesystem::create_symlink(target, link);
    EXPECT_THAT(open_error(tmp.path("state/history.db")), HasSubstr(link)) << name;
    EXPECT_EQ(std::filesystem::file_size(target), 0u) << name;
    std::filesystem::remove(link);
  }
}

TEST(RecorderLinks, APlantedPostmortemFileIsNotOverwritten) {
  TempTree tmp;
  FakeClock clock;
  Capture next;
  RecordingSink::Options options;
  options.path = tmp.path("state");
  options.clock = clock.fn();
  options.roots = {tmp.path("no-proc"), tmp.path("no-sys")};
  tmp.mkdir("state");
  RecordingSink sink(next, options);
  ASSERT_TRUE(sink.recording());
  // The name the first post-mortem file will have: its id and the kill's time.
  const auto target = tmp.write("elsewhere/precious", "precious\n");
  const auto kill_at = clock.now + seconds(5);
  auto stamp = rfc3339(kill_at);
  std::erase(stamp, ':');
  std::erase(stamp, '-');
  std::filesystem::create_symlink(target, tmp.path("state/postmortem-1-" + stamp + ".json"));
  oom_kill(sink, clock);
  ASSERT_EQ(clock.now, kill_at);
  EXPECT_EQ(memopt::testing::slurp(target), "precious\n");
  EXPECT_THAT(next.notices, ::testing::Contains(HasSubstr("is in the database, but not beside")));
  EXPECT_EQ(next.events.back().kind(), analysis::EventKind::kPostmortem) << "the database keeps it";
}

TEST(RecorderLinks, AStateDirectoryOthersCanWriteIsRefusedToRoot) {
  if (sys::effective_uid() != 0) GTEST_SKIP() << "the check is root's";
  TempTree tmp;
  const auto dir = tmp.mkdir("shared");
  std::filesystem::permissions(dir, std::filesystem::perms::all);
  EXPECT_THAT(open_error(dir + "/history.db"), HasSubstr("writable by other users"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/history.db"));
  // A directory memopt creates itself is its own.
  { Recorder recorder(dir + "/memopt/history.db", {}); }
  const auto mode = std::filesystem::status(dir + "/memopt").permissions();
  EXPECT_EQ(mode & std::filesystem::perms::all, std::filesystem::perms::owner_all);
}

TEST(RecorderLocks, ASecondWriterIsRefusedWithAMessage) {
  TempTree tmp;
  const auto path = tmp.path("history.db");
  Recorder first(path, {});
  const auto message = open_error(path);
  EXPECT_THAT(message, HasSubstr("another memopt monitor (pid " + std::to_string(getpid()) + ")"));
  EXPECT_THAT(message, HasSubstr(path));
  // Through the sink, as `monitor --record` meets it: said, and the monitor goes on.
  Capture next;
  RecordingSink::Options options;
  options.path = path;
  RecordingSink sink(next, options);
  EXPECT_FALSE(sink.recording());
  ASSERT_EQ(next.events.size(), 1u);
  EXPECT_EQ(next.events[0].kind(), analysis::EventKind::kRecordingFailed);
  EXPECT_THAT(next.events[0].message, HasSubstr("another memopt monitor"));
}

TEST(RecorderLocks, TheLockGoesWithTheWriter) {
  TempTree tmp;
  const auto path = tmp.path("history.db");
  { Recorder first(path, {}); }
  EXPECT_EQ(open_error(path), "opened");
}

TEST(HistoryReadOnly, AWalDatabaseInAReadOnlyDirectoryIsRead) {
  TempTree tmp;
  const auto dir = tmp.mkdir("ro");
  Mount mount(dir, "size=4m,mode=0700");
  if (!mount.ok()) GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  FakeClock clock;
  {
    Recorder recorder(dir + "/history.db", {}, clock.fn());
    clock.now += seconds(1);
    recorder.observe(observation(clock.now, 300 * kMiB), analysis::Level::kNormal);
    recorder.flush();
  }
  mount.remount("size=4m,mode=0700");
  ASSERT_FALSE(sys::is_writable(dir));
  History history(dir + "/history.db");
  const auto rows = history.observations(clock.now - hours(1), clock.now + hours(1));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].used_bytes, 300 * kMiB);
}

// --- what is stored is checked before it is shown -----------------------------------------------

TEST(HistoryBadRows, ALevelOutOfRangeIsSkippedWithANote) {
  TempTree tmp;
  const auto path = tmp.path("history.db");
  FakeClock clock;
  {
    Recorder recorder(path, {}, clock.fn());
    for (int i = 1; i <= 3; ++i) {
      recorder.observe(observation(clock.now + seconds(i), i * kMiB), analysis::Level::kWarning);
      recorder.sample(report(clock.now + seconds(i), i * kMiB, 1));
    }
  }
  {
    Database db(path, true);
    db.exec("UPDATE observations SET level = 100000000 WHERE used_bytes = 2097152");
    db.exec("UPDATE samples SET level = 'danger' WHERE used_bytes = 3145728");
  }
  History history(path);
  const auto rows = history.observations(clock.now, clock.now + hours(1));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].used_bytes, kMiB);
  EXPECT_EQ(rows[1].used_bytes, 3 * kMiB);
  EXPECT_EQ(history.samples(clock.now, clock.now + hours(1)).size(), 2u);
  EXPECT_THAT(history.notes(), ::testing::ElementsAre(HasSubstr("1 observations skipped"),
                                                      HasSubstr("1 samples skipped")));
}

TEST(HistoryBadRows, GarbageEventsAreSkippedAndADamagedPostmortemIsNamed) {
  TempTree tmp;
  const auto path = tmp.path("history.db");
  FakeClock clock;
  { Recorder recorder(path, {}, clock.fn()); }
  {
    Database db(path, true);
    db.exec(
        "INSERT INTO events VALUES(1, 'x', 0, 'm', 'garbage {'), (2, 'x', 0, 'm', '[1,2]'), "
        "(3, 'x', 0, 'm', '{\"timestamp\":\"T\",\"event\":\"e\",\"message\":\"ok\"}'), "
        "(4, 'x', 0, 'm', '{\"timestamp\":5,\"event\":\"e\",\"message\":\"m\"}');"
        "INSERT INTO postmortems VALUES(7, 5, 'oom_kill', 'sum', '{\"kind\":\"oom_kill\"}')");
  }
  History history(path);
  const auto events = history.events(TimePoint{}, clock.now);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_THAT(events[0], HasSubstr("\"ok\""));
  EXPECT_THAT(history.notes(), ::testing::ElementsAre(HasSubstr("3 events skipped")));
  try {
    (void)history.postmortem_json(7);
    ADD_FAILURE() << "a damaged post-mortem was handed on";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("post-mortem 7 is damaged"));
  }
}

TEST(StoredPostmortem, TheRecordersOwnDocumentPassesAndAnyMemberMissingFails) {
  PostmortemInput in;
  in.kind = "oom_kill";
  in.event = analysis::Event(analysis::OomKills{});
  in.event.at = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));
  in.started = in.event.at;
  model::OomKill victim;
  victim.pid = 100;
  victim.name = "leaker";
  in.event.payload_if<analysis::OomKills>()->victims.push_back(victim);
  for (int i = 0; i < 5; ++i) {
    ObservationRow o;
    o.at = in.event.at - seconds(5 - i);
    o.used_bytes = (100 + i) * kMiB;
    o.limit_bytes = 200 * kMiB;
    in.observations.push_back(o);
    SampleRow s;
    s.at = o.at;
    s.used_bytes = o.used_bytes;
    s.processes.push_back({100, "leaker", (90 + i) * kMiB, (90 + i) * kMiB, {}, {}, {}});
    in.samples.push_back(s);
  }
  const auto json = build_postmortem(in).json;
  EXPECT_EQ(postmortem_problem(json), std::nullopt);
  const auto doc = nlohmann::json::parse(json);
  for (const auto& [key, value] : doc.items()) {
    if (key == "summary" || key == "id" || key == "started") continue;
    auto damaged = doc;
    damaged.erase(key);
    const auto problem = postmortem_problem(damaged.dump());
    // Members the views do not read may go; those they read may not.
    if (problem) continue;
    for (const char* read : {"kind", "at", "target", "victims", "growth", "limit_bytes",
                             "processes", "prevention", "cgroup_files", "observations"}) {
      EXPECT_NE(key, read) << "missing \"" << key << "\" passed";
    }
  }
  auto wrong = doc;
  wrong["processes"][0]["pid"] = "100";
  EXPECT_NE(postmortem_problem(wrong.dump()), std::nullopt);
  wrong = doc;
  wrong["growth"]["from_bytes"] = 1e300;
  EXPECT_NE(postmortem_problem(wrong.dump()), std::nullopt);
  EXPECT_NE(postmortem_problem("\xff{}"), std::nullopt);
  EXPECT_NE(postmortem_problem("[]"), std::nullopt);
}

// --- --since / --until ------------------------------------------------------------------------

TEST(TimeSpec, DurationsAndUtcTimes) {
  const auto now = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 30));
  EXPECT_EQ(parse_time_spec("90s", now, "--since"), now - seconds(90));
  EXPECT_EQ(parse_time_spec("1h", now, "--since"), now - hours(1));
  EXPECT_EQ(parse_time_spec("2d", now, "--since"), now - hours(48));
  EXPECT_EQ(parse_time_spec("2026-11-29T23:00:00Z", now, "--since"), now - hours(1));
  for (const char* bad : {"", "h", "1x", "-1h", "1.5h", "2026-11-29", "2026-13-01T00:00:00Z",
                          "2026-02-31T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T12:00:00Z"}) {
    try {
      (void)parse_time_spec(bad, now, "--since");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kUsage);
      EXPECT_THAT(e.what(), HasSubstr("--since"));
    }
  }
}

TEST(TimeSpec, LeapDaysAndTheEndOfTime) {
  const auto now = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 30));
  EXPECT_EQ(parse_time_spec("2028-02-29T00:00:00Z", now, "--since"),
            TimePoint(std::chrono::sys_days(std::chrono::year{2028} / 2 / 29)));
  // A nanosecond clock ends in 2262: later times are the end of time, not a wrap into 1677.
  for (const char* late :
       {"2263-01-01T00:00:00Z", "3000-01-01T00:00:00Z", "9999-12-31T23:59:59Z"}) {
    EXPECT_EQ(parse_time_spec(late, now, "--until"), TimePoint::max()) << late;
  }
  EXPECT_LT(parse_time_spec("2262-04-11T00:00:00Z", now, "--until"), TimePoint::max());
  EXPECT_GT(parse_time_spec("2262-04-11T00:00:00Z", now, "--until"), now);
}

}  // namespace
}  // namespace memopt::record
