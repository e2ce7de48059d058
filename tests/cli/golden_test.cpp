// Golden outputs of `memopt report` (text and --json) for every captured fixture scenario
// under tests/fixtures/<scenario>/, compared byte for byte after masking what varies per run:
// the timestamp (the JSON "timestamp" value and the time on the first text line), the JSON
// "memopt_version" (checked against memopt::version() in mask_json, so that a release does not
// rewrite every golden)
// and the absolute path of the fixture tree (notes name the files they could not find).
//
// Regenerating the goldens is an explicit step, never a side effect of a failing run:
//
//   MEMOPT_REGENERATE_GOLDEN=1 build/tests/memopt_tests --gtest_filter='Golden/*'
//
// writes tests/fixtures/<scenario>/expected.txt and expected.json instead of comparing. Review
// the diff (`git diff tests/fixtures`) before committing it: the per-scenario numbers below
// (GoldenFacts) are asserted independently, so a regenerated golden cannot hide a wrong figure.
//
// The binary runs with MEMOPT_NVML_LIBRARY pointing at a library that does not exist, so the
// GPU section and its note are the same on every machine.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "memopt/units.hpp"
#include "memopt/version.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::cli {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using Json = nlohmann::json;

const std::vector<std::string>& scenarios() {
  static const std::vector<std::string> kScenarios = {
      "hybrid-v1-this-machine",
      "v2-nested-parent-limit",
      "v2-max-everywhere",
      "v1-unlimited",
      "v1-limited",
      "no-memory-controller",
      "no-memavailable",
      "shared-workers",
      "v2-without-optional-files",
      "v2-oom-killed-small-shm",
      "v2-sidecar-pod",
      "psi-unknown-line",
      "psi-oomd-experimental",
      "buddyinfo-malformed",
      "v2-no-memory-stat",
      "v1-mountinfo-no-root-files",
  };
  return kScenarios;
}

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

testing::RunResult report(const std::string& scenario, std::vector<std::string> extra = {}) {
  const std::string root = testing::fixture(scenario);
  std::vector<std::string> args{"report", "--procfs", root + "/proc", "--sysfs", root + "/sys"};
  args.insert(args.end(), extra.begin(), extra.end());
  return testing::run_memopt(args, {kNoNvml});
}

/// Replaces every occurrence of `from` in `text` with `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

/// The text report with its first line's time and the fixture path masked.
std::string mask_text(const std::string& text, const std::string& scenario) {
  static const std::regex kFirstLine(R"(^memopt report  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\n)");
  EXPECT_TRUE(std::regex_search(text, kFirstLine)) << "unexpected first line in:\n" << text;
  return replace_all(std::regex_replace(text, kFirstLine, "memopt report  <time>\n",
                                        std::regex_constants::format_first_only),
                     testing::fixture(scenario), "<fixture>");
}

/// The JSON report with its timestamp, memopt's version and the fixture path masked.
std::string mask_json(const std::string& json, const std::string& scenario) {
  static const std::regex kTimestamp(R"("timestamp": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")");
  EXPECT_TRUE(std::regex_search(json, kTimestamp)) << "no RFC 3339 timestamp in:\n" << json;
  const std::string version = fmt::format(R"("memopt_version": "{}")", memopt::version());
  EXPECT_NE(json.find(version), std::string::npos) << "no " << version << " in:\n" << json;
  return replace_all(replace_all(std::regex_replace(json, kTimestamp, R"("timestamp": "<time>")"),
                                 version, R"("memopt_version": "<version>")"),
                     testing::fixture(scenario), "<fixture>");
}

bool regenerating() {
  const char* value = std::getenv("MEMOPT_REGENERATE_GOLDEN");
  return value != nullptr && std::string(value) == "1";
}

/// Compares `actual` with the golden file, or writes it when regenerating.
void check_golden(const std::string& actual, const std::string& path) {
  if (regenerating()) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << actual;
    ASSERT_TRUE(out.good()) << "cannot write " << path;
    return;
  }
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing; run with MEMOPT_REGENERATE_GOLDEN=1 to create it";
  EXPECT_EQ(actual, testing::slurp(path))
      << "output differs from " << path
      << "; if the change is intended, regenerate with MEMOPT_REGENERATE_GOLDEN=1 and review";
}

