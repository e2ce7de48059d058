// `memopt top` without a terminal: --once's frame against `report`'s figures of the same tree,
// and the refusal of a non-terminal standard output.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

testing::RunResult on_fixture(const std::string& scenario, std::vector<std::string> command) {
  const std::string root = testing::fixture(scenario);
  std::vector<std::string> args{"--procfs", root + "/proc", "--sysfs", root + "/sys"};
  args.insert(args.end(), command.begin(), command.end());
  return testing::run_memopt(args, {kNoNvml});
}

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

class TopOnce : public ::testing::TestWithParam<std::string> {};

TEST_P(TopOnce, PrintsTheReportsLevelAndFigures) {
  const auto report = on_fixture(GetParam(), {"report", "--format", "json"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const auto doc = nlohmann::json::parse(report.out);
  const auto top = on_fixture(GetParam(), {"top", "--once"});
  ASSERT_EQ(top.exit_code, 0) << top.err;
  EXPECT_EQ(top.out.find('\033'), std::string::npos) << "escape codes in --once:\n" << top.out;
  const auto level = upper(doc["status"]["level"].get<std::string>());
  const auto header = top.out.substr(top.out.find('\n') + 1);
  EXPECT_THAT(header.substr(0, header.find('\n')), ::testing::StartsWith(level)) << top.out;
  if (doc["memory"]["scope"] != "unknown") {
    EXPECT_THAT(top.out,
                HasSubstr(fmt::format(
                    "used {} of {}", format_bytes(doc["memory"]["used_bytes"].get<std::uint64_t>()),
                    format_bytes(doc["memory"]["limit_bytes"].get<std::uint64_t>()))));
    EXPECT_THAT(top.out,
                HasSubstr("available " +
                          format_bytes(doc["memory"]["available_bytes"].get<std::uint64_t>())));
  }
  // Every process of the report's list is a row (its top N, by PSS, are among all of them).
  for (const auto& p : doc["processes"]) {
    EXPECT_THAT(top.out, HasSubstr(p["name"].get<std::string>())) << top.out;
  }
  std::istringstream lines(top.out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 120u) << line;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TopOnce,
                         ::testing::Values("v1-limited", "shared-workers", "v2-sidecar-pod",
                                           "no-memory-controller", "v2-without-optional-files"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(Top, RefusesAStandardOutputThatIsNoTerminal) {
  const auto result = on_fixture("v1-limited", {"top", "1"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("not a terminal"));
  EXPECT_THAT(result.err, HasSubstr("memopt report"));
  EXPECT_THAT(result.err, HasSubstr("memopt monitor"));
  EXPECT_TRUE(result.out.empty()) << result.out;
}

TEST(Top, RefusesABadInterval) {
  const auto result = on_fixture("v1-limited", {"top", "0", "--once"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("interval"));
}

TEST(Top, OnceWithContainersListsTheContainersOfTheReport) {
  const std::vector<std::string> node{"--cgroup", "/"};
  auto args = node;
  args.insert(args.end(), {"report", "--json", "--containers"});
  const auto report = on_fixture("v2-sidecar-pod", args);
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const auto doc = nlohmann::json::parse(report.out);
  ASSERT_FALSE(doc["containers"].empty());
  args = node;
  args.insert(args.end(), {"top", "--once", "--containers"});
  const auto top = on_fixture("v2-sidecar-pod", args);
  ASSERT_EQ(top.exit_code, 0) << top.err;
  EXPECT_THAT(top.out, HasSubstr(fmt::format("CONTAINERS {} of {}", doc["containers"].size(),
                                             doc["containers"].size())));
  EXPECT_THAT(top.out, Not(HasSubstr("PROCESSES")));
  // One row each, in the report's order, with its level and limit.
  std::size_t at = 0;
  for (const auto& c : doc["containers"]) {
    const auto path = c["cgroup"].get<std::string>();
    const auto row = top.out.find(" " + path + "\n", at);
    ASSERT_NE(row, std::string::npos) << path << " missing or out of order:\n" << top.out;
    const auto begin = top.out.rfind('\n', row) + 1;
    const auto line = top.out.substr(begin, row - begin);
    EXPECT_THAT(line, ::testing::StartsWith(c["level"].get<std::string>())) << line;
    EXPECT_THAT(line, HasSubstr(format_bytes(c["limit_bytes"].get<std::uint64_t>()))) << line;
    at = row + 1;
  }
}

}  // namespace
}  // namespace memopt
