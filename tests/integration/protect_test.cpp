// `memopt monitor --protect` against a real memory cgroup (named memopt-protect-*): the
// escalation order (shed at severe, then one kill at danger), each safety rule (never memopt,
// never a namespace's pid 1, never a protected process, never outside the cgroup, never twice
// within the grace), the refusal of host scope without --allow-host, and --dry-run.
#include "memopt/protect.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using Clock = std::chrono::steady_clock;
const std::vector<std::string> kNoGpu{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};

/// memopt_test_holder under a name of our choosing (argv[0]: what --prefer and
/// --protect-process match), started in `cgroup_dir` (none: left where the test runs),
/// optionally with oom_score_adj -1000 or as pid 1 of a new pid namespace (unshare).
class Named {
 public:
  struct Options {
    std::string cgroup_dir;
    bool unkillable = false;  // oom_score_adj -1000
    bool namespace_init = false;
  };

  Named(const std::string& name, const Options& options) {
    int to_child[2];
    int from_child[2];
    EXPECT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      if (!options.cgroup_dir.empty()) {
        std::ofstream(options.cgroup_dir + "/cgroup.procs") << ::getpid() << std::flush;
      }
      if (options.namespace_init) {
        ::execlp("unshare", "unshare", "--pid", "--fork", "--kill-child", "--", MEMOPT_HOLDER,
                 static_cast<char*>(nullptr));
      } else {
        ::execl(MEMOPT_HOLDER, name.c_str(), static_cast<char*>(nullptr));
      }
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_child_ = to_child[1];
    from_child_ = from_child[0];
    if (options.unkillable) {
      std::ofstream adj("/proc/" + std::to_string(pid_) + "/oom_score_adj");
      adj << "-1000" << std::flush;
      unkillable_ = adj.good();  // refused where the container lacks CAP_SYS_RESOURCE
    }
  }
  ~Named() {
    ::close(to_child_);
    ::close(from_child_);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Named(const Named&) = delete;
  Named& operator=(const Named&) = delete;

  /// Holds `mib` MiB; false when it died.
  bool hold(unsigned mib) {
    const std::string line = std::to_string(mib) + "\n";
    if (::write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return false;
    char answer[3] = {};
    std::size_t got = 0;
    while (got < 3) {
      const auto n = ::read(from_child_, answer + got, 3 - got);
      if (n <= 0) return false;
      got += static_cast<std::size_t>(n);
    }
    return std::string(answer, 3) == "ok\n";
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool unkillable() const { return unkillable_; }

 private:
  pid_t pid_ = -1;
  bool unkillable_ = false;
  int to_child_ = -1;
  int from_child_ = -1;
};

// Levels for a 400 MiB cgroup: severe above 60% (240 MiB), danger under 100 MiB available
// (above 300 MiB): each one distinct, and danger well before the limit.
std::string config_file(const TempTree& tree, const std::string& protect_extra = "") {
  return tree.write("protect.toml",
                    "[thresholds]\nacceptable_percent = 40\nwarning_percent = 50\n"
                    "severe_percent = 60\ndanger_available = \"100M\"\n"
                    "[protect]\nenabled = true\nforecast_s = 0\ngrace_ms = 3000\n" +
                        protect_extra);
}

struct Scene {
  std::unique_ptr<TestCgroup> cgroup;
  TempTree tree;
  std::string why_not;

  Scene() {
    cgroup = TestCgroup::create(&why_not, "protect");
    if (cgroup) cgroup->set_limit(400 * kMiB);
  }

  std::unique_ptr<Background> monitor(const std::string& protect_extra,
                                      const std::vector<std::string>& more = {}) {
    auto argv = cgroup->enter_command();
    argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", "60", "--json", "--config",
                             config_file(tree, protect_extra)});
    argv.insert(argv.end(), more.begin(), more.end());
    auto env = kNoGpu;
    env.push_back("MEMOPT_RUNTIME_DIR=" + tree.mkdir("run"));
    return std::make_unique<Background>(argv, env);
  }
};

TEST(Protect, ShedsAtSevereThenEndsOnePreferredProcessAtDanger) {
  Scene s;
  if (!s.cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << s.why_not;
  Named server("server", {s.cgroup->dir()});
  Named guarded("guarded", {s.cgroup->dir()});
  Named worker("worker-1", {s.cgroup->dir()});
  Named outside("worker-outside", {});  // preferred by name, but not in the cgroup
  ASSERT_TRUE(server.hold(100));
  ASSERT_TRUE(guarded.hold(60));
  ASSERT_TRUE(worker.hold(10));
  ASSERT_TRUE(outside.hold(10));
  auto monitor = s.monitor("prefer = [\"worker*\"]\nprotect = [\"guarded\"]\n");
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null());

  ASSERT_TRUE(worker.hold(90));  // ~260 MiB with memopt: severe, not danger
  const auto shed = next_json_line(*monitor, "event", "shed", 10'000);
  ASSERT_FALSE(shed.is_null()) << "no shed event at severe";
  EXPECT_EQ(shed["level"], "severe");
  EXPECT_TRUE(alive(worker.pid()));

  (void)worker.hold(160);  // ~330 MiB: danger (the worker may be ended before it answers)
  const auto kill = next_json_line(*monitor, "event", "kill", 10'000);
  ASSERT_FALSE(kill.is_null()) << "no kill event at danger";
  EXPECT_EQ(kill["pid"], worker.pid());
  EXPECT_EQ(kill["signal"], "SIGTERM");
  EXPECT_EQ(kill["dry_run"], false);
  EXPECT_GE(kill["pss_bytes"].get<std::uint64_t>(), 100 * kMiB);  // ended while it grew
  EXPECT_NE(kill["reason"].get<std::string>().find("preferred (pattern 'worker*')"),
            std::string::npos);
  // The server is the one alternative: not memopt, not the protected one, not the outsider.
  const std::string alternatives = kill["alternatives"].dump();
  const auto names = [&alternatives](pid_t pid) {
    return alternatives.find("(pid " + std::to_string(pid) + ",") != std::string::npos;
  };
  EXPECT_TRUE(names(server.pid())) << alternatives;
  EXPECT_FALSE(names(guarded.pid())) << alternatives;
  EXPECT_FALSE(names(monitor->pid())) << alternatives;
  EXPECT_FALSE(names(outside.pid())) << alternatives;

  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (alive(worker.pid()) && Clock::now() < deadline) ::usleep(20'000);
  EXPECT_FALSE(alive(worker.pid())) << "the victim is still running";
  EXPECT_TRUE(alive(server.pid()));
  EXPECT_TRUE(alive(guarded.pid()));
  EXPECT_TRUE(alive(outside.pid()));
  EXPECT_TRUE(alive(monitor->pid()));
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
  const auto summary = next_json_line(*monitor, "summary", "", 5'000);
  ASSERT_FALSE(summary.is_null());
  EXPECT_EQ(summary["events"]["kill"], 1);
}

TEST(Protect, NeverSelfNamespaceInitProtectedOrOutsideEvenWhenEverythingIsPreferred) {
  Scene s;
  if (!s.cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << s.why_not;
  Named server("server", {s.cgroup->dir()});
  Named unkillable("unkillable", {s.cgroup->dir(), true});
  Named init("init", {s.cgroup->dir(), false, true});
  Named guarded("guarded", {s.cgroup->dir()});
  Named outside("outside", {});
  ASSERT_TRUE(unkillable.hold(40));
  // Where oom_score_adj -1000 cannot be set, that rule is left to ProtectChoice (fixtures) and
  // the process is protected by name instead.
  const bool adj_rule = unkillable.unkillable();
  if (adj_rule) {
    EXPECT_EQ(slurp("/proc/" + std::to_string(unkillable.pid()) + "/oom_score_adj"), "-1000\n");
  } else {
    std::fprintf(stderr, "note: cannot set oom_score_adj -1000 here; protecting it by name\n");
  }
  ASSERT_TRUE(init.hold(40));
  ASSERT_TRUE(guarded.hold(40));
  ASSERT_TRUE(outside.hold(10));
  const auto pid_file = s.tree.write("server.pid", std::to_string(server.pid()) + "\n");
  auto monitor = s.monitor("prefer = [\"*\"]\nprotect = [\"guarded\", \"unshare\"" +
                           std::string(adj_rule ? "" : ", \"unkillable\"") + "]\npid_files = [\"" +
                           pid_file + "\"]\n");
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null());
  ASSERT_TRUE(server.hold(190));  // ~330 MiB: danger, and nobody may be ended
  const auto level = next_json_line(*monitor, "event", "level_changed", 10'000);
  ASSERT_FALSE(level.is_null());
  // Danger held for a few seconds: no kill (memopt's decisions come every 250 ms).
  const auto kill = next_json_line(*monitor, "event", "kill", 4'000);
  EXPECT_TRUE(kill.is_null()) << "something was ended: " << kill.dump() << " (server "
                              << server.pid() << ", unkillable " << unkillable.pid() << ", init "
                              << init.pid() << ", guarded " << guarded.pid() << ")";
  for (const pid_t pid : {server.pid(), unkillable.pid(), init.pid(), guarded.pid(), outside.pid(),
                          static_cast<pid_t>(monitor->pid())}) {
    EXPECT_TRUE(alive(pid)) << pid;
  }
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
}

TEST(Protect, DryRunDecidesAndEndsNothing) {
  Scene s;
  if (!s.cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << s.why_not;
  Named worker("worker", {s.cgroup->dir()});
  ASSERT_TRUE(worker.hold(10));
  auto monitor = s.monitor("prefer = [\"worker\"]\n", {"--dry-run"});
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null());
  ASSERT_TRUE(worker.hold(320));
  const auto kill = next_json_line(*monitor, "event", "kill", 10'000);
  ASSERT_FALSE(kill.is_null()) << "no decision logged";
  EXPECT_EQ(kill["dry_run"], true);
  EXPECT_EQ(kill["pid"], worker.pid());
  EXPECT_NE(kill["message"].get<std::string>().find("would end"), std::string::npos);
  ::usleep(500'000);
  EXPECT_TRUE(alive(worker.pid()));
  EXPECT_TRUE(worker.hold(10));  // still answering
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
}

TEST(Protect, NeverTwiceWithinTheGrace) {
  Scene s;
  if (!s.cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << s.why_not;
  Named a("worker-a", {s.cgroup->dir()});
  Named b("worker-b", {s.cgroup->dir()});
  ASSERT_TRUE(a.hold(10));
  ASSERT_TRUE(b.hold(10));
  auto monitor = s.monitor("prefer = [\"worker*\"]\n");
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null());
  // Ending either one leaves the other in danger (~170 + memopt + ... > 300 MiB? no: each
  // alone is 170 MiB; together 340): after the first kill the level falls, so push again.
  ASSERT_TRUE(a.hold(170));
  ASSERT_TRUE(b.hold(170));
  const auto first = next_json_line(*monitor, "event", "kill", 10'000);
  ASSERT_FALSE(first.is_null());
  const auto first_at = Clock::now();
  Named c("worker-c", {s.cgroup->dir()});
  ASSERT_TRUE(c.hold(150));  // danger again at once
  // grace_ms = 3000: no second kill before it has passed since the first.
  const auto second = next_json_line(*monitor, "event", "kill", 10'000);
  ASSERT_FALSE(second.is_null()) << "no second kill after the grace";
  // (2500, not 3000: the first event reached the test a moment after its SIGTERM.)
  EXPECT_GE(Clock::now() - first_at, std::chrono::milliseconds(2500));
  EXPECT_NE(second["pid"], first["pid"]);
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
}

TEST(Protect, OnPressureCallsBackInProcessWhenTheContainerReachesTheLevel) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "protect");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(256 * kMiB);
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    // The child is the "server": in the cgroup, subscribed, then growing past warning (80%).
    std::ofstream(cgroup->dir() + "/cgroup.procs") << ::getpid() << std::flush;
    std::atomic<int> calls{0};
    std::string level;
    std::mutex mutex;
    auto subscription = on_pressure(analysis::Level::kWarning, [&](const analysis::Event& e) {
      const std::lock_guard lock(mutex);
      level = analysis::to_string(e.level);
      ++calls;
    });
    std::vector<char> block(220u << 20, 1);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (calls.load() == 0 && Clock::now() < deadline) ::usleep(10'000);
    subscription->cancel();
    std::string line;
    {
      const std::lock_guard lock(mutex);
      line = std::to_string(calls.load()) + " " + level + " " + std::to_string(block[4096]) + "\n";
    }
    (void)!::write(report[1], line.data(), line.size());
    ::_exit(0);
  }
  ::close(report[1]);
  char buffer[64] = {};
  const auto n = ::read(report[0], buffer, sizeof buffer - 1);
  ::close(report[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_GT(n, 0) << "the child said nothing";
  const std::string said(buffer, static_cast<std::size_t>(n));
  EXPECT_EQ(said.substr(0, 2), "1 ") << said;  // once: the rise to warning (or above)
  EXPECT_TRUE(said.find("warning") != std::string::npos ||
              said.find("severe") != std::string::npos || said.find("danger") != std::string::npos)
      << said;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Protect, RefusesHostScopeWithoutAllowHost) {
  const auto refused =
      run_memopt({"--cgroup", "/", "monitor", "60", "--protect", "--duration", "1"}, kNoGpu);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("--allow-host"), std::string::npos) << refused.err;
  // With --allow-host and --dry-run it runs (and, on this host, decides nothing).
  const auto allowed = run_memopt({"--cgroup", "/", "monitor", "60", "--protect", "--allow-host",
                                   "--dry-run", "--duration", "1", "--json"},
                                  kNoGpu);
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
}

// Issue 26: with no hint, the documented rule ("the fastest grower among those with at least
// half the largest one's PSS") needs the growth at the first danger reading; it once ended the
// big steady server every time. Five runs, the grower each time.
TEST(Protect, EndsTheFastGrowerNotTheLargeSteadyServerFiveTimesInFive) {
  for (int run = 0; run < 5; ++run) {
    SCOPED_TRACE("run " + std::to_string(run + 1));
    std::string why_not;
    const auto cgroup = TestCgroup::create(&why_not, "protect-grower");
    if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
    cgroup->set_limit(1024 * kMiB);
    TempTree tree;
    Holder server;
    Holder grower;
    cgroup->add(server.pid());
    cgroup->add(grower.pid());
    ASSERT_TRUE(server.hold(600));
    auto argv = cgroup->enter_command();
    argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", "1", "--json", "--protect"});
    auto env = kNoGpu;
    env.push_back("MEMOPT_RUNTIME_DIR=" + tree.mkdir("run"));
    Background monitor(argv, env);
    ASSERT_FALSE(next_json_line(monitor, "sample", "", 10'000).is_null());
    // ~32 MiB/s: 4 MiB every 125 ms, until memopt ends someone.
    nlohmann::json kill;
    for (unsigned mib = 4; mib <= 1024 && kill.is_null(); mib += 4) {
      if (!grower.hold(mib)) break;  // ended (by memopt, or by the kernel)
      kill = next_json_line(monitor, "event", "kill", 125);
    }
    if (kill.is_null()) kill = next_json_line(monitor, "event", "kill", 5'000);
    ASSERT_FALSE(kill.is_null()) << "memopt ended nobody";
    EXPECT_EQ(kill["pid"], grower.pid()) << kill.dump();
    EXPECT_NE(kill["reason"].get<std::string>().find("the fastest grower among the largest"),
              std::string::npos)
        << kill.dump();
    EXPECT_TRUE(alive(server.pid()));
    EXPECT_EQ(monitor.stop(SIGTERM), 0);
  }
}

// Issue 26: another memopt in the target (a flight recorder) is memopt by its executable,
// whatever its name: never chosen, even when preferred by name.
TEST(Protect, NeverChoosesAnotherMemoptProcessWhateverItsName) {
  Scene s;
  if (!s.cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << s.why_not;
  // The same executable under another name (comm comes from the name exec was given).
  const auto recorder_path = s.tree.path("flight-recorder");
  ASSERT_EQ(::symlink(MEMOPT_BINARY, recorder_path.c_str()), 0);
  auto recorder_argv = s.cgroup->enter_command();
  recorder_argv.insert(recorder_argv.end(), {recorder_path, "monitor", "60", "--json"});
  auto env = kNoGpu;
  env.push_back("MEMOPT_RUNTIME_DIR=" + s.tree.mkdir("run-recorder"));
  Background recorder(recorder_argv, env);
  ASSERT_FALSE(next_json_line(recorder, "sample", "", 10'000).is_null());
  Named worker("worker", {s.cgroup->dir()});
  ASSERT_TRUE(worker.hold(10));
  auto monitor = s.monitor("prefer = [\"flight*\", \"worker\"]\n", {"--dry-run"});
  ASSERT_FALSE(next_json_line(*monitor, "sample", "", 10'000).is_null());
  ASSERT_TRUE(worker.hold(320));
  const auto kill = next_json_line(*monitor, "event", "kill", 10'000);
  ASSERT_FALSE(kill.is_null()) << "no decision logged";
  EXPECT_EQ(kill["pid"], worker.pid()) << kill.dump();
  EXPECT_EQ(kill["alternatives"].dump().find("(pid " + std::to_string(recorder.pid()) + ","),
            std::string::npos)
      << kill.dump();
  EXPECT_EQ(monitor->stop(SIGTERM), 0);
}

// README and docs/protect.md: without a memory limit the host's memory is what runs out, so
// --protect refuses (exit 2) unless --allow-host.
TEST(Protect, RefusesATargetWithoutAMemoryLimitUnlessAllowHost) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "protect-unlimited");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  const auto refused = run_memopt(
      {"--cgroup", cgroup->dir(), "monitor", "60", "--protect", "--duration", "1"}, kNoGpu);
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("no memory limit"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("--allow-host"), std::string::npos) << refused.err;
  const auto allowed = run_memopt({"--cgroup", cgroup->dir(), "monitor", "60", "--protect",
                                   "--allow-host", "--dry-run", "--duration", "1", "--json"},
                                  kNoGpu);
  EXPECT_EQ(allowed.exit_code, 0) << allowed.err;
  // With a limit it starts.
  cgroup->set_limit(512 * kMiB);
  const auto limited = run_memopt({"--cgroup", cgroup->dir(), "monitor", "60", "--protect",
                                   "--dry-run", "--duration", "1", "--json"},
                                  kNoGpu);
  EXPECT_EQ(limited.exit_code, 0) << limited.err;
}

}  // namespace
}  // namespace memopt::testing
