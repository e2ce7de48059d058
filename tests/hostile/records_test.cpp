// Crafted history databases against every command that reads one. Before the readers checked
// what they read, `level=100000000` in `observations` segfaulted `memopt history`
// (kLevelNames[level]), a non-UTF-8 summary aborted `monitor --record` at start (nlohmann
// type_error.316), garbage events or a malformed post-mortem document aborted or segfaulted
// `history` and `postmortem`. Now a row or document that does not parse or is out of range is
// skipped with a note, or named as damaged: exit 0..3, never a signal. Also: the post-mortem
// page with hostile process names still renders in a real headless Chromium.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "memopt/record/recorder.hpp"
#include "memopt/record/sink.hpp"
#include "memopt/record/sqlite.hpp"
#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::record {
namespace {

using memopt::testing::RunResult;
using memopt::testing::TempTree;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";
const TimePoint kStart = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));

/// Hands everything on to nowhere (the sink under test needs a next one).
struct Nowhere final : EngineSink {
  std::vector<std::string> notices;
  void on_sample(const analysis::Report&) override {}
  void on_publish(const EngineSnapshot&) override {}
  void on_event(const analysis::Event&) override {}
  void on_notice(std::string_view m) override { notices.emplace_back(m); }
};

/// A sound history in `dir`: a minute of growth by two processes (one named `name`), events,
/// and an OOM kill's post-mortem (id 1) with `name` the victim, from `start`.
void record_history(const std::string& dir, const std::string& name, TimePoint start = kStart) {
  TimePoint now = start;
  Nowhere next;
  RecordingSink::Options options;
  options.path = dir;
  options.clock = [&now] { return now; };
  options.roots = {dir + "/no-proc", dir + "/no-sys"};
  RecordingSink sink(next, options);
  ASSERT_TRUE(sink.recording()) << ::testing::PrintToString(next.notices);
  for (int i = 0; i < 60; ++i) {
    now = start + seconds(i);
    analysis::QuickObservation o;
    o.at = now;
    o.memory.scope = analysis::Scope::kContainer;
    o.memory.limit_bytes = 1024 * kMiB;
    o.memory.used_bytes = (100 + 10 * i) * kMiB;
    o.memory.available_bytes = o.memory.limit_bytes - o.memory.used_bytes;
    sink.on_observation(o, i < 50 ? analysis::Level::kNormal : analysis::Level::kSevere);
    analysis::Report r;
    r.sample.timestamp = now;
    r.memory = o.memory;
    for (const auto& [pid, comm] : {std::pair{100, name}, std::pair{101, std::string("python3")}}) {
      model::ProcessMemory p;
      p.pid = pid;
      p.name = comm;
      p.rss_bytes = (50 + 5 * i) * kMiB;
      p.pss_bytes = p.rss_bytes;
      r.sample.processes.push_back(p);
    }
    sink.on_sample(r);
    if (i == 50) {
      analysis::Event e(analysis::LevelChange{});
      e.at = now;
      e.level = analysis::Level::kSevere;
      e.message = "memory is severe";
      sink.on_event(e);
    }
  }
  analysis::Event kill(analysis::OomKills{.count = 1}, now);
  model::OomKill victim;
  victim.pid = 100;
  victim.name = name;
  victim.anon_rss_bytes = 700 * kMiB;
  kill.payload_if<analysis::OomKills>()->victims.push_back(victim);
  sink.on_event(kill);
  sink.finish();
}

/// Each table again without types or constraints, rows kept: any value can then be stored.
void loosen(Database& db) {
  for (const char* table :
       {"observations", "samples", "processes", "gpus", "events", "postmortems"}) {
    db.exec(fmt::format(
        "CREATE TABLE loose AS SELECT * FROM {0}; DROP TABLE {0}; ALTER TABLE loose RENAME TO {0}",
        table));
  }
}