// The goldens hold statm sizes and buddyinfo orders of 4 KiB pages: each tree says so in its
// proc/page_size, so they hold on a host with any page size.
class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, Text) {
  const auto& scenario = GetParam();
  const auto result = report(scenario);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, IsEmpty());
  EXPECT_EQ(result.out.find('\033'), std::string::npos) << "colour codes when not on a terminal";
  check_golden(mask_text(result.out, scenario), testing::fixture(scenario) + "/expected.txt");
}

TEST_P(Golden, Json) {
  const auto& scenario = GetParam();
  const auto result = report(scenario, {"--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, IsEmpty());
  check_golden(mask_json(result.out, scenario), testing::fixture(scenario) + "/expected.json");
}

TEST_P(Golden, FormatJsonEqualsJsonFlag) {
  const auto& scenario = GetParam();
  const auto a = report(scenario, {"--json"});
  const auto b = report(scenario, {"--format", "json"});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(mask_json(a.out, scenario), mask_json(b.out, scenario));
}

TEST_P(Golden, SeedReportFlagGivesTheSameReport) {
  const auto& scenario = GetParam();
  const std::string root = testing::fixture(scenario);
  const auto seed = testing::run_memopt(
      {"--procfs", root + "/proc", "--sysfs", root + "/sys", "--report", "--json"}, {kNoNvml});
  ASSERT_EQ(seed.exit_code, 0) << seed.err;
  EXPECT_EQ(mask_json(seed.out, scenario), mask_json(report(scenario, {"--json"}).out, scenario));
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Golden, ::testing::ValuesIn(scenarios()),
                         [](const auto& test_info) {
                           std::string name = test_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(GoldenScenarios, EveryFixtureDirectoryIsListed) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(MEMOPT_FIXTURES)) {
    if (std::filesystem::exists(entry.path() / "proc")) found.push_back(entry.path().filename());
  }
  std::sort(found.begin(), found.end());
  auto listed = scenarios();
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(found, listed);
}

TEST(GoldenScenarios, EveryFixtureCarriesThePageSizeOfItsKernel) {
  for (const auto& scenario : scenarios()) {
    EXPECT_EQ(testing::slurp(testing::fixture(scenario) + "/proc/page_size"), "4096\n") << scenario;
  }
}

// A tree captured on a 64 KiB-page host (an arm64 GH200) read anywhere: the same statm pages are
// 16 times the bytes, and the report says so on a 4 KiB host too.
TEST(ReportFacts, ATreeWith64KiBPagesReportsSixteenTimesTheBytesForTheSameStatmPages) {
  testing::TempTree tree;
  tree.copy_fixture("no-memavailable");  // no smaps_rollup: every RSS comes from statm
  const auto rss_by_pid = [&] {
    const auto result = testing::run_memopt({"report", "--procfs", tree.path("proc"), "--sysfs",
                                             tree.path("sys"), "--json", "--top", "10"},
                                            {kNoNvml});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    const Json doc = Json::parse(result.out);
    std::vector<std::pair<int, std::uint64_t>> rss;
    for (const auto& process : doc["processes"]) {
      rss.emplace_back(process["pid"].get<int>(), process["rss_bytes"].get<std::uint64_t>());
    }
    return rss;
  };
  const auto four_kib = rss_by_pid();
  tree.write("proc/page_size", "65536\n");
  const auto sixty_four_kib = rss_by_pid();
  ASSERT_EQ(four_kib.size(), 3u);
  ASSERT_EQ(sixty_four_kib.size(), four_kib.size());
  for (std::size_t i = 0; i < four_kib.size(); ++i) {
    EXPECT_EQ(sixty_four_kib[i].first, four_kib[i].first);
    EXPECT_EQ(sixty_four_kib[i].second, 16 * four_kib[i].second) << "pid " << four_kib[i].first;
  }
  EXPECT_EQ(four_kib[0].second, std::uint64_t{3145728} * kKiB);  // java: 786432 pages of 4 KiB
}

TEST(ReportFacts, AMalformedPageSizeIsAnErrorNamingTheFile) {
  testing::TempTree tree;
  tree.copy_fixture("no-memavailable");
  tree.write("proc/page_size", "64K\n");
  const auto result = testing::run_memopt(
      {"report", "--procfs", tree.path("proc"), "--sysfs", tree.path("sys")}, {kNoNvml});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr(tree.path("proc/page_size")));
}

// ---------------------------------------------------------------------------------------------
// The figures each scenario exists to show, asserted on the JSON so that a regenerated golden
// cannot carry a wrong number unnoticed (README "`memopt report`": never a made-up zero).

struct Facts {
  std::string scenario;
  std::string scope;
  std::uint64_t limit;
  std::uint64_t used;
  std::uint64_t available;
  std::string level;
  int cgroup_version;  // 0: "cgroup" is null
  std::optional<std::uint64_t> cgroup_limit;
  std::vector<int> first_pids;             // the processes, in order (PSS, largest first)
  std::vector<std::string> advice;         // ids that must be present
  std::vector<std::string> absent_advice;  // ids that must not be
};

void PrintTo(const Facts& facts, std::ostream* os) { *os << facts.scenario; }

class GoldenFacts : public ::testing::TestWithParam<Facts> {};

TEST_P(GoldenFacts, Json) {
  const auto& facts = GetParam();
  const auto result = report(facts.scenario, {"--json", "--top", "10"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json doc = Json::parse(result.out);

  EXPECT_EQ(doc["schema"], "memopt.report/1");
  const auto& memory = doc["memory"];
  EXPECT_EQ(memory["scope"], facts.scope);
  EXPECT_EQ(memory["limit_bytes"].get<std::uint64_t>(), facts.limit);
  EXPECT_EQ(memory["used_bytes"].get<std::uint64_t>(), facts.used);
  EXPECT_EQ(memory["available_bytes"].get<std::uint64_t>(), facts.available);
  EXPECT_NEAR(memory["used_percent"].get<double>(),
              100.0 * static_cast<double>(facts.used) / static_cast<double>(facts.limit), 0.005);
  EXPECT_EQ(doc["status"]["level"], facts.level);

  if (facts.cgroup_version == 0) {
    EXPECT_TRUE(doc["cgroup"].is_null());
  } else {
    ASSERT_TRUE(doc["cgroup"].is_object());
    EXPECT_EQ(doc["cgroup"]["version"], facts.cgroup_version);
    if (facts.cgroup_limit) {
      EXPECT_EQ(doc["cgroup"]["limit_bytes"].get<std::uint64_t>(), *facts.cgroup_limit);
    } else {
      EXPECT_TRUE(doc["cgroup"]["limit_bytes"].is_null());
    }
  }

  std::vector<int> pids;
  for (const auto& p : doc["processes"]) pids.push_back(p["pid"].get<int>());
  EXPECT_EQ(pids, facts.first_pids);

  std::vector<std::string> ids;
  for (const auto& a : doc["advice"]) ids.push_back(a["id"].get<std::string>());
  for (const auto& id : facts.advice) EXPECT_THAT(ids, Contains(id));
  for (const auto& id : facts.absent_advice) EXPECT_THAT(ids, Not(Contains(id)));
  EXPECT_THAT(ids, Contains("no_nvml"));
  EXPECT_TRUE(doc["gpus"].is_array() && doc["gpus"].empty());
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, GoldenFacts,
    ::testing::Values(
        // This machine: v1 memory cgroup with no limit anywhere up the tree: the host's figures.
        Facts{"hybrid-v1-this-machine",
              "host",
              25276063744,
              1193299968,
              24082763776,
              "normal",
              1,
              std::nullopt,
              {4385, 1210, 3921},
              {"swap_off", "no_cgroup_psi"},
              {"rss_double_counts", "available_estimated"}},
        // The pod's 1 GiB, not the container's own 2 GiB; used = working set 800 MiB.
        Facts{"v2-nested-parent-limit",
              "container",
              1 * kGiB,
              800 * kMiB,
              224 * kMiB,
              "acceptable",
              2,
              1 * kGiB,
              {1, 7},
              {"available_below_recommended", "oom_kills"},
              {"swap_off", "no_peak", "no_cgroup_psi"}},
        Facts{"v2-max-everywhere",
              "host",
              33567641600,
              12092805120,
              20 * kGiB,
              "normal",
              2,
              std::nullopt,
              {23, 24, 1},
              {"swap_off"},
              {"oom_kills"}},
        Facts{"v1-unlimited",
              "host",
              16701730816,
              5414854656,
              11286876160,
              "normal",
              1,
              std::nullopt,
              {1360, 1342, 1401},
              {"no_host_psi", "no_cgroup_psi", "rss_double_counts"},
              {"swap_off"}},
        // 435 MiB working set of a 512 MiB limit: 85%, a warning; 77 MiB left.
        Facts{"v1-limited",
              "container",
              512 * kMiB,
              435 * kMiB,
              77 * kMiB,
              "warning",
              1,
              512 * kMiB,
              {1, 9},
              {"available_below_minimum", "oom_kills", "cgroup_path_remapped"},
              {"no_swap_limit"}},
        Facts{"no-memory-controller",
              "host",
              67411394560,
              48753033216,
              18658361344,
              "acceptable",
              0,
              std::nullopt,
              {2240, 1, 2211},
              {"no_memory_controller"},
              {}},
        // MemFree + Buffers + Cached - Shmem stands in for MemAvailable.
        Facts{"no-memavailable",
              "host",
              8370200576,
              4487172096,
              3883028480,
              "normal",
              1,
              std::nullopt,
              {1022, 1187, 1},
              {"available_estimated", "pss_unknown", "no_swap_accounting"},
              {"rss_double_counts"}},
        // redis-server has the smallest RSS but the largest PSS: it comes first.
        Facts{"shared-workers",
              "container",
              8 * kGiB,
              2100 * kMiB,
              6387924992,
              "normal",
              2,
              8 * kGiB,
              {200, 100, 101, 102, 103, 104, 1},
              {"rss_double_counts", "swap_off"},
              {}},
        Facts{"v2-without-optional-files",
              "container",
              4 * kGiB,
              3790 * kMiB,
              306 * kMiB,
              "severe",
              2,
              4 * kGiB,
              {1, 42, 88},
              {"no_peak", "no_swap_accounting", "no_cgroup_psi", "no_host_psi", "pss_unknown"},
              {}},
        // memopt's own 64 MiB sidecar container, and its process only: the model's container
        // beside it is reached with --cgroup/--pid (tests/cli/target_test.cpp).
        Facts{"v2-sidecar-pod",
              "container",
              64 * kMiB,
              6656 * 1024,
              64 * kMiB - 6656 * 1024,
              "normal",
              2,
              64 * kMiB,
              {30},
              {"available_below_minimum"},  // 57.5 MiB: a 64 MiB container always is
              {"memory_pressure", "cgroup_unreadable"}},
        // One odd source costs only its own fields (docs/report-schema.md "Unknown per field").
        // A later kernel's extra PSI line is skipped; both PSI readings stand.
        Facts{"psi-unknown-line",
              "container",
              1 * kGiB,
              800 * kMiB,
              224 * kMiB,
              "acceptable",
              2,
              1 * kGiB,
              {1, 7},
              {"psi_line_ignored", "oom_kills"},
              {"psi_unreadable"}},
        // oomd's older fixtures' format ("aggr N" / "some 1.11 2.22 3.33"): no cgroup PSI.
        Facts{"psi-oomd-experimental",
              "container",
              1 * kGiB,
              800 * kMiB,
              224 * kMiB,
              "acceptable",
              2,
              1 * kGiB,
              {1, 7},
              {"psi_unreadable"},
              {"psi_line_ignored", "no_cgroup_psi"}},
        Facts{"buddyinfo-malformed",
              "container",
              512 * kMiB,
              435 * kMiB,
              77 * kMiB,
              "warning",
              1,
              512 * kMiB,
              {1, 9},
              {"buddyinfo_unreadable", "oom_kills"},
              {}},
        // Without memory.stat the working set is the whole usage (900 MiB of 1 GiB: 87.9%).
        Facts{"v2-no-memory-stat",
              "container",
              1 * kGiB,
              900 * kMiB,
              124 * kMiB,
              "warning",
              2,
              1 * kGiB,
              {1, 7},
              {"memory_stat_unreadable"},
              {}},
        // No root memory.usage_in_bytes: found where mountinfo says the hierarchy is.
        Facts{"v1-mountinfo-no-root-files",
              "container",
              512 * kMiB,
              435 * kMiB,
              77 * kMiB,
              "warning",
              1,
              512 * kMiB,
              {1, 9},
              {"available_below_minimum", "no_cgroup_psi"},
              {"cgroup_unreadable", "cgroup_path_remapped"}}),
    [](const auto& test_info) {
      std::string name = test_info.param.scenario;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(ReportFacts, UnknownValuesAreNullNeverZero) {
  const auto result = report("v2-without-optional-files", {"--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json doc = Json::parse(result.out);
  const auto& cg = doc["cgroup"];
  EXPECT_TRUE(cg["peak_bytes"].is_null());
  EXPECT_TRUE(cg["swap_usage_bytes"].is_null());
  EXPECT_TRUE(cg["swap_limit_bytes"].is_null());
  EXPECT_TRUE(cg["pressure"].is_null());
  EXPECT_EQ(cg["oom_kill_events"], 0);
  const auto& sandboxed = doc["processes"][1];
  EXPECT_EQ(sandboxed["name"], "uvicorn");
  EXPECT_GT(sandboxed["rss_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_TRUE(sandboxed["pss_bytes"].is_null());
  EXPECT_TRUE(sandboxed["uss_bytes"].is_null());
  EXPECT_TRUE(sandboxed["swap_bytes"].is_null());

  const auto text = report("v2-without-optional-files");
  EXPECT_THAT(text.out, ::testing::HasSubstr("peak unknown"));
  EXPECT_THAT(text.out, ::testing::HasSubstr("swap unknown (limit unknown)"));
}

/// The message of the advice `id` in a JSON report, or "" when there is none.
std::string advice_message(const Json& doc, const std::string& id) {
  for (const auto& a : doc["advice"]) {
    if (a["id"] == id) return a["message"].get<std::string>();
  }
  return {};
}

TEST(ReportFacts, AnOddSourceIsNullWithANoteNamingTheFileAndLine) {
  auto doc = Json::parse(report("psi-oomd-experimental", {"--json"}).out);
  EXPECT_TRUE(doc["cgroup"]["pressure"].is_null());
  EXPECT_TRUE(doc["host"]["pressure"].is_object());
  EXPECT_THAT(advice_message(doc, "psi_unreadable"),
              HasSubstr("/kubepods/pod1/ctr/memory.pressure: line 1: "));

  doc = Json::parse(report("psi-unknown-line", {"--json"}).out);
  EXPECT_DOUBLE_EQ(doc["cgroup"]["pressure"]["full_avg10"].get<double>(), 1.10);
  EXPECT_DOUBLE_EQ(doc["host"]["pressure"]["some_avg10"].get<double>(), 0.12);
  EXPECT_THAT(advice_message(doc, "psi_line_ignored"), HasSubstr(": line 3: ignored 'throttled"));

  doc = Json::parse(report("buddyinfo-malformed", {"--json"}).out);
  EXPECT_TRUE(doc["fragmentation"].is_null());
  EXPECT_THAT(advice_message(doc, "buddyinfo_unreadable"), HasSubstr("/proc/buddyinfo: line 3: "));

  doc = Json::parse(report("v2-no-memory-stat", {"--json"}).out);
  const auto& cg = doc["cgroup"];
  for (const char* key :
       {"inactive_file_bytes", "active_file_bytes", "anon_bytes", "file_bytes", "shmem_bytes"}) {
    EXPECT_TRUE(cg[key].is_null()) << key;
  }
  EXPECT_EQ(cg["working_set_bytes"], cg["usage_bytes"]);
  EXPECT_THAT(advice_message(doc, "memory_stat_unreadable"),
              HasSubstr("/kubepods/pod1/ctr/memory.stat is absent"));
  EXPECT_EQ(report("v2-no-memory-stat", {"--check"}).exit_code, 1);  // warning, not unknown
}

TEST(ReportContainers, OneOddContainerDoesNotCostTheOthers) {
  testing::TempTree tree;
  tree.copy_fixture("v2-no-memory-stat");
  // A fourth container whose usage cannot be read: left out, with a note; the rest listed.
  tree.write("sys/fs/cgroup/kubepods/pod4/ctr/memory.current", "\n");
  tree.write("sys/fs/cgroup/kubepods/pod4/ctr/memory.max", "268435456\n");
  const auto result =
      testing::run_memopt({"report", "--procfs", tree.path("proc"), "--sysfs", tree.path("sys"),
                           "--cgroup", "/", "--containers", "--json"},
                          {kNoNvml});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json doc = Json::parse(result.out);
  std::vector<std::string> listed;
  for (const auto& c : doc["containers"]) listed.push_back(c["cgroup"].get<std::string>());
  EXPECT_THAT(listed, ::testing::UnorderedElementsAre("/kubepods/pod1/ctr", "/kubepods/pod2/ctr",
                                                      "/kubepods/pod3/ctr"));
  std::vector<std::string> messages;
  for (const auto& a : doc["advice"]) messages.push_back(a["message"].get<std::string>());
  EXPECT_THAT(messages, Contains(HasSubstr("pod1/ctr/memory.stat is absent")));
  EXPECT_THAT(messages, Contains(HasSubstr("pod3/ctr/memory.stat: line 8: ")));
  EXPECT_THAT(messages, Contains(AllOf(HasSubstr("container /kubepods/pod4/ctr not listed"),
                                       HasSubstr("pod4/ctr/memory.current"))));
}

TEST(ReportFacts, OldKernelHostMemoryIsEstimated) {
  const auto result = report("no-memavailable", {"--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json doc = Json::parse(result.out);
  EXPECT_TRUE(doc["cgroup"]["shmem_bytes"].is_null());
  EXPECT_TRUE(doc["cgroup"]["oom_kill_events"].is_null());
  for (const auto& p : doc["processes"]) EXPECT_TRUE(p["pss_bytes"].is_null());
  EXPECT_THAT(report("no-memavailable").out, ::testing::HasSubstr("(estimated)"));
}

TEST(ReportFacts, TopLimitsTheProcessList) {
  const auto five = Json::parse(report("shared-workers", {"--json"}).out);
  EXPECT_EQ(five["processes"].size(), 5u);
  const auto two = Json::parse(report("shared-workers", {"--json", "--top", "2"}).out);
  ASSERT_EQ(two["processes"].size(), 2u);
  EXPECT_EQ(two["processes"][0]["pid"], 200);
  EXPECT_EQ(two["processes"][1]["pid"], 100);
  const auto none = Json::parse(report("shared-workers", {"--json", "--top", "0"}).out);
  EXPECT_TRUE(none["processes"].empty());
  const auto text = report("shared-workers", {"--top", "1"});
  EXPECT_THAT(text.out, ::testing::HasSubstr("top 1 by PSS of 7 in cgroup /"));
}

TEST(ReportFacts, ModelBelowItsMinimumIsAWarning) {
  // The seed's table: VAD needs 1.5 GiB at least; a 512 MiB container is far below.
  const auto result = report("v1-limited", {"--json", "--model", "VAD"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const Json doc = Json::parse(result.out);
  bool found = false;
  for (const auto& a : doc["advice"]) {
    if (a["id"] == "limit_below_model_minimum") {
      found = true;
      EXPECT_EQ(a["severity"], "warning");
      // The exact flags `memopt recommend --model vad` prints, never "--memory=3.00 GiB".
      EXPECT_THAT(a["message"].get<std::string>(),
                  ::testing::HasSubstr("run with --memory=3g --memory-swap=6g"));
      EXPECT_THAT(a["message"].get<std::string>(),
                  ::testing::Not(::testing::HasSubstr("--memory=3.00")));
    }
  }
  EXPECT_TRUE(found) << doc["advice"].dump(2);
}

TEST(ReportFacts, NeverPrintsCommandLines) {
  // The fixtures hold no cmdline files; a secret planted in one must not come out.
  testing::TempTree tree;
  tree.copy_fixture("shared-workers");
  tree.write("proc/100/cmdline", std::string("python3\0--api-key=SECRET-TOKEN\0", 31));
  for (const auto* format : {"text", "json"}) {
    const auto result = testing::run_memopt(
        {"report", "--procfs", tree.path("proc"), "--sysfs", tree.path("sys"), "--format", format},
        {kNoNvml});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out.find("SECRET"), std::string::npos) << format;
  }
}

// `memopt diagnose` on a container the OOM killer visited, with Docker's 64 MiB /dev/shm:
// goldens beside the report's (expected-diagnose.txt/.json), and the ranking asserted.
class DiagnoseGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    // The environment checks read memopt's own environment: keep the test's out of it.
    for (const char* name :
         {"MALLOC_ARENA_MAX", "MALLOC_TRIM_THRESHOLD_", "PYTORCH_CUDA_ALLOC_CONF"}) {
      ::unsetenv(name);
    }
  }

  testing::RunResult diagnose(const std::vector<std::string>& extra) const {
    std::vector<std::string> args{"diagnose", "--procfs", root_ + "/proc", "--sysfs",
                                  root_ + "/sys"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::run_memopt(args, {kNoNvml, "MEMOPT_KERNEL_LOG=" + root_ + "/kernel.log"});
  }

  const std::string scenario_ = "v2-oom-killed-small-shm";
  const std::string root_ = testing::fixture(scenario_);
};

TEST_F(DiagnoseGolden, Text) {
  const auto result = diagnose({});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  check_golden(mask_text(result.out, scenario_), root_ + "/expected-diagnose.txt");
}

TEST_F(DiagnoseGolden, JsonRanksTheOomKillFirstAndFindsTheSmallShm) {
  const auto result = diagnose({"--json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  check_golden(mask_json(result.out, scenario_), root_ + "/expected-diagnose.json");
  const auto doc = nlohmann::json::parse(result.out);
  EXPECT_EQ(doc["schema"], "memopt.diagnose/1");
  EXPECT_EQ(doc["report"]["memory"]["limit_bytes"], 1u << 30);  // the pod's limit, not the host's
  EXPECT_EQ(doc["oom_kills"]["cgroup_counter"], 2);
  // Two kills in this container; the third log entry is another pod's and is left out.
  ASSERT_EQ(doc["oom_kills"]["kernel_log"].size(), 2u);
  EXPECT_EQ(doc["oom_kills"]["kernel_log"][0]["name"], "python3");
  EXPECT_EQ(doc["oom_kills"]["kernel_log"][1]["name"], "pt_data_worker");
  EXPECT_EQ(doc["environment"]["dev_shm"]["size_bytes"], 64u << 20);
  const auto& findings = doc["findings"];
  ASSERT_GE(findings.size(), 2u);
  EXPECT_EQ(findings[0]["id"], "oom_killed");
  EXPECT_EQ(findings[0]["severity"], "critical");
  bool shm = false;
  for (const auto& f : findings) {
    if (f["id"] == "small_dev_shm") {
      shm = true;
      EXPECT_EQ(f["severity"], "warning");
      EXPECT_THAT(f["fix"].get<std::string>(), HasSubstr("--shm-size=1g"));
    }
  }
  EXPECT_TRUE(shm);
}

}  // namespace
}  // namespace memopt::cli
