// `memopt recommend --from-history`: a history written through the Recorder (as `monitor --record`
// writes it, with a clock moved by hand over two days), read back by the binary in text and JSON,
// from an explicit path and from the default one; and every way it can have no figure.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "memopt/record/recorder.hpp"
#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

using record::TimePoint;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::Not;

const TimePoint kStart = TimePoint(std::chrono::sys_days(std::chrono::year{2026} / 11 / 1));

analysis::QuickObservation observation(TimePoint at, std::uint64_t used) {
  analysis::QuickObservation o;
  o.at = at;
  o.memory.scope = analysis::Scope::kContainer;
  o.memory.limit_bytes = 2 * kGiB;
  o.memory.used_bytes = used;
  o.memory.available_bytes = 2 * kGiB - used;
  o.oom_kills = 0;
  return o;
}

analysis::Report gpu_sample(TimePoint at, std::uint64_t gpu_used) {
  analysis::Report r;
  r.sample.timestamp = at;
  r.memory.scope = analysis::Scope::kContainer;
  r.memory.used_bytes = 300 * kMiB;
  r.memory.limit_bytes = 2 * kGiB;
  model::GpuDevice gpu;
  gpu.index = 0;
  gpu.name = "NVIDIA H200";
  gpu.total_bytes = 143771 * kMiB;
  gpu.used_bytes = gpu_used;
  r.sample.gpus.push_back(gpu);
  return r;
}

/// Two days of a model server: a 60 s load to 800 MiB at 1 s, then 300 MiB once a minute, and
/// the GPU at 20 GiB once an hour. Returns the database's path.
std::string write_history(const std::string& path) {
  TimePoint now = kStart;
  record::Recorder recorder(path, {}, [&now] { return now; });
  for (int s = 0; s < 60; ++s) {
    now = kStart + seconds(s);
    recorder.observe(observation(now, static_cast<std::uint64_t>(s + 1) * 800 * kMiB / 60),
                     analysis::Level::kNormal);
  }
  for (auto t = kStart + seconds(60); t < kStart + hours(48); t += minutes(1)) {
    now = t;
    recorder.observe(observation(now, 300 * kMiB), analysis::Level::kNormal);
    if ((t - kStart) % hours(1) == seconds(60)) recorder.sample(gpu_sample(now, 20 * kGiB));
  }
  recorder.flush();
  return path;
}