/// The stored post-mortem 1, changed by `change`.
std::function<void(Database&)> postmortem_edit(std::function<void(nlohmann::json&)> change) {
  return [change = std::move(change)](Database& db) {
    auto s = db.prepare("SELECT json FROM postmortems WHERE id = 1");
    ASSERT_TRUE(s.step());
    auto doc = nlohmann::json::parse(s.text(0));
    change(doc);
    auto u = db.prepare("UPDATE postmortems SET json = ?1 WHERE id = 1");
    u.bind(1, std::string_view(doc.dump())).run();
  };
}

struct Variant {
  std::string name;
  std::function<void(Database&)> sql;               ///< a change through SQLite, or
  std::function<void(const std::string&)> on_file;  ///< a change of the file itself
};

std::vector<Variant> variants() {
  const auto sql = [](std::string name, std::string statements) {
    return Variant{std::move(name), [statements](Database& db) {
                     loosen(db);
                     db.exec(statements);
                   }};
  };
  std::vector<Variant> v{
      sql("level 100000000", "UPDATE observations SET level = 100000000"),
      sql("level -5", "UPDATE observations SET level = -5"),
      sql("level as text", "UPDATE observations SET level = 'danger'"),
      sql("level NULL", "UPDATE observations SET level = NULL"),
      sql("level real", "UPDATE observations SET level = 2.5"),
      sql("sample level huge", "UPDATE samples SET level = 9223372036854775807"),
      sql("used negative", "UPDATE observations SET used_bytes = -1, limit_bytes = -7"),
      sql("used huge real", "UPDATE observations SET used_bytes = 1e300, available_bytes = 9e999"),
      sql("used text", "UPDATE observations SET used_bytes = 'many', limit_bytes = ''"),
      sql("used blob", "UPDATE observations SET used_bytes = X'ff00fe'"),
      sql("t max", "UPDATE observations SET t = 9223372036854775807 WHERE rowid % 2 = 0"),
      sql("t min", "UPDATE observations SET t = -9223372036854775808 WHERE rowid % 3 = 0"),
      sql("t text", "UPDATE observations SET t = 'yesterday'; UPDATE samples SET t = X'00'"),
      sql("t NULL", "UPDATE observations SET t = NULL; UPDATE events SET t = NULL"),
      sql("resolution huge", "UPDATE observations SET resolution_s = 1000000000000"),
      sql("psi infinite", "UPDATE observations SET psi_some_avg10 = 9e999, psi_full_avg10 = 'x'"),
      sql("oom kills negative", "UPDATE observations SET oom_kills = -9223372036854775808"),
      sql("process name not UTF-8", "UPDATE processes SET name = X'fffe1b5b33316d'"),
      sql("process name NULL", "UPDATE processes SET name = NULL"),
      sql("process name 1 MiB", "UPDATE processes SET name = hex(zeroblob(524288))"),
      sql("process pid huge", "UPDATE processes SET pid = 1e18, rss_bytes = 'x'"),
      sql("process of no sample", "UPDATE processes SET sample_id = -1"),
      sql("process sizes negative", "UPDATE processes SET rss_bytes = -1, pss_bytes = -5"),
      sql("gpu hostile",
          "INSERT INTO gpus SELECT id, -1, X'ff', -1, 0 FROM samples; "
          "INSERT INTO gpus SELECT id, 4294967296, 'A100', 1e300, 'x' FROM samples"),
      sql("sample ids shuffled", "UPDATE samples SET id = -id"),
      sql("event garbage", "UPDATE events SET json = 'garbage {'"),
      sql("event empty", "UPDATE events SET json = ''"),
      sql("event not UTF-8", "UPDATE events SET json = X'7b22ff227d'"),
      sql("event an array", "UPDATE events SET json = '[1,2,3]'"),
      sql("event wrong types",
          "UPDATE events SET json = '{\"timestamp\":5,\"event\":null,\"message\":[]}'"),
      sql("event deep",
          "UPDATE events SET json = '{\"timestamp\":\"t\",\"event\":\"e\",\"message\":\"m\","
          "\"x\":' || replace(hex(zeroblob(50000)), '00', '[') || "
          "replace(hex(zeroblob(50000)), '00', ']') || '}'"),
      sql("event control characters",
          "UPDATE events SET json = '{\"timestamp\":\"t\",\"event\":\"e\\u001b[2J\","
          "\"message\":\"\\u001b]0;owned\\u0007 \\u202e\"}'"),
      sql("event blob", "UPDATE events SET json = zeroblob(100)"),
      sql("postmortem garbage", "UPDATE postmortems SET json = 'garbage'"),
      sql("postmortem empty object", "UPDATE postmortems SET json = '{}'"),
      sql("postmortem truncated",
          "UPDATE postmortems SET json = substr(json, 1, length(json) / 2)"),
      sql("postmortem not UTF-8", "UPDATE postmortems SET json = X'7b226b696e64223a22ff227d'"),
      sql("postmortem summary not UTF-8", "UPDATE postmortems SET summary = X'fffe', kind = X'c0'"),
      sql("postmortem kind NULL", "UPDATE postmortems SET kind = NULL, summary = NULL"),
      sql("postmortem t huge", "UPDATE postmortems SET t = 9223372036854775807"),
      sql("postmortem t text", "UPDATE postmortems SET t = 'x'"),
      sql("postmortem id text", "UPDATE postmortems SET id = 'one'"),
      sql("postmortem json NULL", "UPDATE postmortems SET json = NULL"),
      sql("postmortem deep",
          "UPDATE postmortems SET json = '{\"kind\":\"oom_kill\",\"x\":' || "
          "replace(hex(zeroblob(100000)), '00', '[') || replace(hex(zeroblob(100000)), '00', "
          "']') || '}'"),
      sql("postmortem 8 MiB",
          "UPDATE postmortems SET json = '\"' || hex(zeroblob(4194304)) || '\"'"),
      {"postmortem victims a string",
       postmortem_edit([](nlohmann::json& d) { d["victims"] = "x"; })},
      {"postmortem victim name a number",
       postmortem_edit([](nlohmann::json& d) { d["victims"][0]["name"] = 5; })},
      {"postmortem pid a string",
       postmortem_edit([](nlohmann::json& d) { d["processes"][0]["pid"] = "100"; })},
      {"postmortem growth huge",
       postmortem_edit([](nlohmann::json& d) { d["growth"]["from_bytes"] = 1e300; })},
      {"postmortem no kind", postmortem_edit([](nlohmann::json& d) { d.erase("kind"); })},
      {"postmortem a danger without start", postmortem_edit([](nlohmann::json& d) {
         d["kind"] = "danger";
         d.erase("started");
       })},
      {"postmortem prevention wrong", postmortem_edit([](nlohmann::json& d) {
         d["prevention"] = {{"grower", 1}};
       })},
      {"postmortem cgroup files a list", postmortem_edit([](nlohmann::json& d) {
         d["cgroup_files"] = {1, 2};
       })},
      sql("schema version 99", "PRAGMA user_version = 99"),
      sql("schema version -1", "PRAGMA user_version = -1"),
      sql("a table missing", "DROP TABLE events"),
      sql("a foreign observations table",
          "DROP TABLE observations; CREATE TABLE observations(a, b); INSERT INTO observations "
          "VALUES(1, 2)"),
      sql("tables are views",
          "DROP TABLE samples; CREATE VIEW samples AS SELECT 1 AS id, 'x' AS t, 0 AS "
          "resolution_s, 1 AS used_bytes, 2 AS limit_bytes, 99 AS level"),
      {"an empty file", nullptr, [](const std::string& p) { std::ofstream(p, std::ios::trunc); }},
      {"a foreign file", nullptr,
       [](const std::string& p) { std::ofstream(p, std::ios::trunc) << std::string(9000, 'x'); }},
      {"a truncated database", nullptr,
       [](const std::string& p) {
         std::filesystem::resize_file(p, std::filesystem::file_size(p) / 2);
       }},
      {"scribbled pages", nullptr,
       [](const std::string& p) {
         std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
         for (std::streamoff at = 4096; at < 4096 * 8; at += 4096) {
           f.seekp(at + 100);
           f.write("\xff\xff\xff\xff\x00\x00\x00\x01garbage", 15);
         }
       }},
      {"a directory", nullptr,
       [](const std::string& p) {
         std::filesystem::remove(p);
         std::filesystem::create_directories(p + "/history.db");
       }},
  };
  return v;
}

