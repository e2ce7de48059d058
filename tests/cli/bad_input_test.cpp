// `memopt report` on broken trees and bad flags: exit 1 with exactly one line on stderr naming
// the file for bad content, exit 2 for usage errors, and the monitoring-plugin codes of
// `report --check` (0 normal/acceptable, 1 warning, 2 severe/danger, 3 unknown).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

testing::RunResult report_on(const std::string& procfs, const std::string& sysfs,
                             std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"report", "--procfs", procfs, "--sysfs", sysfs};
  args.insert(args.end(), extra.begin(), extra.end());
  return testing::run_memopt(args, {kNoNvml});
}

testing::RunResult report_on(const testing::TempTree& tree, std::vector<std::string> extra = {}) {
  return report_on(tree.path("proc"), tree.path("sys"), std::move(extra));
}

testing::RunResult report_on_fixture(const std::string& scenario,
                                     std::vector<std::string> extra = {}) {
  const std::string root = testing::fixture(scenario);
  return report_on(root + "/proc", root + "/sys", std::move(extra));
}

/// Exactly one newline-terminated line.
bool one_line(const std::string& text) {
  return !text.empty() && text.back() == '\n' && std::count(text.begin(), text.end(), '\n') == 1;
}

// ---------------------------------------------------------------------------------------------
// missing sources

TEST(BadInput, MissingProcfsRoot) {
  const auto result = report_on("/nonexistent/proc", "/nonexistent/sys");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_TRUE(one_line(result.err)) << result.err;
  EXPECT_THAT(result.err, StartsWith("memopt: "));
  EXPECT_THAT(result.err, HasSubstr("/nonexistent/proc/meminfo"));
}

TEST(BadInput, MissingMeminfo) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.remove("proc/meminfo");
  const auto result = report_on(tree);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_TRUE(one_line(result.err)) << result.err;
  EXPECT_THAT(result.err, HasSubstr(tree.path("proc/meminfo")));
}

TEST(BadInput, MissingOptionalSourcesAreNotErrors) {
  // No PSI, no buddyinfo, no self/cgroup, no processes: a report all the same.
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.remove("proc/pressure");
  tree.remove("proc/buddyinfo");
  tree.remove("proc/self");
  tree.remove("proc/1");
  tree.remove("proc/7");
  tree.remove("sys");
  for (const auto& extra : {std::vector<std::string>{}, std::vector<std::string>{"--json"}}) {
    const auto result = report_on(tree, extra);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_THAT(result.err, IsEmpty());
    EXPECT_THAT(result.out, HasSubstr("fragmentation unknown"));
  }
}

// ---------------------------------------------------------------------------------------------
// malformed content: exit 1, one line naming the file (and the line where there is one)

struct BadFile {
  std::string name;
  std::string scenario;
  std::string file;  // relative to the scenario root
  std::string content;
  std::string names;  // what the message must say besides the path, e.g. "line 2"
};

void PrintTo(const BadFile& bad, std::ostream* os) { *os << bad.name; }

class MalformedFile : public ::testing::TestWithParam<BadFile> {
 protected:
  /// A copy of the scenario with the bad file written; returns the file's full path.
  std::string prepare() {
    tree_.copy_fixture(GetParam().scenario);
    return tree_.write(GetParam().file, GetParam().content);
  }
  testing::TempTree tree_;
};

TEST_P(MalformedFile, TextExitsOneWithOneLineNamingTheFile) {
  const std::string path = prepare();
  const auto result = report_on(tree_);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_TRUE(one_line(result.err)) << result.err;
  EXPECT_THAT(result.err, StartsWith("memopt: while reading " + path + ": "));
  EXPECT_THAT(result.err, HasSubstr(GetParam().names));
}