TEST(RecommendFromHistory, TextAndJsonFromARecordedHistory) {
  TempTree tmp;
  const auto db = write_history(tmp.path("history.db"));

  const auto text = run_memopt({"recommend", "--from-history", db, "--model", "vad"});
  ASSERT_EQ(text.exit_code, 0) << text.err << text.out;
  // Steady: both daily peaks at 300 MiB -> bucket 19, ending at 330 659 541 B; + 15% = 363 MiB.
  EXPECT_THAT(text.out, HasSubstr("steady state 2 interval peak(s) of 24 h"));
  EXPECT_THAT(text.out, HasSubstr("target 363 MiB (p90 + 15%)"));
  // Load: the ramp to 800 MiB, + 15% = 920 MiB, which sets the figure.
  EXPECT_THAT(text.out, HasSubstr("load spike   1 load phase(s)"));
  EXPECT_THAT(text.out, HasSubstr("peak 800 MiB -> 920 MiB with 15%"));
  EXPECT_THAT(text.out, HasSubstr("OOM kills    none recorded"));
  EXPECT_THAT(text.out, HasSubstr("MIG 1g.35gb"));
  EXPECT_THAT(text.out,
              HasSubstr("the seed's table recommends 3.00 GiB for vad, 3.3× the 920 MiB"));
  EXPECT_THAT(text.out, HasSubstr("recommended  920 MiB (the load spike + 15%"));
  EXPECT_THAT(text.out, HasSubstr("medium confidence"));
  EXPECT_THAT(text.out, HasSubstr("docker:     --memory=920m --memory-swap=1840m"));
  EXPECT_THAT(text.out, HasSubstr("docker update --memory=920m --memory-swap=1840m CONTAINER"));
  EXPECT_THAT(text.out, HasSubstr("memory: 920Mi"));

  const auto json = run_memopt({"recommend", "--from-history", db, "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto doc = nlohmann::json::parse(json.out);
  EXPECT_EQ(doc["schema"], "memopt.history_recommendation/1");
  EXPECT_EQ(doc["recommended_bytes"], 920 * kMiB);
  EXPECT_EQ(doc["basis"], "load");
  EXPECT_EQ(doc["steady"]["target_bytes"], 380258473u);
  EXPECT_EQ(doc["steady"]["interval_peaks"].size(), 2u);
  EXPECT_EQ(doc["load"]["phases"][0]["peak_bytes"], 800 * kMiB);
  EXPECT_EQ(doc["gpus"][0]["peak_bytes"], 20 * kGiB);
  EXPECT_EQ(doc["gpus"][0]["mig_profile"], "1g.35gb");
  EXPECT_TRUE(doc["model"].is_null());
  EXPECT_EQ(doc["recommendation"]["docker_flags"], "--memory=920m --memory-swap=1840m");
  EXPECT_EQ(doc["recommendation"]["kubernetes"],
            "resources:\n  requests:\n    memory: 920Mi\n  limits:\n    memory: 920Mi\n");

  // PATH alone: the default database, found as `memopt history` finds it.
  const auto state = tmp.path("state");
  std::filesystem::create_directories(state);
  write_history(state + "/history.db");
  const auto by_default =
      run_memopt({"recommend", "--from-history", "--json"}, {"MEMOPT_STATE_DIR=" + state});
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  EXPECT_EQ(nlohmann::json::parse(by_default.out)["recommended_bytes"], 920 * kMiB);
}

TEST(RecommendFromHistory, AHistoryLimitedOnlyByTheHostIsNamed) {
  TempTree tmp;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  std::uint64_t total_kib = 0;
  meminfo >> key >> total_kib;
  ASSERT_EQ(key, "MemTotal:");
  const auto db = tmp.path("host.db");
  {
    TimePoint now = kStart;
    record::Recorder recorder(db, {}, [&now] { return now; });
    for (auto t = kStart; t < kStart + minutes(20); t += seconds(10)) {
      now = t;
      auto o = observation(now, 300 * kMiB);
      o.memory.limit_bytes = total_kib * 1024;
      recorder.observe(o, analysis::Level::kNormal);
    }
    recorder.flush();
  }
  const auto text = run_memopt({"recommend", "--from-history", db});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("NOTE         every recorded limit is this host's MemTotal"));
  const auto json = run_memopt({"recommend", "--from-history", db, "--json"});
  EXPECT_EQ(nlohmann::json::parse(json.out)["host_limit"], true);
  // The history written with a 2 GiB limit is not the host's.
  const auto container = write_history(tmp.path("history.db"));
  EXPECT_EQ(nlohmann::json::parse(
                run_memopt({"recommend", "--from-history", container, "--json"}).out)["host_limit"],
            false);
}

TEST(RecommendFromHistory, NoFigureWithoutEnoughHistory) {
  TempTree tmp;
  const auto empty = tmp.path("empty.db");
  { record::Recorder(empty, {}).flush(); }
  const auto nothing = run_memopt({"recommend", "--from-history", empty});
  EXPECT_EQ(nothing.exit_code, 3);
  EXPECT_THAT(nothing.out, HasSubstr("no recommendation: nothing recorded"));
  EXPECT_THAT(nothing.out, Not(HasSubstr("--memory=")));

  const auto short_db = tmp.path("short.db");
  {
    TimePoint now = kStart;
    record::Recorder recorder(short_db, {}, [&now] { return now; });
    for (int s = 0; s < 300; ++s) {
      now = kStart + seconds(s);
      recorder.observe(observation(now, 300 * kMiB), analysis::Level::kNormal);
    }
    recorder.flush();
  }
  const auto little = run_memopt({"recommend", "--from-history", short_db, "--model", "vad"});
  EXPECT_EQ(little.exit_code, 3);
  EXPECT_THAT(little.out, HasSubstr("too little history: 300 observation(s) over 299 s"));
  EXPECT_THAT(little.out, HasSubstr("the seed's table recommends 3.00 GiB for vad (not measured)"));
  const auto little_json = run_memopt({"recommend", "--from-history", short_db, "--json"});
  EXPECT_EQ(little_json.exit_code, 3);
  const auto doc = nlohmann::json::parse(little_json.out);
  EXPECT_TRUE(doc["recommended_bytes"].is_null());
  EXPECT_TRUE(doc["recommendation"].is_null());
  EXPECT_THAT(doc["why_none"].get<std::string>(), HasSubstr("too little history"));
}

TEST(RecommendFromHistory, BadDatabasesAndFlags) {
  TempTree tmp;
  const auto missing = run_memopt({"recommend", "--from-history", tmp.path("missing.db")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr(tmp.path("missing.db") + ": no such file"));

  const auto junk = tmp.write("junk.db", std::string(8192, 'x'));
  const auto corrupt = run_memopt({"recommend", "--from-history", junk});
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_THAT(corrupt.err, HasSubstr(junk));
  EXPECT_THAT(corrupt.err, HasSubstr("not a database"));

  const auto db = write_history(tmp.path("history.db"));
  EXPECT_EQ(run_memopt({"recommend", "--from-history", db, "--since", "yesterday"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"recommend", "--json"}).exit_code, 2);  // --json needs --from-history
  EXPECT_EQ(run_memopt({"recommend", "--from-history", db, "--from-run", db}).exit_code, 2);
  // --since after the whole (2026-11-01) history: nothing in it, no figure.
  const auto recent = run_memopt({"recommend", "--from-history", db, "--since", "1h"});
  EXPECT_EQ(recent.exit_code, 3);
  EXPECT_THAT(recent.out, HasSubstr("nothing recorded"));
}

}  // namespace
}  // namespace memopt::testing