/// A command's result is acceptable: a defined exit code, never a signal or an abort.
void expect_defined(const RunResult& r, const std::string& what) {
  EXPECT_LE(r.exit_code, 3) << what << " (exit " << r.exit_code << ")\n" << r.err.substr(0, 2000);
  EXPECT_GE(r.exit_code, 0) << what;
  EXPECT_THAT(r.err, Not(HasSubstr("terminate called"))) << what;
}

TEST(CraftedDatabases, NoneCrashesAnyCommandThatReadsIt) {
  TempTree tmp;
  const auto sound = tmp.mkdir("sound");
  record_history(sound, "leaker");
  const auto all = variants();
  ASSERT_GE(all.size(), 50u);
  // Each variant in its own directory, several at once (each command is a process).
  const auto check = [&](std::size_t i) {
    const auto& variant = all[i];
    SCOPED_TRACE(variant.name);
    const auto dir = tmp.mkdir(fmt::format("v{}", i));
    const auto db = dir + "/history.db";
    std::filesystem::copy_file(sound + "/history.db", db);
    if (variant.sql) {
      Database d(db, true);
      variant.sql(d);
    } else {
      variant.on_file(db);
    }
    const std::vector<std::string> window{"--since", "2026-10-01T00:00:00Z", "--until",
                                          "3000-01-01T00:00:00Z"};
    std::vector<std::vector<std::string>> commands;
    for (const char* format : {"text", "json", "csv"}) {
      auto c = std::vector<std::string>{"history", "--db", db, "--format", format};
      c.insert(c.end(), window.begin(), window.end());
      commands.push_back(c);
    }
    commands.push_back({"postmortem", "--db", db, "--list"});
    commands.push_back({"postmortem", "--db", db, "--list", "--json"});
    commands.push_back({"postmortem", "--db", db, "--last"});
    commands.push_back({"postmortem", "--db", db, "1"});
    commands.push_back({"postmortem", "--db", db, "1", "--json"});
    commands.push_back({"postmortem", "--db", db, "--last", "--html", dir + "/page.html"});
    commands.push_back({"recommend", "--from-history", db, "--since", "2026-10-01T00:00:00Z"});
    commands.push_back(
        {"recommend", "--from-history", db, "--since", "2026-10-01T00:00:00Z", "--json"});
    // Last, as it writes: the recorder opens the crafted file at start.
    commands.push_back({"monitor", "1", "--json", "--duration", "0.2", "--record", db});
    for (const auto& args : commands) {
      const auto r = testing::run_memopt(args, {kNoNvml});
      expect_defined(r, fmt::format("{}: {}", variant.name, fmt::join(args, " ")));
    }
  };
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      for (std::size_t i; (i = next++) < all.size();) check(i);
    });
  }
  for (auto& w : workers) w.join();
  // The sound history itself is read by every command.
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"history", "--db", sound, "--since", "2026-10-01T00:00:00Z", "--format", "json"},
           {"postmortem", "--db", sound, "--last"}}) {
    const auto r = testing::run_memopt(args, {kNoNvml});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST(CraftedDatabases, AnOutOfRangeLevelIsSkippedWithANoteNotShownWrong) {
  TempTree tmp;
  const auto dir = tmp.mkdir("state");
  record_history(dir, "leaker");
  {
    Database d(dir + "/history.db", true);
    d.exec("UPDATE observations SET level = 100000000 WHERE t = (SELECT min(t) FROM observations)");
  }
  const auto r = testing::run_memopt(
      {"history", "--db", dir, "--since", "2026-10-01T00:00:00Z", "--format", "csv"}, {kNoNvml});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("1 observations skipped"));
  // 60 observations were kept; one is left out, none is shown with a made-up level.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1 + 59);
}

