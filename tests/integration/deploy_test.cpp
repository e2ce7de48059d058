// deploy/prometheus: the alert rules pass `promtool check rules`, and each alert has a
// `promtool test rules` case (deploy/prometheus/memopt-rules.test.yml).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

const std::filesystem::path kDeploy =
    std::filesystem::path(MEMOPT_FIXTURES) / ".." / ".." / "deploy";

bool have_promtool() { return ::access("/usr/bin/promtool", X_OK) == 0; }

TEST(DeployRules, PassPromtoolCheckRules) {
  if (!have_promtool()) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  const auto r = run_command(
      {"/usr/bin/promtool", "check", "rules", (kDeploy / "prometheus/memopt-rules.yml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(DeployRules, PassTheirUnitTests) {
  if (!have_promtool()) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  const auto r = run_command({"/usr/bin/promtool", "test", "rules",
                              (kDeploy / "prometheus/memopt-rules.test.yml").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(DeployDashboard, IsJsonAndQueriesMemoptMetrics) {
  const auto doc =
      nlohmann::json::parse(slurp((kDeploy / "grafana/memopt-dashboard.json").string()));
  ASSERT_TRUE(doc.contains("panels"));
  EXPECT_GE(doc["panels"].size(), 4u);
  for (const auto& panel : doc["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      EXPECT_NE(target["expr"].get<std::string>().find("memopt_"), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace memopt::testing
