// A new user's stumbles, each once answered wrongly: an unknown command called "a subcommand is
// required", protection flags accepted without protection, `--record 5` making a database named
// 5. Each answer now says what went wrong, exit 2.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

/// `memopt monitor ARGS --duration 1` on a captured tree.
RunResult monitor_on_fixture(const TempTree& tree, std::vector<std::string> args,
                             std::vector<std::string> env = {}) {
  std::vector<std::string> argv{"monitor", "--duration",    "1", "--procfs", tree.path("proc"),
                                "--sysfs", tree.path("sys")};
  argv.insert(argv.end(), args.begin(), args.end());
  env.push_back(kNoNvml);
  return run_memopt(argv, env);
}

TEST(UnknownCommand, IsCalledUnknownAndTheNearestCommandSuggested) {
  const auto result = run_memopt({"reprot"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown command 'reprot': did you mean 'report'?"));
  EXPECT_THAT(result.err, Not(HasSubstr("A subcommand is required")));
}

TEST(UnknownCommand, AfterGlobalOptionsToo) {
  const auto result = run_memopt({"--procfs", "/proc", "montior", "5"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown command 'montior': did you mean 'monitor'?"));
}

TEST(UnknownCommand, FarFromEveryCommandIsListedWithoutAGuess) {
  const auto result = run_memopt({"frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("unknown command 'frobnicate' (commands: report, run,"));
  EXPECT_THAT(result.err, Not(HasSubstr("did you mean")));
}

TEST(SeedFlags, AreSubcommandsOnlyWhereTheSubcommandBelongs) {
  const auto seed = run_memopt({"--procfs", "/proc", "--report", "--top", "1"}, {kNoNvml});
  EXPECT_EQ(seed.exit_code, 0) << seed.err;
  EXPECT_THAT(seed.out, HasSubstr("memopt report "));

  // A word of the command `run` starts is the command's own: memopt rewrote every `--report`
  // it saw, and `memory_optimizer.py --report` ran as `memory_optimizer.py report`.
  TempTree tree;
  const auto got = tree.path("child-args");
  const auto run = run_memopt({"run", "--", "/bin/sh", "-c", "printf '%s ' \"$@\" > " + got, "sh",
                               "--report", "--monitor", "5", "--cleanup"},
                              {kNoNvml});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(slurp(got), "--report --monitor 5 --cleanup ");
}

TEST(MonitorFlags, ProtectionFlagsWithoutProtectAreAUsageError) {
  TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::vector<std::vector<std::string>> cases{
      {"--dry-run"}, {"--prefer", "python*"}, {"--protect-process", "sshd"}};
  for (const auto& flags : cases) {
    SCOPED_TRACE(flags.front());
    const auto result = monitor_on_fixture(tree, flags);
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_THAT(result.err, HasSubstr(flags.front() + " only applies with --protect"));
    EXPECT_TRUE(result.out.empty()) << "it monitored: " << result.out;
  }
}

TEST(MonitorFlags, ProtectionFlagsWithProtectionEnabledInTheConfigAreAccepted) {
  TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const auto config = tree.write("memopt.toml", "[protect]\nenabled = true\n");
  const auto result = monitor_on_fixture(tree, {"--dry-run", "--config", config});
  EXPECT_THAT(result.err, Not(HasSubstr("only applies with --protect")));
}

TEST(MonitorFlags, ABareNumberAfterRecordIsTheIntervalNotADatabaseName) {
  TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const auto state = tree.mkdir("state");
  const bool had_five = std::filesystem::exists("5");
  const auto result = monitor_on_fixture(tree, {"--record", "5"}, {"MEMOPT_STATE_DIR=" + state});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr("recording to " + state + "/history.db"));
  if (!had_five) {
    EXPECT_FALSE(std::filesystem::exists("5")) << "a database named 5";
  }
}

TEST(MonitorFlags, ABareNumberAfterRecordBesideAnIntervalIsRefused) {
  TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const auto result = monitor_on_fixture(tree, {"10", "--record", "5"});
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_THAT(result.err, HasSubstr("'5' reads as INTERVAL_S, which is already 10"));
  const auto zero = monitor_on_fixture(tree, {"--record", "0"});
  EXPECT_EQ(zero.exit_code, 2) << zero.err;
}

TEST(MonitorFlags, AutoCleanupNamesTheSameLevelsInHelpAndError) {
  const auto help = run_memopt({"monitor", "--help"});
  EXPECT_THAT(help.out, HasSubstr("(one of: acceptable, warning, severe, danger)"));
  TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  for (const char* bad : {"bogus", "normal"}) {
    SCOPED_TRACE(bad);
    const auto result = monitor_on_fixture(tree, {"--auto-cleanup", bad});
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_THAT(result.err, HasSubstr("(expected one of: acceptable, warning, severe, danger)"));
  }
}

}  // namespace
}  // namespace memopt::testing
