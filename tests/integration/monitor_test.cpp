// `memopt monitor` against the real kernel: an alert within a second of a threshold crossing
// with a 60 s report interval, the level falling back, and a real OOM kill.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "support/cgroup.hpp"
#include "support/run.hpp"

namespace memopt::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::uint64_t kMiB = 1 << 20;
const std::vector<std::string> kNoGpu{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};

/// The next JSON line of `type` (and event name and level, if given), or null after
/// `timeout_ms`.
nlohmann::json next(Background& monitor, std::string_view type, std::string_view event,
                    int timeout_ms, std::string_view level = {}) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const auto line = monitor.read_line(static_cast<int>(left));
    if (!line) break;
    auto doc = nlohmann::json::parse(*line);
    if (doc["type"] == type && (event.empty() || doc["event"] == event) &&
        (level.empty() || doc["level"] == level)) {
      return doc;
    }
  }
  return nullptr;
}

std::unique_ptr<Background> monitor_inside(const TestCgroup& cgroup, const std::string& interval) {
  auto argv = cgroup.enter_command();
  argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", interval, "--json"});
  return std::make_unique<Background>(argv, kNoGpu);
}

TEST(Monitor, AlertsWithinASecondWhateverTheInterval) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(1024 * kMiB);
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(300));

  auto monitor = monitor_inside(*cgroup, "60");
  const auto first = next(*monitor, "sample", "", 10'000);
  ASSERT_FALSE(first.is_null()) << "no first sample";
  EXPECT_EQ(first["memory"]["scope"], "container");
  EXPECT_EQ(first["status"]["level"], "normal");

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    // 84% of the limit: warning. The monitor may see the growth pass through acceptable
    // (70%) on the way; the crossing of 80% happens before hold() returns, so the time from
    // its return is a bound on the alert latency from below as well as from above.
    ASSERT_TRUE(holder.hold(860));
    const auto crossed = Clock::now();
    const auto up = next(*monitor, "event", "level_changed", 3'000, "warning");
    const auto latency = Clock::now() - crossed;
    ASSERT_FALSE(up.is_null()) << "no level_changed event to warning";
    EXPECT_GE(up["memory"]["used_percent"].get<double>(), 80.0);
    EXPECT_LT(latency, std::chrono::seconds(1));

    ASSERT_TRUE(holder.hold(100));
    const auto down = next(*monitor, "event", "level_changed", 3'000, "normal");
    ASSERT_FALSE(down.is_null()) << "the level did not fall back";
    EXPECT_LT(down["memory"]["used_percent"].get<double>(), 68.0);
  }
  // Ends cleanly on SIGTERM with a summary line.
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
}

TEST(Monitor, SurvivesARealOomKillAndReportsIt) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(256 * kMiB);
  auto monitor = monitor_inside(*cgroup, "60");
  ASSERT_FALSE(next(*monitor, "sample", "", 10'000).is_null());

  {
    Holder holder;
    cgroup->add(holder.pid());
    EXPECT_FALSE(holder.hold(400));  // the OOM killer takes the holder, not the monitor
  }
  const auto oom = next(*monitor, "event", "oom_kill", 5'000);
  ASSERT_FALSE(oom.is_null()) << "no oom_kill event";
  EXPECT_GE(oom["count"].get<int>(), 1);
  if (!oom["victims"].empty()) EXPECT_EQ(oom["victims"][0]["name"], "memopt_test_hol");
  // Still alive and sampling.
  EXPECT_EQ(::kill(monitor->pid(), 0), 0);
  EXPECT_EQ(monitor->stop(SIGINT), 0);
}

}  // namespace
}  // namespace memopt::testing
