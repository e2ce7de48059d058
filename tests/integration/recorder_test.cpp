// The flight recorder against the real kernel: a process in a memory cgroup grows until the
// OOM killer takes it, and the post-mortem names it with the growth the test made; the page
// renders in headless Chromium with the kill marked; a `kill -9` of the monitor mid-write
// leaves a sound database whose history goes on after a restart.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "memopt/record/sqlite.hpp"
#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

const std::vector<std::string> kNoGpu{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};

/// The next event `event`, or null after `timeout_ms`; a recording failure fails the test.
nlohmann::json next_event(Background& monitor, std::string_view event, int timeout_ms) {
  auto doc = next_json_line(
      monitor,
      [&](const nlohmann::json& line) {
        return line.value("type", "") == "event" &&
               (line.value("event", "") == event || line.value("event", "") == "recording_failed");
      },
      timeout_ms);
  if (!doc.is_null() && doc["event"] == "recording_failed") {
    ADD_FAILURE() << doc.dump();
    return nullptr;
  }
  return doc;
}

/// The first sample line, or null.
nlohmann::json first_sample(Background& monitor) {
  return next_json_line(monitor, "sample", {}, 60'000);
}

TEST(Recorder, PostmortemOfARealOomKillNamesTheVictimAndItsGrowth) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(256 * kMiB);
  TempTree tmp;
  const std::string state = tmp.mkdir("state");
  // The monitor watches the cgroup from outside it: the kill takes the holder, never memopt.
  auto monitor = std::make_unique<Background>(
      std::vector<std::string>{MEMOPT_BINARY, "monitor", "1", "--json", "--cgroup", cgroup->dir(),
                               "--record=" + state},
      kNoGpu);
  ASSERT_FALSE(first_sample(*monitor).is_null()) << "no first sample";

  // Grows by 40 MiB every 2.5 s (two or more full samples at each step), then asks for more
  // than the limit.
  const std::vector<unsigned> steps{40, 80, 120, 160};
  int victim = 0;
  {
    Holder holder;
    victim = holder.pid();
    cgroup->add(holder.pid());
    for (const unsigned mib : steps) {
      ASSERT_TRUE(holder.hold(mib));
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    }
    EXPECT_FALSE(holder.hold(400));  // the OOM killer takes the holder
  }
  ASSERT_FALSE(next_event(*monitor, "oom_kill", 10'000).is_null()) << "no oom_kill event";
  const auto written = next_event(*monitor, "postmortem", 10'000);
  ASSERT_FALSE(written.is_null()) << "no postmortem event";
  EXPECT_EQ(monitor->stop(SIGTERM), 0);

  const auto run = run_memopt({"postmortem", "--db", state, "--last", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto pm = nlohmann::json::parse(run.out);
  EXPECT_EQ(pm["schema"], "memopt.postmortem/1");
  EXPECT_EQ(pm["kind"], "oom_kill");
  EXPECT_EQ(pm["limit_bytes"], 256 * kMiB);
  ASSERT_FALSE(pm["victims"].empty()) << "the kernel log did not name the victim: " << run.out;
  EXPECT_EQ(pm["victims"][0]["pid"], victim);
  EXPECT_EQ(pm["victims"][0]["name"], "memopt_test_hol");
  EXPECT_TRUE(pm["victims"][0]["sampled"].get<bool>());

  // Its series holds every step the test made, RSS within a few MiB (the program's own pages).
  const nlohmann::json* series = nullptr;
  for (const auto& p : pm["processes"]) {
    if (p["pid"] == victim) series = &p["series"];
  }
  ASSERT_NE(series, nullptr) << "the victim is not among the processes";
  for (const unsigned mib : steps) {
    bool seen = false;
    for (const auto& s : *series) {
      const double rss = s["rss_bytes"].get<double>() / static_cast<double>(kMiB);
      if (rss >= mib && rss <= mib + 8) seen = true;
    }
    EXPECT_TRUE(seen) << "no sample near " << mib << " MiB in " << series->dump();
  }
  const double growth = pm["victims"][0]["growth_bytes"].get<double>() / static_cast<double>(kMiB);
  EXPECT_GE(growth, 120 - 8);
  EXPECT_LE(growth, 256);
  EXPECT_GT(pm["victims"][0]["bytes_per_second"].get<double>(), 0);
  // The JSON file beside the database is the same document.
  bool beside = false;
  for (const auto& entry : std::filesystem::directory_iterator(state)) {
    const auto name = entry.path().filename().string();
    if (name.starts_with("postmortem-") && name.ends_with(".json")) {
      beside = nlohmann::json::parse(slurp(entry.path().string())) == pm;
    }
  }
  EXPECT_TRUE(beside) << "no post-mortem JSON beside the database";

  // The text says who was killed and what would have prevented it.
  const auto text = run_memopt({"postmortem", "--db", state, "--last"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Killed: memopt_test_hol (pid " + std::to_string(victim) + ")"),
            std::string::npos)
      << text.out;
  // A staircase, then 400 MiB at once: usually a spike between samples (the kernel's peak is
  // the limit, the samples stopped near 160 MiB); a sample may catch the last rise, which then
  // reads as growth to the end. Either way: never the 256 MiB limit that failed as the cure.
  if (pm["prevention"]["limit_bytes"].is_number()) {
    EXPECT_GT(pm["prevention"]["limit_bytes"].get<std::uint64_t>(), 256 * kMiB);
    EXPECT_NE(text.out.find("What would have prevented it: a limit of at least"), std::string::npos)
        << text.out;
  } else {
    EXPECT_EQ(pm["classification"]["class"], "unbounded_growth") << pm["classification"].dump();
    EXPECT_NE(text.out.find("What would have prevented it: no larger limit."), std::string::npos)
        << text.out;
  }

  // The page, in a real headless Chromium, draws the chart and marks the kill.
  if (chromium() == nullptr) {
    GTEST_SKIP() << "chromium is not installed (scripts/setup.sh installs it)";
  }
  const auto page = tmp.path("postmortem.html");
  const auto html = run_memopt({"postmortem", "--db", state, "--last", "--html", page});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  EXPECT_EQ(slurp(page).find("<script src="), std::string::npos);
  auto dump = headless_chromium(tmp.path("profile"));
  dump.insert(dump.end(), {"--dump-dom", "file://" + page});
  const auto dom = run_command(dump);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  EXPECT_NE(dom.out.find("data-rendered=\"yes\""), std::string::npos) << "the script did not end";
  EXPECT_NE(dom.out.find("data-kill-marked=\"yes\""), std::string::npos)
      << "the kill is not marked";
  EXPECT_NE(dom.out.find("<canvas"), std::string::npos) << "no chart";
  EXPECT_NE(dom.out.find("memopt_test_hol (pid " + std::to_string(victim) + ")"),
            std::string::npos);
  const std::filesystem::path artifacts = std::filesystem::path(MEMOPT_ARTIFACTS);
  std::filesystem::create_directories(artifacts);
  auto shot = headless_chromium(tmp.path("profile2"));
  shot.insert(shot.end(),
              {"--window-size=1200,900", "--screenshot=" + (artifacts / "postmortem.png").string(),
               "file://" + page});
  (void)run_command(shot);
}

TEST(Recorder, PostmortemOfARealLeakPromisesNoLimitAndNamesTheGrower) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "postmortem-leak");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(256 * kMiB);
  TempTree tmp;
  const std::string state = tmp.mkdir("state");
  auto monitor = std::make_unique<Background>(
      std::vector<std::string>{MEMOPT_BINARY, "monitor", "1", "--json", "--cgroup", cgroup->dir(),
                               "--record=" + state},
      kNoGpu);
  ASSERT_FALSE(first_sample(*monitor).is_null()) << "no first sample";
  // A steady leak: 16 MiB every half second until the OOM killer takes it (about 8 s).
  int victim = 0;
  {
    Holder holder;
    victim = holder.pid();
    cgroup->add(holder.pid());
    bool alive = true;
    for (unsigned mib = 16; alive && mib <= 1024; mib += 16) {
      alive = holder.hold(mib);
      if (alive) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_FALSE(alive) << "the leak outgrew 256 MiB without an OOM kill";
  }
  ASSERT_FALSE(next_event(*monitor, "oom_kill", 10'000).is_null()) << "no oom_kill event";
  ASSERT_FALSE(next_event(*monitor, "postmortem", 10'000).is_null()) << "no postmortem event";
  EXPECT_EQ(monitor->stop(SIGTERM), 0);

  const auto run = run_memopt({"postmortem", "--db", state, "--last", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto pm = nlohmann::json::parse(run.out);
  const auto& c = pm["classification"];
  EXPECT_EQ(c["class"], "unbounded_growth") << c.dump();
  EXPECT_TRUE(pm["prevention"]["limit_bytes"].is_null()) << pm["prevention"].dump();
  ASSERT_TRUE(pm["prevention"].contains("grower")) << pm["prevention"].dump();
  EXPECT_EQ(pm["prevention"]["grower"]["pid"], victim);
  // 32 MiB/s while it grew (the holder's own pace, within what sampling blurs).
  const double rate = pm["prevention"]["bytes_per_second"].get<double>() / kMiB;
  EXPECT_GT(rate, 16);
  EXPECT_LT(rate, 64);
  const auto text = run_memopt({"postmortem", "--db", state, "--last"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("What would have prevented it: no larger limit."), std::string::npos)
      << text.out;
  EXPECT_EQ(text.out.find("a limit of at least"), std::string::npos) << text.out;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Recorder, KillNineMidWriteThenARestartKeepsASoundContinuousHistory) {
  TempTree tmp;
  const std::string db_path = tmp.path("state/history.db");
  const std::vector<std::string> argv{
      MEMOPT_BINARY, "monitor", "1", "--json", "--cgroup", "/", "--record=" + db_path};
  std::int64_t killed_at = 0;
  {
    Background monitor(argv, kNoGpu);
    ASSERT_FALSE(first_sample(monitor).is_null());
    std::this_thread::sleep_for(std::chrono::milliseconds(3300));  // mid-batch, mid-sample
    killed_at = now_ms();
    EXPECT_EQ(monitor.stop(SIGKILL), 128 + SIGKILL);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const auto restarted_at = now_ms();
  {
    Background monitor(argv, kNoGpu);
    ASSERT_FALSE(first_sample(monitor).is_null());
    std::this_thread::sleep_for(std::chrono::seconds(3));
    EXPECT_EQ(monitor.stop(SIGTERM), 0);
  }
  record::Database db(db_path, false);
  EXPECT_EQ(db.scalar_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(db.scalar("PRAGMA user_version"), 1);
  // What was written before the kill is there up to its last second.
  const auto last_before =
      db.scalar(fmt::format("SELECT max(t) FROM observations WHERE t < {}", restarted_at));
  EXPECT_GE(last_before, killed_at - 2000) << "more than the last second was lost";
  // The history goes on: the gap is no longer than the downtime (and a second).
  const auto first_after =
      db.scalar(fmt::format("SELECT min(t) FROM observations WHERE t >= {}", restarted_at));
  ASSERT_GT(first_after, 0);
  EXPECT_LE(first_after - last_before, (restarted_at - killed_at) + 3000);
  auto s =
      db.prepare(fmt::format("SELECT t FROM observations WHERE t >= {} ORDER BY t", restarted_at));
  std::int64_t previous = 0;
  int rows = 0;
  while (s.step()) {
    if (previous != 0) {
      EXPECT_LE(s.integer(0) - previous, 1500) << "a hole after the restart";
    }
    previous = s.integer(0);
    ++rows;
  }
  EXPECT_GE(rows, 2);
  EXPECT_GE(db.scalar("SELECT count(*) FROM samples"), 4);
}

}  // namespace
}  // namespace memopt::testing
