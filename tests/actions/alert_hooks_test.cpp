// --on-alert hooks: the environment a hook gets, and what AlertHooks reports when one fails.
#include "memopt/actions/alert_hooks.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "support/tree.hpp"

namespace memopt::actions {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

analysis::Event warning_event() {
  analysis::Event e(analysis::LevelChange{.previous = analysis::Level::kAcceptable},
                    std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)),
                    analysis::Level::kWarning);
  e.memory = {analysis::Scope::kContainer, 512ull << 20, 430ull << 20, 82ull << 20, 83.984375};
  e.message = "level warning (was acceptable); $(touch /tmp/x) stays text";
  return e;
}

TEST(HookEnvironment, CarriesTheEventsFacts) {
  const auto env = hook_environment(warning_event());
  EXPECT_THAT(env, Contains("MEMOPT_EVENT=level_changed"));
  EXPECT_THAT(env, Contains("MEMOPT_LEVEL=warning"));
  EXPECT_THAT(env, Contains("MEMOPT_PREVIOUS_LEVEL=acceptable"));
  EXPECT_THAT(env, Contains("MEMOPT_USED_PERCENT=83.98"));
  EXPECT_THAT(env, Contains("MEMOPT_USED_BYTES=" + std::to_string(430ull << 20)));
  EXPECT_THAT(env, Contains("MEMOPT_LIMIT_BYTES=" + std::to_string(512ull << 20)));
  EXPECT_THAT(env, Contains("MEMOPT_AVAILABLE_BYTES=" + std::to_string(82ull << 20)));
  EXPECT_THAT(env, Contains("MEMOPT_SCOPE=container"));
  EXPECT_THAT(env, Contains("MEMOPT_TIMESTAMP=2027-01-15T08:00:00Z"));
  EXPECT_THAT(env, Contains("MEMOPT_MESSAGE=level warning (was acceptable); $(touch /tmp/x) "
                            "stays text"));
}

TEST(HookEnvironment, UnknownMemoryGivesEmptyFiguresNotZeros) {
  auto e = warning_event();
  e.level = analysis::Level::kUnknown;
  e.memory = {};
  e.memory.scope = analysis::Scope::kUnknown;
  const auto env = hook_environment(e);
  EXPECT_THAT(env, Contains("MEMOPT_LEVEL=unknown"));
  EXPECT_THAT(env, Contains("MEMOPT_USED_BYTES="));
  EXPECT_THAT(env, Contains("MEMOPT_USED_PERCENT="));
  EXPECT_THAT(env, Contains("MEMOPT_SCOPE=unknown"));
}

/// Waits (at most 10 s) until `hooks` has nothing running; returns what reap() said.
std::vector<std::string> reap_all(AlertHooks& hooks) {
  std::vector<std::string> failures;
  for (int i = 0; i < 1000 && hooks.running() > 0; ++i) {
    for (auto& f : hooks.reap(std::chrono::steady_clock::now(), false)) failures.push_back(f);
    std::this_thread::sleep_for(10ms);
  }
  return failures;
}

TEST(AlertHooks, RunsTheCommandWithTheEnvironment) {
  testing::TempTree tree;
  const auto out = tree.path("env");
  AlertHooks hooks({"env > " + out, 10s, 4});
  ASSERT_THAT(hooks.start(warning_event(), std::chrono::steady_clock::now()), IsEmpty());
  EXPECT_THAT(reap_all(hooks), IsEmpty());
  const auto env = testing::slurp(out);
  EXPECT_THAT(env, HasSubstr("MEMOPT_LEVEL=warning\n"));
  EXPECT_THAT(env, HasSubstr("MEMOPT_MESSAGE=level warning (was acceptable); $(touch /tmp/x)"));
}

TEST(AlertHooks, AFailingHookIsReported) {
  AlertHooks hooks({"exit 3", 10s, 4});
  ASSERT_THAT(hooks.start(warning_event(), std::chrono::steady_clock::now()), IsEmpty());
  const auto failures = reap_all(hooks);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], HasSubstr("exited with status 3"));
}

bool has_line(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec) && testing::slurp(path).ends_with('\n');
}

/// Gone, or a zombie: the orphan is reparented to PID 1, which in a container may reap it only
/// seconds later (this machine's does), and a zombie still answers kill(pid, 0).
bool dead(int pid) {
  if (::kill(pid, 0) != 0) return true;
  std::string stat;
  try {
    stat = testing::slurp("/proc/" + std::to_string(pid) + "/stat");
  } catch (const std::runtime_error&) {
    return true;  // reaped between the two looks
  }
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

TEST(AlertHooks, AHookPastItsTimeoutIsKilledWithItsChildren) {
  testing::TempTree tree;
  const auto pid_file = tree.path("grandchild");
  AlertHooks hooks({"(sleep 300 & echo $! > " + pid_file + "; wait) ; sleep 300", 1s, 4});
  const auto start = std::chrono::steady_clock::now();
  ASSERT_THAT(hooks.start(warning_event(), start), IsEmpty());
  // The pid is complete once its newline is written.
  for (int i = 0; i < 1000 && !has_line(pid_file); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_TRUE(has_line(pid_file)) << "the hook never started its background child";
  const auto failures = hooks.reap(start + 2s, false);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], HasSubstr("ran past 1 s and was killed"));
  const auto grandchild = std::stoi(testing::slurp(pid_file));
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; ++i) {
    gone = dead(grandchild);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(gone) << "the hook's background child survived";
}

TEST(AlertHooks, ShutdownSaysSoRatherThanATimeout) {
  AlertHooks hooks({"sleep 300", 60s, 4});
  ASSERT_THAT(hooks.start(warning_event(), std::chrono::steady_clock::now()), IsEmpty());
  const auto failures = hooks.reap(std::chrono::steady_clock::now(), true);
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], HasSubstr("stopped by the shutdown"));
}

TEST(AlertHooks, AtMostMaxRunningAtOnce) {
  AlertHooks hooks({"sleep 300", 60s, 2});
  const auto now = std::chrono::steady_clock::now();
  EXPECT_THAT(hooks.start(warning_event(), now), IsEmpty());
  EXPECT_THAT(hooks.start(warning_event(), now), IsEmpty());
  EXPECT_THAT(hooks.start(warning_event(), now), HasSubstr("skipped"));
}

}  // namespace
}  // namespace memopt::actions