TEST(CraftedDatabases, ANonUtf8SummaryDoesNotStopARecordingMonitor) {
  TempTree tmp;
  const auto dir = tmp.mkdir("state");
  // An hour ago: the monitor's first prune keeps it (older than 8 days would be dropped).
  record_history(
      dir, "leaker",
      std::chrono::floor<seconds>(std::chrono::system_clock::now()) - std::chrono::hours(1));
  {
    Database d(dir + "/history.db", true);
    d.exec("UPDATE postmortems SET summary = X'fffe41'");
  }
  const auto r = testing::run_memopt(
      {"monitor", "1", "--json", "--duration", "1.2", "--record", dir + "/history.db"}, {kNoNvml});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out + r.err, Not(HasSubstr("not recording")));
  const auto list = testing::run_memopt({"postmortem", "--db", dir, "--list"}, {kNoNvml});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("\\xff\\xfeA"));
}

TEST(CraftedDatabases, EscapeSequencesInStoredEventsDoNotReachTheTerminal) {
  TempTree tmp;
  const auto dir = tmp.mkdir("state");
  record_history(dir, "leaker");
  {
    Database d(dir + "/history.db", true);
    d.exec(
        "UPDATE events SET json = json_set(json, '$.message', 'cgroup /kubepods/' || "
        "char(27) || ']0;owned' || char(7) || ' ' || char(27) || '[2J')");
  }
  const auto r =
      testing::run_memopt({"history", "--db", dir, "--since", "2026-10-01T00:00:00Z"}, {kNoNvml});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cgroup /kubepods/\\x1b]0;owned\\x07 \\x1b[2J"));
  EXPECT_EQ(r.out.find('\x1b'), std::string::npos);
}