TEST_P(MalformedFile, JsonExitsOneWithTheSameLine) {
  (void)prepare();
  const auto text = report_on(tree_);
  const auto json = report_on(tree_, {"--json"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out, IsEmpty());
  EXPECT_EQ(json.err, text.err);
}

TEST_P(MalformedFile, CheckSaysUnknown) {
  const std::string path = prepare();
  const auto result = report_on(tree_, {"--check"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(one_line(result.out)) << result.out;
  EXPECT_THAT(result.out, StartsWith("MEMOPT UNKNOWN - while reading " + path + ": "));
}

const std::string kCtr = "sys/fs/cgroup/kubepods/pod1/ctr/";

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedFile,
    ::testing::Values(
        BadFile{"MeminfoNonNumeric", "v2-nested-parent-limit", "proc/meminfo",
                "MemTotal: 16369728 kB\nMemFree: lots kB\n", "line 2: expected a number of kB"},
        BadFile{"MeminfoNegative", "v2-nested-parent-limit", "proc/meminfo",
                "MemTotal: 16369728 kB\nMemFree: 9123456 kB\nMemAvailable: -1 kB\n", "line 3"},
        BadFile{"MeminfoTruncated", "v2-nested-parent-limit", "proc/meminfo",
                "MemTotal:       16369728 kB\nMemFree:        91234", "line 2"},
        BadFile{"MeminfoOnlyTotal", "v2-nested-parent-limit", "proc/meminfo",
                "MemTotal:       16369728 kB\n", "MemFree is missing"},
        BadFile{"MeminfoEmpty", "v2-nested-parent-limit", "proc/meminfo", "",
                "MemTotal is missing"},
        BadFile{"SelfCgroup", "v2-nested-parent-limit", "proc/self/cgroup",
                "0::/kubepods/pod1/ctr\ngarbage\n", "line 2: expected 'ID:controllers:path'"},
        BadFile{"SelfCgroupRelativePath", "v1-limited", "proc/self/cgroup", "7:memory:docker\n",
                "line 1"}),
    [](const auto& test_info) { return test_info.param.name; });

// The target's own usage or limit: the document says "unknown" and names the file; the exit
// code says the main job could not be done (README: 1, and 3 for --check).
class MalformedUsageOrLimit : public MalformedFile {};

TEST_P(MalformedUsageOrLimit, IsAnUnknownDocumentNamingTheFile) {
  const std::string path = prepare();
  const auto json = report_on(tree_, {"--json"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_TRUE(one_line(json.err)) << json.err;
  EXPECT_THAT(json.err, HasSubstr("while reading " + path + ": "));
  EXPECT_THAT(json.err, HasSubstr(GetParam().names));
  EXPECT_THAT(json.out, HasSubstr(R"("level": "unknown")"));
  EXPECT_THAT(json.out, HasSubstr(R"("memory": null)"));

  const auto check = report_on(tree_, {"--check"});
  EXPECT_EQ(check.exit_code, 3);
  EXPECT_TRUE(one_line(check.out)) << check.out;
  EXPECT_THAT(check.out, StartsWith("MEMOPT UNKNOWN - "));
  EXPECT_THAT(check.out, HasSubstr(path));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedUsageOrLimit,
    ::testing::Values(BadFile{"MemoryMaxOfTheParent", "v2-nested-parent-limit",
                              "sys/fs/cgroup/kubepods/pod1/memory.max", "1G\n",
                              "line 1: expected a number or 'max', got '1G'"},
                      BadFile{"MemoryMaxNegative", "v2-nested-parent-limit", kCtr + "memory.max",
                              "-1\n", "line 1"},
                      BadFile{"MemoryCurrent", "v2-nested-parent-limit", kCtr + "memory.current",
                              "\n", "expected a number"},
                      BadFile{"MemoryUsageInBytesV1", "v1-limited",
                              "sys/fs/cgroup/memory/memory.usage_in_bytes", "lots\n", "line 1"}),
    [](const auto& test_info) { return test_info.param.name; });

// Every other source: its fields are null, a note names the file and line, the report stands.
class MalformedOptionalFile : public MalformedFile {};

TEST_P(MalformedOptionalFile, NullsOnlyItsFieldsWithANote) {
  const std::string path = prepare();
  const auto json = report_on(tree_, {"--json"});
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.err, IsEmpty());
  EXPECT_THAT(json.out, HasSubstr("while reading " + path + ": "));
  EXPECT_THAT(json.out, HasSubstr(GetParam().names));
  EXPECT_THAT(json.out, Not(HasSubstr(R"("level": "unknown")")));
  EXPECT_NE(report_on(tree_, {"--check"}).exit_code, 3);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MalformedOptionalFile,
    ::testing::Values(
        // One process's file costs that process's PSS (or the process), not the document.
        BadFile{"SmapsRollup", "shared-workers", "proc/101/smaps_rollup",
                "Rss: 1153434 kB\nPss: -1 kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: 0 kB\n",
                "line 2: expected a number of kB for Pss"},
        BadFile{"SmapsRollupTruncated", "shared-workers", "proc/101/smaps_rollup",
                "Rss: 1153434 kB\nPss: 28", "line 2"},
        BadFile{"Statm", "no-memavailable", "proc/1187/statm", "garbage\n", "line 1"},
        BadFile{"MemoryStatV2", "v2-nested-parent-limit", kCtr + "memory.stat",
                "anon 786432000\nfile many\n", "line 2: expected 'key number', got 'file many'"},
        BadFile{"MemoryStatV2WithoutInactiveFile", "v2-nested-parent-limit", kCtr + "memory.stat",
                "anon 786432000\nfile 146800640\n", "inactive_file is missing"},
        BadFile{"MemoryStatV1", "v1-limited", "sys/fs/cgroup/memory/memory.stat",
                "cache 1\nrss 2\ntotal_inactive_file -3\n", "line 3"},
        BadFile{"MemoryEvents", "v2-nested-parent-limit", kCtr + "memory.events",
                "oom 1\noom_kill\n", "line 2"},
        BadFile{"CgroupPressure", "v2-nested-parent-limit", kCtr + "memory.pressure",
                "some avg10=nan avg60=0 avg300=0 total=0\n", "line 1"},
        BadFile{"HostPressure", "v2-nested-parent-limit", "proc/pressure/memory",
                "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
                "expected a 'some' and a 'full'"},
        BadFile{"Buddyinfo", "v2-nested-parent-limit", "proc/buddyinfo",
                "Node 0, zone Normal 1 x\n", "line 1: bad free-block count 'x'"}),
    [](const auto& test_info) { return test_info.param.name; });

// ---------------------------------------------------------------------------------------------
// usage errors: exit 2

TEST(BadFlags, TopNotANumber) {
  const auto result = report_on_fixture("v2-nested-parent-limit", {"--top", "abc"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, HasSubstr("--top"));
}

TEST(BadFlags, TopNegative) {
  EXPECT_EQ(report_on_fixture("v2-nested-parent-limit", {"--top", "-1"}).exit_code, 2);
}

TEST(BadFlags, UnknownFlag) {
  const auto result = report_on_fixture("v2-nested-parent-limit", {"--frobnicate"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.out, IsEmpty());
  EXPECT_THAT(result.err, HasSubstr("--frobnicate"));
}

TEST(BadFlags, UnknownFormat) {
  const auto result = report_on_fixture("v2-nested-parent-limit", {"--format", "xml"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("xml"));
}

TEST(BadFlags, UnknownSubcommandOrNone) {
  EXPECT_EQ(testing::run_memopt({"frobnicate"}, {kNoNvml}).exit_code, 2);
  EXPECT_EQ(testing::run_memopt({}, {kNoNvml}).exit_code, 2);
}

TEST(BadFlags, UnknownModelListsTheKnownOnes) {
  const std::string root = testing::fixture("v2-nested-parent-limit");
  // The global flag before the subcommand and after it.
  for (const auto& args : {std::vector<std::string>{"--model", "nosuch", "report", "--procfs",
                                                    root + "/proc", "--sysfs", root + "/sys"},
                           std::vector<std::string>{"report", "--procfs", root + "/proc", "--sysfs",
                                                    root + "/sys", "--model", "nosuch"}}) {
    const auto result = testing::run_memopt(args, {kNoNvml});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_THAT(result.out, IsEmpty());
    EXPECT_TRUE(one_line(result.err)) << result.err;
    EXPECT_THAT(result.err, HasSubstr("nosuch"));
    EXPECT_THAT(result.err, HasSubstr("maptr, petr, streampetr, topomlp, vad"));
  }
}

TEST(BadFlags, GlobalFlagsWorkBeforeTheSubcommand) {
  const std::string root = testing::fixture("v2-nested-parent-limit");
  const auto result = testing::run_memopt(
      {"--procfs", root + "/proc", "--sysfs", root + "/sys", "report", "--check"}, {kNoNvml});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, StartsWith("MEMOPT ACCEPTABLE - "));
}

// ---------------------------------------------------------------------------------------------
// report --check: plugin exit codes, one line with perfdata

struct CheckCase {
  std::string scenario;
  int exit_code;
  std::string level;
};

void PrintTo(const CheckCase& c, std::ostream* os) { *os << c.scenario; }

class Check : public ::testing::TestWithParam<CheckCase> {};

TEST_P(Check, ExitCodeFollowsTheLevel) {
  const auto& param = GetParam();
  const auto result = report_on_fixture(param.scenario, {"--check"});
  EXPECT_EQ(result.exit_code, param.exit_code) << result.out << result.err;
  EXPECT_TRUE(one_line(result.out)) << result.out;
  EXPECT_THAT(result.out, StartsWith("MEMOPT " + param.level + " - "));
  EXPECT_THAT(result.out, HasSubstr(" | used_percent="));
  EXPECT_THAT(result.err, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, Check,
                         ::testing::Values(CheckCase{"v2-max-everywhere", 0, "NORMAL"},
                                           CheckCase{"v2-nested-parent-limit", 0, "ACCEPTABLE"},
                                           CheckCase{"no-memory-controller", 0, "ACCEPTABLE"},
                                           CheckCase{"v1-limited", 1, "WARNING"},
                                           CheckCase{"v2-without-optional-files", 2, "SEVERE"}),
                         [](const auto& test_info) {
                           std::string name = test_info.param.scenario;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(CheckTree, DangerIsTwo) {
  // 475 MiB working set of 512 MiB: 37 MiB left, under the 50 MiB danger mark.
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("sys/fs/cgroup/memory/memory.usage_in_bytes", "545259520\n");
  const auto result = report_on(tree, {"--check"});
  EXPECT_EQ(result.exit_code, 2) << result.out;
  EXPECT_THAT(result.out, StartsWith("MEMOPT DANGER - "));
}

TEST(CheckTree, MissingMeminfoIsThree) {
  testing::TempTree tree;
  tree.copy_fixture("v2-max-everywhere");
  tree.remove("proc/meminfo");
  const auto result = report_on(tree, {"--check"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_TRUE(one_line(result.out)) << result.out;
  EXPECT_THAT(result.out, StartsWith("MEMOPT UNKNOWN - "));
  EXPECT_THAT(result.out, HasSubstr(tree.path("proc/meminfo")));
}

TEST(CheckTree, MissingProcfsRootIsThree) {
  const auto result = report_on("/nonexistent/proc", "/nonexistent/sys", {"--check"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_THAT(result.out, StartsWith("MEMOPT UNKNOWN - "));
  EXPECT_THAT(result.out, HasSubstr("/nonexistent/proc"));
}

}  // namespace
}  // namespace memopt::cli
