// `memopt run` reads the configuration every command reads: its time at each level comes from
// the file's thresholds (a real child memory cgroup, so an integration test).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

TEST(OneConfigRun, TheTimeAtEachLevelFollowsTheFilesThresholds) {
  TempTree tmp;
  // `sleep` in a 64 MiB cgroup uses well under 1%: normal by default, a warning above 0.1%.
  const auto config =
      tmp.write("warn.toml", "[thresholds]\nacceptable_percent = 0\nwarning_percent = 0.1\n");
  const std::vector<std::string> run{"run", "--limit", "64M", "--json", "--", "sleep", "0.5"};
  const std::vector<std::string> env{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};
  const auto plain = run_memopt(run, env);
  if (plain.exit_code != 0) GTEST_SKIP() << "memopt run cannot run here: " << plain.err;
  auto with_config = run;
  with_config.insert(with_config.begin(), {"--config", config});
  const auto tuned = run_memopt(with_config, env);
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  const auto at = [](const RunResult& r) {
    return nlohmann::json::parse(r.out)["time_at_level_seconds"];
  };
  EXPECT_GT(at(plain)["normal"].get<double>(), 0) << plain.out;
  EXPECT_EQ(at(plain)["warning"].get<double>(), 0) << plain.out;
  EXPECT_GT(at(tuned)["warning"].get<double>(), 0) << tuned.out;
  EXPECT_EQ(at(tuned)["normal"].get<double>(), 0) << tuned.out;

  // The same through $MEMOPT_CONFIG.
  auto env_config = env;
  env_config.push_back("MEMOPT_CONFIG=" + config);
  const auto from_env = run_memopt(run, env_config);
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_GT(at(from_env)["warning"].get<double>(), 0) << from_env.out;
}

}  // namespace
}  // namespace memopt::testing