TEST(PostmortemPage, HostileNamesStillRenderTheChartsAndTheirTables) {
  if (testing::chromium() == nullptr) {
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  }
  TempTree tmp;
  const auto dir = tmp.mkdir("state");
  // Fits in a comm (15 bytes): it opened a comment in the page's script, which never ran.
  const std::string hostile = "<!--<script>";
  record_history(dir, hostile);
  {
    // A name with what JavaScript once took for line ends, and one that closes the element.
    Database d(dir + "/history.db", true);
    d.exec(
        "UPDATE postmortems SET json = replace(json, '\"python3\"', '\"py\u2028th\u2029</script>"
        "&amp;\"')");
  }
  const auto page = tmp.path("postmortem.html");
  const auto html = testing::run_memopt({"postmortem", "--db", dir, "--last", "--html", page});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const auto text = testing::slurp(page);
  EXPECT_EQ(text.find("<!--<script>"), std::string::npos);
  auto dump = testing::headless_chromium(tmp.path("profile"));
  dump.insert(dump.end(), {"--dump-dom", "file://" + page});
  const auto dom = testing::run_command(dump);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_THAT(dom.out, HasSubstr("data-rendered=\"yes\"")) << "the script did not end";
  EXPECT_THAT(dom.out, HasSubstr("data-kill-marked=\"yes\""));
  // uPlot draws a legend table under each chart: memory, and the top processes.
  std::size_t tables = 0;
  for (auto at = dom.out.find("<table"); at != std::string::npos;
       at = dom.out.find("<table", at + 1)) {
    ++tables;
  }
  EXPECT_GE(tables, 2u) << "the charts' tables are missing";
  // The names are shown as text, escaped, where they belong.
  EXPECT_THAT(dom.out, HasSubstr("&lt;!--&lt;script&gt; (100)"));
  EXPECT_THAT(dom.out, HasSubstr("&lt;/script&gt;&amp;amp; (101)"));
}

}  // namespace
}  // namespace memopt::record
