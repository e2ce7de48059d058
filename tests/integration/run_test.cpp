// `memopt run` against the real kernel: a fresh child cgroup with a limit, real OOM kills,
// exit codes and signals passed through, and the cgroup gone afterwards.
#include "support/run.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

/// Skips the test where this machine cannot create memory cgroups.
#define REQUIRE_CGROUPS()                                                              \
  do {                                                                                 \
    std::string why_not;                                                               \
    if (!TestCgroup::create(&why_not)) GTEST_SKIP() << "no cgroups here: " << why_not; \
  } while (false)

/// Child cgroups named memopt-run-* anywhere below this process's memory cgroup.
std::vector<std::string> leftover_run_cgroups() {
  std::vector<std::string> found;
  for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup"}) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_directory() && it->path().filename().string().rfind("memopt-run-", 0) == 0) {
        found.push_back(it->path().string());
      }
      if (it.depth() > 6) it.disable_recursion_pending();
    }
  }
  return found;
}

std::string fmt_path(int pid) { return "/proc/" + std::to_string(pid) + "/oom_score_adj"; }

std::string slurp_if_exists(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

nlohmann::json run_json(const std::vector<std::string>& args, int expected_exit) {
  TempTree tmp;
  std::vector<std::string> argv{"run", "--json", "--output", tmp.path("run.json")};
  argv.insert(argv.end(), args.begin(), args.end());
  const auto result = run_memopt(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  EXPECT_EQ(result.exit_code, expected_exit) << result.err;
  return nlohmann::json::parse(slurp(tmp.path("run.json")));
}

TEST(Run, MeasuresAHolderUnderALimitAndRecommendsBySixtyPercent) {
  REQUIRE_CGROUPS();
  const auto run = run_json({"--limit", "1G", "--", MEMOPT_HOLDER, "300", "1500"}, 0);
  EXPECT_EQ(run["exit_code"], 0);
  EXPECT_TRUE(run["signal"].is_null());
  EXPECT_FALSE(run["oom_killed"].get<bool>());
  EXPECT_TRUE(run["limit_applied"].get<bool>());
  EXPECT_EQ(run["limit_bytes"].get<std::uint64_t>(), 1024 * kMiB);
  const auto peak = run["peak_bytes"].get<double>();
  EXPECT_GE(peak, 300 * kMiB * 0.9);
  EXPECT_LE(peak, 300 * kMiB * 1.1);
  EXPECT_GE(run["peak_rss_bytes"].get<double>(), 300 * kMiB * 0.95);
  EXPECT_GE(run["samples"].size(), 5u);
  // The smallest multiple of 256 MiB that keeps the peak at or below 60% of it.
  const auto memory = run["recommendation"]["memory_bytes"].get<std::uint64_t>();
  EXPECT_EQ(memory % (256 * kMiB), 0u);
  EXPECT_LE(peak, 0.6 * static_cast<double>(memory));
  EXPECT_GT(peak, 0.6 * static_cast<double>(memory - 256 * kMiB));
  EXPECT_EQ(run["recommendation"]["memory_swap_bytes"].get<std::uint64_t>(), 2 * memory);
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(Run, DetectsARealOomKill) {
  REQUIRE_CGROUPS();
  const auto run = run_json({"--limit", "256M", "--", MEMOPT_HOLDER, "400", "1000"}, 137);
  EXPECT_TRUE(run["oom_killed"].get<bool>());
  EXPECT_EQ(run["signal"], 9);
  EXPECT_EQ(run["exit_code"], 137);
  EXPECT_TRUE(run["recommendation"].is_null());
  EXPECT_TRUE(leftover_run_cgroups().empty());

  const auto text = run_memopt({"run", "--limit", "256M", "--", MEMOPT_HOLDER, "400", "1000"});
  EXPECT_EQ(text.exit_code, 137);
  EXPECT_NE(text.out.find("killed by the OOM killer at the 256 MiB limit"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("the true peak is unknown"), std::string::npos);
}

TEST(Run, PassesExitCodesAndSignalsThrough) {
  REQUIRE_CGROUPS();
  EXPECT_EQ(run_json({"--", "sh", "-c", "exit 3"}, 3)["exit_code"], 3);
  const auto killed = run_json({"--", "sh", "-c", "kill -TERM $$"}, 143);
  EXPECT_EQ(killed["signal"], 15);
  EXPECT_FALSE(killed["oom_killed"].get<bool>());
  EXPECT_EQ(run_memopt({"run", "--", "/nonexistent/command"}).exit_code, 127);
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(Run, ForwardsSigtermToTheCommand) {
  REQUIRE_CGROUPS();
  TempTree tmp;
  const std::string marker = tmp.path("got-term");
  std::thread killer([] {
    // memopt run is the only child of this test named memopt that runs `sleep 30`.
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    (void)run_command({"pkill", "-TERM", "-f", "^" MEMOPT_BINARY " run --"});
  });
  const auto result = run_memopt(
      {"run", "--", "sh", "-c", "trap 'touch " + marker + "; exit 42' TERM; sleep 30 & wait"});
  killer.join();
  EXPECT_EQ(result.exit_code, 42) << result.err;
  EXPECT_TRUE(std::filesystem::exists(marker));
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(Run, UsageErrors) {
  EXPECT_EQ(run_memopt({"run", "--limit", "lots", "--", "true"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"run", "--swap", "1G", "--", "true"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"run"}).exit_code, 2);
  EXPECT_EQ(run_memopt({"run", "--sample-ms", "0", "--", "true"}).exit_code, 2);
}

/// The spiky batch of issue 14: holds 150 MiB, with one 0.1 s spike to 280 MiB.
std::vector<std::string> spiky_command() {
  return {MEMOPT_HOLDER, "150", "800", "280", "250", "100"};
}

TEST(RunPeak, TheSpikyProgramIsNeverOomKilledUnderItsOwnRecommendation) {
  REQUIRE_CGROUPS();
  // Any sampling period, even one that sees no sample during the spike, gives the kernel's peak.
  int runs_under_recommendation = 0;
  for (const char* sample_ms : {"10", "100", "500", "5000"}) {
    SCOPED_TRACE(sample_ms);
    std::vector<std::string> args{"--sample-ms", sample_ms, "--"};
    const auto spiky = spiky_command();
    args.insert(args.end(), spiky.begin(), spiky.end());
    const auto run = run_json(args, 0);
    EXPECT_EQ(run["peak_source"], "kernel");
    EXPECT_GE(run["peak_bytes"].get<double>(), 280.0 * kMiB * 0.98) << run.dump(2);
    const auto memory = run["recommendation"]["memory_bytes"].get<std::uint64_t>();
    EXPECT_GE(memory, 512 * kMiB);
    // Then the recommendation, applied, must hold the program: several times.
    for (int i = 0; i < (std::string(sample_ms) == "500" ? 4 : 2); ++i) {
      std::vector<std::string> limited{"--limit", std::to_string(memory), "--sample-ms", sample_ms,
                                       "--"};
      limited.insert(limited.end(), spiky.begin(), spiky.end());
      const auto under = run_json(limited, 0);
      EXPECT_FALSE(under["oom_killed"].get<bool>()) << under.dump(2);
      EXPECT_EQ(under["exit_code"], 0);
      ++runs_under_recommendation;
    }
  }
  EXPECT_EQ(runs_under_recommendation, 10);
  // And the sampled-only figure would have failed it: a limit at 60% headroom over the
  // sampled 150 MiB (256 MiB) OOM-kills the same program.
  std::vector<std::string> small{"--limit", "256M", "--"};
  const auto spiky = spiky_command();
  small.insert(small.end(), spiky.begin(), spiky.end());
  EXPECT_TRUE(run_json(small, 137)["oom_killed"].get<bool>());
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

TEST(RunJson, TheCommandsStdoutGoesToStderrSoTheJsonStaysClean) {
  REQUIRE_CGROUPS();
  const auto result = run_memopt(
      {"run", "--json", "--", "sh", "-c", "echo hello-from-the-command; echo to-stderr >&2"},
      {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto run = nlohmann::json::parse(result.out);  // throws if anything else is mixed in
  EXPECT_EQ(run["schema"], "memopt.run/1");
  EXPECT_NE(result.err.find("hello-from-the-command"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("to-stderr"), std::string::npos);
  // `run --json -- CMD > file` then `recommend --from-run file`.
  TempTree tmp;
  const std::string file = tmp.write("run.json", result.out);
  const auto recommend = run_memopt({"recommend", "--from-run", file});
  EXPECT_EQ(recommend.exit_code, 0) << recommend.err;
  EXPECT_NE(recommend.out.find("--memory=256m --memory-swap=512m"), std::string::npos)
      << recommend.out;
  EXPECT_NE(recommend.out.find("the kernel's, spikes included"), std::string::npos);
  // Without --json the command's output stays on standard output.
  const auto text = run_memopt({"run", "--", "echo", "plain"});
  EXPECT_EQ(text.out.rfind("plain\n", 0), 0u) << text.out;
  EXPECT_NE(run_memopt({"run", "--help"}).out.find("goes to standard error"), std::string::npos);
}

TEST(RunLimits, LikelyTyposAreRefusedBeforeAnythingRuns) {
  TempTree tmp;
  const std::string marker = tmp.path("ran");
  const auto ten = run_memopt({"run", "--limit", "10", "--", "touch", marker});
  EXPECT_EQ(ten.exit_code, 2);
  EXPECT_NE(ten.err.find("'10' is 10 bytes, below the 6 MiB minimum"), std::string::npos)
      << ten.err;
  const auto zero = run_memopt({"run", "--limit", "0", "--", "touch", marker});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.err.find("a limit of 0 bytes"), std::string::npos) << zero.err;
  // --output that cannot be written is found before the command runs, not after.
  const auto output =
      run_memopt({"run", "--output", tmp.path("no/such/dir/run.json"), "--", "touch", marker});
  EXPECT_EQ(output.exit_code, 2);
  EXPECT_NE(output.err.find("--output"), std::string::npos) << output.err;
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST(RunLimits, KubernetesUnitsAndAboveMemTotal) {
  REQUIRE_CGROUPS();
  const auto run = run_json({"--limit", "1536Mi", "--", "true"}, 0);
  EXPECT_EQ(run["limit_bytes"].get<std::uint64_t>(), 1536 * kMiB);
  const auto huge = run_memopt({"run", "--limit", "1Ei", "--", "true"});
  EXPECT_EQ(huge.exit_code, 2);
  EXPECT_NE(huge.err.find("above this host's memory (MemTotal"), std::string::npos) << huge.err;
}

TEST(RunSpawn, NotExecutableIs126AndNotFoundIs127) {
  TempTree tmp;
  const std::string script = tmp.write("script.sh", "#!/bin/sh\nexit 0\n");  // mode 0644
  const auto denied = run_memopt({"run", "--", script});
  EXPECT_EQ(denied.exit_code, 126) << denied.err;
  EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
  EXPECT_EQ(run_memopt({"run", "--", tmp.path("missing")}).exit_code, 127);
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

bool process_gone(int pid) {
  // A zombie (reparented, not yet reaped) is as dead as a missing process.
  const auto stat = slurp_if_exists("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  const auto close = stat.rfind(')');
  return close != std::string::npos && stat.size() > close + 2 && stat[close + 2] == 'Z';
}

bool wait_gone(int pid) {
  for (int i = 0; i < 300; ++i) {
    if (process_gone(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(RunFaults, SigkillOfMemoptKillsTheCommandAndTheNextRunSweepsWhatIsLeft) {
  REQUIRE_CGROUPS();
  Background run({MEMOPT_BINARY, "run", "--", "sh", "-c", "sleep 300 & echo $$ $!; wait"},
                 {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  const auto line = run.read_line(5000);
  ASSERT_TRUE(line) << "the command did not start";
  int shell = 0;
  int grandchild = 0;
  ASSERT_EQ(std::sscanf(line->c_str(), "%d %d", &shell, &grandchild), 2) << *line;
  // Only this run's cgroup: other test processes may be running their own at the same time.
  // (leftover_run_cgroups() walks /sys/fs/cgroup/memory twice: directly and from the top.)
  std::set<std::string> found;
  for (const auto& dir : leftover_run_cgroups()) {
    if (dir.ends_with("/memopt-run-" + std::to_string(run.pid()))) found.insert(dir);
  }
  const std::vector<std::string> before(found.begin(), found.end());
  ASSERT_EQ(before.size(), 1u);
  EXPECT_EQ(run.stop(SIGKILL), 128 + SIGKILL);
  // PR_SET_PDEATHSIG: the direct child dies with memopt.
  EXPECT_TRUE(wait_gone(shell));
  // Its own child was reparented and still runs in the orphaned cgroup...
  EXPECT_FALSE(process_gone(grandchild));
  EXPECT_TRUE(std::filesystem::exists(before[0]));
  // ...until the next memopt run sweeps it.
  const auto next = run_memopt({"run", "--", "true"});
  EXPECT_EQ(next.exit_code, 0) << next.err;
  EXPECT_NE(next.err.find("removed " + before[0]), std::string::npos) << next.err;
  EXPECT_TRUE(wait_gone(grandchild));
  EXPECT_FALSE(std::filesystem::exists(before[0]));
}

TEST(RunFaults, SigtermEscalatesToSigkillAfterTheStopTimeout) {
  REQUIRE_CGROUPS();
  // The command (and the sleep it starts) ignores SIGTERM.
  Background run({MEMOPT_BINARY, "run", "--stop-timeout", "1", "--", "sh", "-c",
                  "trap '' TERM; echo ready; sleep 300"},
                 {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  ASSERT_TRUE(run.read_line(5000));
  EXPECT_EQ(run.stop(SIGTERM), 137);
  EXPECT_TRUE(leftover_run_cgroups().empty());
}

/// Puts memopt run into `parent`, a small container, beside `holder` (the neighbour).
RunResult run_in(const TestCgroup& parent, std::vector<std::string> args) {
  auto argv = parent.enter_command();
  argv.push_back(MEMOPT_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
}

TEST(RunNeighbours, ALimitTheContainerCannotGiveIsRefusedAndForcedKillsAreReported) {
  std::string why_not;
  const auto parent = TestCgroup::create(&why_not);
  if (!parent) GTEST_SKIP() << "no cgroups here: " << why_not;
  // The scene: a container with a model server (the holder) holding most of it.
  parent->set_limit(300 * kMiB);
  Holder neighbour;
  parent->add(neighbour.pid());
  ASSERT_TRUE(neighbour.hold(150));
  // Make the neighbour the OOM killer's choice, as a big model server would be.
  std::ofstream(fmt_path(neighbour.pid())) << "1000";

  const auto refused =
      run_in(*parent, {"run", "--limit", "512M", "--", MEMOPT_HOLDER, "200", "300"});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("is more than the"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("available to the command: cgroup"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos);
  ASSERT_TRUE(neighbour.hold(150)) << "the neighbour died during a refused run";

  TempTree tmp;
  const auto forced = run_in(*parent, {"run", "--force", "--limit", "512M", "--json", "--output",
                                       tmp.path("run.json"), "--", MEMOPT_HOLDER, "200", "300"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.err.find("Running anyway (--force)"), std::string::npos) << forced.err;
  EXPECT_NE(forced.err.find("outside the command were OOM-killed during the run"),
            std::string::npos)
      << forced.err;
  const auto run = nlohmann::json::parse(slurp(tmp.path("run.json")));
  EXPECT_FALSE(run["oom_killed"].get<bool>());
  EXPECT_TRUE(run["forced"].get<bool>());
  EXPECT_GE(run["other_oom_kills"].get<int>(), 1) << run.dump(2);
  // The neighbour is the one the kernel killed (writing to it now would raise SIGPIPE).
  EXPECT_TRUE(wait_gone(neighbour.pid()));
}

}  // namespace
}  // namespace memopt::testing

namespace memopt::testing {
namespace {

/// `memopt run ARGS...` as user nobody, who cannot create cgroups.
RunResult run_as_nobody(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"setpriv",        "--reuid=65534", "--regid=65534",
                                "--clear-groups", MEMOPT_BINARY,   "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
}

#define REQUIRE_NOBODY()                                                            \
  do {                                                                              \
    if (geteuid() != 0) GTEST_SKIP() << "needs root to drop to another user";       \
    if (::access(MEMOPT_BINARY, X_OK) != 0) GTEST_SKIP() << "binary not reachable"; \
  } while (false)

TEST(Run, ALimitThatCannotBeAppliedIsRefusedAndTheCommandNeverRuns) {
  REQUIRE_NOBODY();
  TempTree tmp;
  ::chmod(tmp.root().c_str(), 0777);
  const std::string marker = tmp.path("ran");
  const auto result = run_as_nobody({"--limit", "1G", "--", "touch", marker});
  if (result.exit_code == 126 || result.exit_code == 127)
    GTEST_SKIP() << "cannot run as nobody: " << result.err;
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find("--limit 1.00 GiB cannot be applied"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--force"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(marker)) << "the command ran without its limit";
}

TEST(Run, ForcedWithoutCgroupsItRunsUnconstrainedAndSaysSoOnStderrAndInTheJson) {
  REQUIRE_NOBODY();
  // An unprivileged user cannot create cgroups: with --force the command still runs, measured.
  const auto result =
      run_as_nobody({"--limit", "1G", "--force", "--json", "--", MEMOPT_HOLDER, "100", "800"});
  if (result.exit_code == 126 || result.exit_code == 127)
    GTEST_SKIP() << "cannot run as nobody: " << result.err;
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("--force: the limit was NOT applied"), std::string::npos) << result.err;
  const auto run = nlohmann::json::parse(result.out);
  EXPECT_FALSE(run["limit_applied"].get<bool>());
  EXPECT_TRUE(run["forced"].get<bool>());
  ASSERT_TRUE(run["unconstrained_reason"].is_string()) << run.dump();
  EXPECT_FALSE(run["unconstrained_reason"].get<std::string>().empty());
  EXPECT_GE(run["peak_rss_bytes"].get<double>(), 100 * kMiB * 0.95);
}

TEST(Run, NoPeakMeasuredGivesNoRecommendation) {
  REQUIRE_NOBODY();
  // `true` ends before the first sample reads it: unconstrained, no kernel peak, nothing seen.
  const auto result = run_as_nobody({"--json", "--sample-ms", "60000", "--", "true"});
  if (result.exit_code == 126 || result.exit_code == 127)
    GTEST_SKIP() << "cannot run as nobody: " << result.err;
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto run = nlohmann::json::parse(result.out);
  if (!run["peak_bytes"].is_null()) GTEST_SKIP() << "a sample caught `true` running";
  EXPECT_TRUE(run["recommendation"].is_null()) << run.dump();
  const auto text = run_as_nobody({"--sample-ms", "60000", "--", "true"});
  if (text.out.find("peak         unknown") != std::string::npos) {
    EXPECT_NE(text.out.find("recommended  none"), std::string::npos) << text.out;
    EXPECT_EQ(text.out.find("256 MiB"), std::string::npos) << text.out;
  }
}

TEST(Run, AnEmptyLimitIsAUsageError) {
  if (::access(MEMOPT_BINARY, X_OK) != 0) GTEST_SKIP() << "binary not reachable";
  TempTree tmp;
  const std::string marker = tmp.path("ran");
  for (const char* flag : {"--limit", "--swap"}) {
    SCOPED_TRACE(flag);
    const auto result = run_memopt({"run", flag, "", "--", "touch", marker}, {});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find(std::string(flag) + ": invalid size '': empty"), std::string::npos)
        << result.err;
    EXPECT_FALSE(std::filesystem::exists(marker));
  }
}

}  // namespace
}  // namespace memopt::testing
