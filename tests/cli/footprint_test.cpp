// What keeps the commands small: SQLite is loaded only by the commands that keep or read a
// history, and its absence is said, not crashed on; only the command named is defined, while the
// overview still lists every command.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

const std::vector<std::string> kNoGpu = {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};

// The maps of a monitor that has written its first sample.
std::string maps_of_running_monitor(const std::vector<std::string>& extra,
                                    const std::vector<std::string>& env) {
  std::vector<std::string> argv = {MEMOPT_BINARY, "monitor", "1", "--json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Background monitor(argv, env);
  const auto sample = next_json_line(
      monitor, [](const nlohmann::json& j) { return j["type"] == "sample"; }, 10000);
  if (sample.is_null()) return "(no sample)";
  return slurp("/proc/" + std::to_string(monitor.pid()) + "/maps");
}

TEST(Footprint, SqliteIsMappedOnlyWhenRecording) {
  TempTree tmp;
  EXPECT_THAT(maps_of_running_monitor({}, kNoGpu),
              AllOf(HasSubstr("memopt"), Not(HasSubstr("libsqlite3"))));
  EXPECT_THAT(maps_of_running_monitor({"--record", tmp.path("history.db")}, kNoGpu),
              HasSubstr("libsqlite3"));
}

TEST(Footprint, WithoutSqliteHistorySaysSoAndExitsOne) {
  TempTree tmp;
  const auto db = tmp.write("history.db", "");
  auto env = kNoGpu;
  env.push_back("MEMOPT_SQLITE_LIBRARY=/nonexistent/libsqlite3.so.0");
  for (const std::vector<std::string>& args : {std::vector<std::string>{"history", "--db", db},
                                               {"postmortem", "--db", db},
                                               {"recommend", "--from-history", db}}) {
    const auto result = run_memopt(args, env);
    EXPECT_EQ(result.exit_code, 1) << args[0] << ": " << result.err;
    EXPECT_THAT(result.err, AllOf(HasSubstr("/nonexistent/libsqlite3.so.0"),
                                  HasSubstr("apt-get install libsqlite3-0")))
        << args[0];
  }
}

TEST(Footprint, ALibraryThatIsNotSqliteIsNamedWithWhatItLacks) {
  TempTree tmp;
  const auto db = tmp.write("history.db", "");
  auto env = kNoGpu;
  env.push_back("MEMOPT_SQLITE_LIBRARY=libc.so.6");
  const auto result = run_memopt({"history", "--db", db}, env);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.err, AllOf(HasSubstr("libc.so.6 lacks sqlite3_open_v2"),
                                HasSubstr("SQLite 3.37 or later")));
}

TEST(Footprint, WithoutSqliteTheMonitorWatchesWithoutRecording) {
  TempTree tmp;
  auto env = kNoGpu;
  env.push_back("MEMOPT_SQLITE_LIBRARY=/nonexistent/libsqlite3.so.0");
  const auto result = run_memopt(
      {"monitor", "1", "--json", "--duration", "1.5", "--record", tmp.path("history.db")}, env);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, AllOf(HasSubstr("not recording"), HasSubstr("cannot be loaded"),
                                HasSubstr("monitoring goes on")));
  EXPECT_THAT(result.out, HasSubstr(R"("type":"sample")"));
}

TEST(Footprint, TheOverviewListsEveryCommandAndACommandsHelpIsItsOwn) {
  const std::vector<std::string> commands = {"report",  "run",     "recommend", "diagnose",
                                             "monitor", "cleanup", "history",   "postmortem"};
  const auto overview = run_memopt({"--help"});
  EXPECT_EQ(overview.exit_code, 0) << overview.err;
  for (const auto& command : commands) {
    EXPECT_THAT(overview.out, HasSubstr("\n  " + command + " ")) << command;
  }
  const auto report = run_memopt({"report", "--help"});
  EXPECT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(report.out, AllOf(HasSubstr("Usage: memopt report"), HasSubstr("--containers")));
  // A command's name as a flag's value defines that command too, harmlessly: the command run is
  // the one in the command's place.
  const auto valued = run_memopt({"--procfs", "monitor", "report", "--help"});
  EXPECT_EQ(valued.exit_code, 0) << valued.err;
  EXPECT_THAT(valued.out, HasSubstr("Usage: memopt report"));
}

}  // namespace
}  // namespace memopt::testing
