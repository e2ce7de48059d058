// `memopt monitor` against the real kernel: an alert within a second of a threshold crossing
// with a 60 s report interval, the level falling back, and a real OOM kill.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "memopt/sys/notify.hpp"
#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using Clock = std::chrono::steady_clock;
const std::vector<std::string> kNoGpu{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};

std::unique_ptr<Background> monitor_inside(const TestCgroup& cgroup, const std::string& interval,
                                           const std::vector<std::string>& more = {}) {
  auto argv = cgroup.enter_command();
  argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", interval, "--json"});
  argv.insert(argv.end(), more.begin(), more.end());
  return std::make_unique<Background>(argv, kNoGpu);
}

/// The advice entry `id` of a sample, or null.
nlohmann::json advice(const nlohmann::json& sample, std::string_view id) {
  for (const auto& a : sample["advice"]) {
    if (a["id"] == id) return a;
  }
  return nullptr;
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
  const auto first = next_json_line(*monitor, "sample", "", 10'000);
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
    const auto up = next_json_line(*monitor, "event", "level_changed", 3'000, "warning");
    const auto latency = Clock::now() - crossed;
    ASSERT_FALSE(up.is_null()) << "no level_changed event to warning";
    EXPECT_GE(up["memory"]["used_percent"].get<double>(), 80.0);
    EXPECT_LT(latency, std::chrono::seconds(1));

    ASSERT_TRUE(holder.hold(100));
    const auto down = next_json_line(*monitor, "event", "level_changed", 3'000, "normal");
    ASSERT_FALSE(down.is_null()) << "the level did not fall back";
    EXPECT_LT(down["memory"]["used_percent"].get<double>(), 68.0);
  }
  // Ends cleanly on SIGTERM with a summary line.
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
}

/// How many read(2)-family calls `pid` has made (/proc/PID/io's syscr).
std::optional<std::uint64_t> reads_made(pid_t pid) {
  std::ifstream io("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  std::uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "syscr:") return value;
  }
  return std::nullopt;
}

TEST(Monitor, WhileCalmItReadsNothingBetweenSamplesYetAlertsAndStopsAtOnce) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  if (cgroup->version() != 1) GTEST_SKIP() << "calm sleeps need v1 usage thresholds";
  if (!sys::on_pressure_filesystem("/proc/pressure/memory")) {
    GTEST_SKIP() << "no host PSI to guard a calm sleep with";
  }
  cgroup->set_limit(1024 * kMiB);
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(100));

  auto monitor = monitor_inside(*cgroup, "60");
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null()) << "no first sample";
  // Awake, the quick readings alone make 16 reads a second (4 readings of 4 files); calm, the
  // monitor sleeps on its eventfds until the next full sample a minute away. A stall of the
  // host's may wake it for one reading.
  const auto before = reads_made(monitor->pid());
  ASSERT_TRUE(before) << "cannot read /proc/" << monitor->pid() << "/io";
  std::this_thread::sleep_for(std::chrono::seconds(3));
  const auto after = reads_made(monitor->pid());
  ASSERT_TRUE(after);
  EXPECT_LT(*after - *before, 12U) << "the calm monitor kept reading";

  // A crossing wakes it from that sleep.
  ASSERT_TRUE(holder.hold(860));
  const auto up = next_json_line(*monitor, "event", "level_changed", 3'000, "warning");
  ASSERT_FALSE(up.is_null()) << "no level_changed event to warning from a calm sleep";
  ASSERT_TRUE(holder.hold(100));
  ASSERT_FALSE(next_json_line(*monitor, "event", "level_changed", 5'000, "normal").is_null());

  // Calm again, a signal ends the sleep: it is read at once, not at the next sample.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const auto asked = Clock::now();
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
  EXPECT_LT(Clock::now() - asked, std::chrono::seconds(10)) << "SIGTERM waited for the sample";
}

TEST(Monitor, SurvivesARealOomKillAndReportsIt) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(256 * kMiB);
  auto monitor = monitor_inside(*cgroup, "60");
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null());

  {
    Holder holder;
    cgroup->add(holder.pid());
    EXPECT_FALSE(holder.hold(400));  // the OOM killer takes the holder, not the monitor
  }
  const auto oom = next_json_line(*monitor, "event", "oom_kill", 5'000);
  ASSERT_FALSE(oom.is_null()) << "no oom_kill event";
  EXPECT_GE(oom["count"].get<int>(), 1);
  // The victim's name comes from the kernel log, which only a reader of /dev/kmsg sees.
  if (::access("/dev/kmsg", R_OK) == 0) {
    ASSERT_FALSE(oom["victims"].empty()) << oom.dump();
    EXPECT_EQ(oom["victims"][0]["name"], "memopt_test_hol");
  }
  // Still alive and sampling.
  EXPECT_EQ(::kill(monitor->pid(), 0), 0);
  EXPECT_EQ(monitor->stop(SIGINT), 0);
}

TEST(Monitor, AutoCleanupRunsOnceAndNotAgainWithinTheCooldown) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  // 512 MiB: warning (above 80%) lies well before danger (under 50 MiB available); at 256 MiB
  // the two are 0.5% apart and a fast holder passes warning unseen.
  cgroup->set_limit(512 * kMiB);
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(50));

  // The default cooldown (300 s) outlasts the test.
  auto monitor = monitor_inside(*cgroup, "60", {"--auto-cleanup", "warning"});
  const auto first = next_json_line(*monitor, "sample", "", 10'000);
  ASSERT_FALSE(first.is_null()) << "no first sample";
  ASSERT_EQ(first["memory"]["scope"], "container");

  // The waits below bound how long a loaded machine may take; the alert latency itself is
  // measured in bench/monitor_bench.sh, never asserted here.
  ASSERT_TRUE(holder.hold(430));  // 84%: warning, 80 MiB available
  ASSERT_FALSE(next_json_line(*monitor, "event", "level_changed", 10'000, "warning").is_null());
  const auto cleanup = next_json_line(*monitor, "event", "cleanup", 40'000);
  ASSERT_FALSE(cleanup.is_null()) << "no cleanup event";
  EXPECT_EQ(cleanup["level"], "warning");
  EXPECT_TRUE(cleanup["released_bytes"].is_number_integer()) << cleanup;
  EXPECT_FALSE(cleanup["steps"].empty()) << cleanup;
  EXPECT_GE(cleanup["memory"]["used_percent"].get<double>(), 80.0);
  // Anonymous memory without swap cannot be reclaimed: the holder's memory stays.
  EXPECT_EQ(::kill(holder.pid(), 0), 0);

  // Down and up again within the cooldown: a new level change, no new cleanup.
  ASSERT_TRUE(holder.hold(50));
  ASSERT_FALSE(next_json_line(*monitor, "event", "level_changed", 10'000, "normal").is_null());
  ASSERT_TRUE(holder.hold(430));
  ASSERT_FALSE(next_json_line(*monitor, "event", "level_changed", 10'000, "warning").is_null());
  EXPECT_TRUE(next_json_line(*monitor, "event", "cleanup", 5'000).is_null()) << "a second cleanup";

  EXPECT_EQ(monitor->stop(SIGTERM), 0);
  const auto summary = next_json_line(*monitor, "summary", "", 2'000);
  ASSERT_FALSE(summary.is_null());
  EXPECT_EQ(summary["events"]["cleanup"], 1);
}

TEST(Monitor, RegistersAPsiTriggerOnRealPressureOrSaysWhyNot) {
  std::string problem;
  const sys::PsiTrigger probe("/proc/pressure/memory", "some", 10,
                              std::chrono::microseconds(1'000'000), problem);
  if (!probe.active()) GTEST_SKIP() << "no PSI triggers on this kernel: " << problem;
  // The kernel takes a 1 s window only with CAP_SYS_RESOURCE; without it, 2 s (Linux 6.5+).
  EXPECT_TRUE(probe.spec() == "some 100000 1000000" || probe.spec() == "some 200000 2000000")
      << probe.spec();

  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(512 * kMiB);
  auto monitor = monitor_inside(*cgroup, "60");
  const auto first = next_json_line(*monitor, "sample", "", 10'000);
  ASSERT_FALSE(first.is_null()) << "no first sample";
  const auto on = advice(first, "pressure_trigger");
  const auto off = advice(first, "no_pressure_trigger");
  ASSERT_NE(on.is_null(), off.is_null()) << first["advice"];
  if (first["cgroup"]["version"] == 1 && first["cgroup"]["pressure"].is_null()) {
    // A v1 cgroup whose v2 twin is another cgroup: the host's pressure is not this one's.
    ASSERT_FALSE(off.is_null()) << on;
    EXPECT_NE(off["message"].get<std::string>().find("host's is not this container's"),
              std::string::npos)
        << off;
  } else {
    ASSERT_FALSE(on.is_null()) << off;
    EXPECT_NE(on["message"].get<std::string>().find("memory.pressure"), std::string::npos) << on;
  }
}

/// Whether `path` is on a disk (not tmpfs): its page cache can be evicted and read back.
bool on_disk(const std::string& path) {
  const auto mounts = run_command({"stat", "-f", "-c", "%T", path});
  return mounts.exit_code == 0 && mounts.out.find("tmpfs") == std::string::npos;
}

/// The host's "some" memory stall average over 10 s, in percent (nullopt: unreadable).
std::optional<double> host_some_avg10() {
  std::ifstream file("/proc/pressure/memory");
  std::string kind;
  std::string avg10;
  if (!(file >> kind >> avg10) || kind != "some" || avg10.rfind("avg10=", 0) != 0) {
    return std::nullopt;
  }
  return std::stod(avg10.substr(6));
}

TEST(Monitor, APsiTriggerFiresAPressureEventOnRealStalls) {
  std::string problem;
  const sys::PsiTrigger probe("/proc/pressure/memory", "some", 1,
                              std::chrono::microseconds(1'000'000), problem);
  if (!probe.active()) GTEST_SKIP() << "no PSI triggers on this kernel: " << problem;
  const std::string dir = MEMOPT_ARTIFACTS;
  ASSERT_EQ(run_command({"mkdir", "-p", dir}).exit_code, 0);
  if (!on_disk(dir)) GTEST_SKIP() << dir << " is not on a disk: no page cache to thrash";
  std::string why_not;
  const auto thrash = TestCgroup::create(&why_not);
  if (!thrash) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;

  // A host already stalling when the monitor starts gives its one pressure event at once, and
  // the event re-arms only once the average falls below half the threshold: wait for a calm host.
  const auto calm_by = Clock::now() + std::chrono::seconds(60);
  while (host_some_avg10().value_or(0) >= 0.5 && Clock::now() < calm_by) ::usleep(500'000);
  if (const auto now = host_some_avg10(); now && *now >= 0.5) {
    GTEST_SKIP() << "the host stalls on memory already (some avg10 " << *now
                 << "%): a new pressure event could not be told from the old";
  }

  // The monitor watches the host (this test's own cgroup, not a limited child), with
  // thresholds of 1%: the trigger is 10 ms of stalls per second. Only the "some" trigger: on a
  // busy machine the host's "full" stalls can cross any threshold first.
  const std::string config = dir + "/psi-trigger-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(config) << "[pressure]\nsome_avg10 = 1\nfull_avg10 = 0\n";
  Background monitor({MEMOPT_BINARY, "monitor", "60", "--json", "--config", config}, kNoGpu);
  const auto first = next_json_line(monitor, "sample", "", 10'000);
  ASSERT_FALSE(first.is_null()) << "no first sample";
  const auto on = advice(first, "pressure_trigger");
  if (on.is_null()) {
    GTEST_SKIP() << "the monitor registered no trigger here: "
                 << advice(first, "no_pressure_trigger");
  }

  // Page cache thrash in a 32 MiB cgroup: reading 128 MiB in a loop refaults pages the
  // cgroup's own reclaim just evicted, and the kernel counts those reads as memory stalls.
  const std::string file = dir + "/psi-trigger-" + std::to_string(::getpid()) + ".bin";
  // Written through to disk first: dirty pages cannot be dropped, and pages still cached
  // (charged to this test's cgroup) would be read without a refault, without a stall.
  ASSERT_EQ(run_command({"dd", "if=/dev/zero", "of=" + file, "bs=1M", "count=128", "conv=fsync"})
                .exit_code,
            0);
  ASSERT_EQ(run_command({"dd", "if=" + file, "iflag=nocache", "count=0"}).exit_code, 0);
  thrash->set_limit(32 * kMiB);
  auto argv = thrash->enter_command();
  argv.insert(argv.end(), {"sh", "-c", "while :; do cat \"$0\" > /dev/null || exit 1; done", file});
  nlohmann::json pressure;
  // The kernel updates avg10 every 2 s and checks a trigger once per window: a burst of stalls
  // can cross both in the same instant, and the averages' event then is the episode's one
  // (1 of the 4 full suites run here on 2026-12-06; 2 of 7 runs under parallel builds). Such a
  // run is thrashed again once the host is calm and the monitor has seen it calm: the event
  // re-arms at a reading under half the threshold (0.5%), read once a second, and a trigger
  // that fires while it is not re-armed is not an event (this race failed all three attempts
  // of a CI run when the thrash began the moment the test, not the monitor, saw 0.49%). A
  // trigger that never fires fails every attempt.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      const auto calm_again = Clock::now() + std::chrono::seconds(60);
      while (host_some_avg10().value_or(0) >= 0.25 && Clock::now() < calm_again) ::usleep(500'000);
      // Two of the monitor's pressure readings, and past the trigger's 10 s re-fire wait.
      ::sleep(3);
    }
    {
      Background reader(argv);
      pressure = next_json_line(monitor, "event", "pressure", 20'000);
    }
    if (pressure.is_null() || pressure.contains("trigger")) break;
  }
  ::unlink(file.c_str());
  ::unlink(config.c_str());
  ASSERT_FALSE(pressure.is_null()) << "no pressure event while thrashing";
  ASSERT_TRUE(pressure.contains("trigger")) << pressure;
  EXPECT_EQ(pressure["trigger"].get<std::string>().rfind("some ", 0), 0u) << pressure;
  EXPECT_EQ(monitor.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace memopt::testing
