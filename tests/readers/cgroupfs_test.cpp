// The cgroup parsers against captured and malformed text, and read_cgroup against the fixture
// trees (tests/fixtures/<scenario>/{proc,sys}) and small trees built in a temporary directory.
#include "memopt/readers/cgroupfs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr std::uint64_t kV1KernelUnlimited = 9223372036854771712ULL;  // PAGE_COUNTER_MAX * 4096

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a memopt::Error";
  return {};
}

std::vector<std::string> note_ids(const std::vector<model::Note>& notes) {
  std::vector<std::string> ids;
  for (const auto& note : notes) ids.push_back(note.id);
  return ids;
}

std::string prefix(std::string_view source, int line) {
  std::string out = "while reading " + std::string(source) + ": ";
  if (line > 0) out += "line " + std::to_string(line) + ": ";
  return out;
}

struct Malformed {
  std::string name;
  std::string text;
  int line;
  std::string fragment;
};

std::string PrintName(const ::testing::TestParamInfo<Malformed>& info) { return info.param.name; }

// ---------------------------------------------------------------------------------------------
// single values

TEST(ParseCgroupLimit, NumberOrMax) {
  EXPECT_EQ(parse_cgroup_limit("1073741824\n", "memory.max"), 1073741824u);
  EXPECT_EQ(parse_cgroup_limit("max\n", "memory.max"), std::nullopt);
  EXPECT_EQ(parse_cgroup_limit("0", "memory.swap.max"), 0u);
  EXPECT_EQ(parse_cgroup_limit("  536870912 \n", "memory.max"), 536870912u);
  // v1 writes its "unlimited" as a number; the v1 reader, not this parser, maps it to none.
  EXPECT_EQ(parse_cgroup_limit("9223372036854771712\n", "memory.limit_in_bytes"),
            kV1KernelUnlimited);
}

class ParseCgroupLimitMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseCgroupLimitMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string source = "/sys/fs/cgroup/kubepods/pod1/memory.max";
  const std::string message = error_of([&] { (void)parse_cgroup_limit(param.text, source); });
  EXPECT_THAT(message, StartsWith(prefix(source, param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseCgroupLimitMalformed,
    ::testing::Values(
        Malformed{"NonNumeric", "abc\n", 1, "expected a number or 'max', got 'abc'"},
        Malformed{"Negative", "-1\n", 1, "got '-1'"}, Malformed{"WithUnit", "1G\n", 1, "got '1G'"},
        Malformed{"Fraction", "1.5\n", 1, "got '1.5'"},
        Malformed{"Uppercase", "MAX\n", 1, "got 'MAX'"},
        Malformed{"Overflow", "18446744073709551616\n", 1, "got '18446744073709551616'"},
        Malformed{"TwoValues", "max max\n", 1, "got 'max max'"},
        Malformed{"Truncated", "m", 1, "got 'm'"}, Malformed{"Empty", "", 1, "got ''"},
        Malformed{"Garbage", "\x01\x02\n", 1, "expected a number or 'max'"}),
    PrintName);

TEST(ParseCgroupCounter, Number) {
  EXPECT_EQ(parse_cgroup_counter("943718400\n", "memory.current"), 943718400u);
  EXPECT_EQ(parse_cgroup_counter("0", "memory.current"), 0u);
}

class ParseCgroupCounterMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseCgroupCounterMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string source = "/sys/fs/cgroup/memory/memory.usage_in_bytes";
  const std::string message = error_of([&] { (void)parse_cgroup_counter(param.text, source); });
  EXPECT_THAT(message, StartsWith(prefix(source, param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseCgroupCounterMalformed,
    ::testing::Values(Malformed{"NonNumeric", "lots\n", 1, "expected a number, got 'lots'"},
                      Malformed{"Negative", "-4096\n", 1, "got '-4096'"},
                      Malformed{"Max", "max\n", 1, "got 'max'"},
                      Malformed{"Overflow", "99999999999999999999\n", 1, "got '9999"},
                      Malformed{"TwoValues", "1 2\n", 1, "got '1 2'"},
                      Malformed{"Empty", "", 1, "got ''"},
                      Malformed{"Garbage",
                                "\x7f"
                                "ELF",
                                1, "expected a number"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// memory.stat

TEST(ParseCgroupStat, V2Keys) {
  const auto stat = parse_cgroup_stat(
      "anon 786432000\nfile 146800640\nkernel 6291456\nshmem 4096\ninactive_anon 1\n"
      "active_anon 2\ninactive_file 104857600\nactive_file 41943040\nunevictable 0\n",
      2, "memory.stat");
  EXPECT_EQ(stat.inactive_file, 104857600u);
  EXPECT_EQ(stat.active_file, 41943040u);
  EXPECT_EQ(stat.anon, 786432000u);
  EXPECT_EQ(stat.file, 146800640u);
  EXPECT_EQ(stat.shmem, 4096u);
  EXPECT_EQ(stat.hierarchical_memory_limit, std::nullopt);
}

TEST(ParseCgroupStat, V1TakesTheTotalKeysAndHierarchicalLimits) {
  const std::string path = testing::fixture("hybrid-v1-this-machine") +
                           "/sys/fs/cgroup/memory/process_api/"
                           "1dec267013d3d9dd354c212640038702/memory.stat";
  const auto stat = parse_cgroup_stat(testing::slurp(path), 1, path);
  EXPECT_EQ(stat.inactive_file, 5033984u);
  EXPECT_EQ(stat.active_file, 1884160u);
  EXPECT_EQ(stat.anon, 98459648u);  // total_rss
  EXPECT_EQ(stat.file, 6918144u);   // total_cache
  EXPECT_EQ(stat.shmem, 0u);
  EXPECT_EQ(stat.hierarchical_memory_limit, kV1KernelUnlimited);
  EXPECT_EQ(stat.hierarchical_memsw_limit, kV1KernelUnlimited);
}

TEST(ParseCgroupStat, V1LocalKeysDoNotCountAsTotals) {
  const auto stat =
      parse_cgroup_stat("inactive_file 5\ntotal_inactive_file 50\nrss 7\n", 1, "memory.stat");
  EXPECT_EQ(stat.inactive_file, 50u);
  EXPECT_EQ(stat.anon, std::nullopt);
}

TEST(ParseCgroupStat, V2IgnoresV1Keys) {
  const auto stat = parse_cgroup_stat(
      "inactive_file 5\ntotal_inactive_file 50\nhierarchical_memory_limit 1024\n", 2, "s");
  EXPECT_EQ(stat.inactive_file, 5u);
  EXPECT_EQ(stat.hierarchical_memory_limit, std::nullopt);
}

struct MalformedStat {
  std::string name;
  int version;
  std::string text;
  int line;
  std::string fragment;
};

class ParseCgroupStatMalformed : public ::testing::TestWithParam<MalformedStat> {};

TEST_P(ParseCgroupStatMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string source = "/sys/fs/cgroup/ctr/memory.stat";
  const std::string message =
      error_of([&] { (void)parse_cgroup_stat(param.text, param.version, source); });
  EXPECT_THAT(message, StartsWith(prefix(source, param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseCgroupStatMalformed,
    ::testing::Values(
        MalformedStat{"NonNumeric", 2, "anon 1\nfile many\ninactive_file 0\n", 2,
                      "expected 'key number', got 'file many'"},
        MalformedStat{"Negative", 2, "anon -1\ninactive_file 0\n", 1, "got 'anon -1'"},
        MalformedStat{"ExtraField", 1, "total_rss 1 kB\n", 1, "got 'total_rss 1 kB'"},
        MalformedStat{"KeyWithoutValue", 2, "anon 1\ninactive_file\n", 2, "got 'inactive_file'"},
        MalformedStat{"Truncated", 2, "anon 786432000\nfile 146800640\ninactive_fi", 3,
                      "got 'inactive_fi'"},
        MalformedStat{"MissingInactiveFileV2", 2, "anon 1\nfile 2\nactive_file 3\n", 0,
                      "inactive_file is missing"},
        MalformedStat{"MissingTotalInactiveFileV1", 1, "inactive_file 5\ncache 2\n", 0,
                      "total_inactive_file is missing"},
        MalformedStat{"Empty", 2, "", 0, "inactive_file is missing"},
        MalformedStat{"Garbage", 1, "\x01\x02 \x03\n", 1, "expected 'key number'"}),
    [](const ::testing::TestParamInfo<MalformedStat>& test_info) { return test_info.param.name; });

// ---------------------------------------------------------------------------------------------
// memory.events / memory.oom_control

TEST(ParseOomCounters, V2Events) {
  const auto c = parse_oom_counters(
      "low 0\nhigh 0\nmax 1523\noom 3\noom_kill 2\noom_group_kill 0\n", "memory.events");
  EXPECT_EQ(c.oom, 3u);
  EXPECT_EQ(c.oom_kill, 2u);
  EXPECT_EQ(c.under_oom, std::nullopt);
}

TEST(ParseOomCounters, V1OomControl) {
  const auto c =
      parse_oom_counters("oom_kill_disable 0\nunder_oom 1\noom_kill 7\n", "memory.oom_control");
  EXPECT_EQ(c.oom, std::nullopt);
  EXPECT_EQ(c.oom_kill, 7u);
  EXPECT_EQ(c.under_oom, true);
}

TEST(ParseOomCounters, V1BeforeOomKillCounterAndEmpty) {
  const auto c = parse_oom_counters("oom_kill_disable 0\nunder_oom 0\n", "memory.oom_control");
  EXPECT_EQ(c.oom_kill, std::nullopt);
  EXPECT_EQ(c.under_oom, false);
  const auto empty = parse_oom_counters("", "memory.events");
  EXPECT_EQ(empty.oom, std::nullopt);
  EXPECT_EQ(empty.oom_kill, std::nullopt);
}

class ParseOomCountersMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseOomCountersMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string source = "/sys/fs/cgroup/ctr/memory.events";
  const std::string message = error_of([&] { (void)parse_oom_counters(param.text, source); });
  EXPECT_THAT(message, StartsWith(prefix(source, param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseOomCountersMalformed,
    ::testing::Values(Malformed{"NonNumeric", "low 0\noom_kill x\n", 2,
                                "expected 'key number', got 'oom_kill x'"},
                      Malformed{"Negative", "oom -1\n", 1, "got 'oom -1'"},
                      Malformed{"Truncated", "oom 3\noom_ki", 2, "got 'oom_ki'"},
                      Malformed{"Garbage", "\xff\xff\n", 1, "expected 'key number'"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// read_cgroup against the fixture trees

Roots fixture_roots(std::string_view scenario) {
  const std::string root = testing::fixture(scenario);
  return {root + "/proc", root + "/sys"};
}

Roots tree_roots(const testing::TempTree& tree) { return {tree.path("proc"), tree.path("sys")}; }

TEST(ReadCgroup, HybridV1ThisMachine) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("hybrid-v1-this-machine"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 1);
  EXPECT_EQ(cg->path, "/process_api/1dec267013d3d9dd354c212640038702");
  EXPECT_EQ(cg->limit_bytes, std::nullopt);  // 9223372036854771712 all the way up
  EXPECT_EQ(cg->usage_bytes, 107950080u);
  EXPECT_EQ(cg->working_set_bytes, 107950080u - 5033984u);
  EXPECT_EQ(cg->inactive_file_bytes, 5033984u);
  EXPECT_EQ(cg->active_file_bytes, 1884160u);
  EXPECT_TRUE(cg->swap_accounting);
  EXPECT_EQ(cg->swap_usage_bytes, 109629440u - 107950080u);
  EXPECT_EQ(cg->swap_limit_bytes, std::nullopt);
  EXPECT_EQ(cg->peak_bytes, 309583872u);
  EXPECT_EQ(cg->oom_events, std::nullopt);
  EXPECT_EQ(cg->oom_kill_events, 0u);
  EXPECT_EQ(cg->under_oom, false);
  // The v2 tree's "0::/" is the root, not this cgroup: its pressure is not the container's.
  EXPECT_EQ(cg->pressure, std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_cgroup_psi"));
}

TEST(ReadCgroup, V2NestedParentHasTheTighterLimit) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("v2-nested-parent-limit"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 2);
  EXPECT_EQ(cg->path, "/kubepods/pod1/ctr");
  EXPECT_EQ(cg->limit_bytes, 1 * kGiB);  // the pod's 1 GiB, not the container's 2 GiB
  EXPECT_EQ(cg->usage_bytes, 900 * kMiB);
  EXPECT_EQ(cg->working_set_bytes, 800 * kMiB);
  EXPECT_EQ(cg->inactive_file_bytes, 100 * kMiB);
  EXPECT_EQ(cg->active_file_bytes, 40 * kMiB);
  EXPECT_EQ(cg->anon_bytes, 750 * kMiB);
  EXPECT_EQ(cg->file_bytes, 140 * kMiB);
  EXPECT_EQ(cg->shmem_bytes, 0u);
  EXPECT_TRUE(cg->swap_accounting);
  EXPECT_EQ(cg->swap_limit_bytes, 0u);
  EXPECT_EQ(cg->swap_usage_bytes, 0u);
  EXPECT_EQ(cg->peak_bytes, 1000 * kMiB);
  EXPECT_EQ(cg->oom_events, 3u);
  EXPECT_EQ(cg->oom_kill_events, 2u);
  ASSERT_TRUE(cg->pressure.has_value());
  EXPECT_DOUBLE_EQ(cg->pressure->some_avg10, 2.31);
  EXPECT_DOUBLE_EQ(cg->pressure->full_avg300, 0.20);
  EXPECT_THAT(notes, IsEmpty());
}

TEST(ReadCgroup, V2MaxEverywhereHasNoLimit) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("v2-max-everywhere"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 2);
  EXPECT_EQ(cg->limit_bytes, std::nullopt);
  EXPECT_EQ(cg->swap_limit_bytes, std::nullopt);
  EXPECT_EQ(cg->usage_bytes, 1288490188u);
  EXPECT_EQ(cg->working_set_bytes, 1288490188u - 120 * kMiB);
  EXPECT_EQ(cg->peak_bytes, 1503238553u);
  EXPECT_EQ(cg->oom_kill_events, 0u);
  EXPECT_THAT(notes, IsEmpty());
}

TEST(ReadCgroup, V1Unlimited) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("v1-unlimited"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 1);
  EXPECT_EQ(cg->path, "/system.slice/inference.service");
  EXPECT_EQ(cg->limit_bytes, std::nullopt);
  EXPECT_EQ(cg->usage_bytes, 2 * kGiB);
  EXPECT_EQ(cg->working_set_bytes, 2 * kGiB - 300 * kMiB);
  EXPECT_EQ(cg->swap_usage_bytes, 0u);
  EXPECT_EQ(cg->swap_limit_bytes, std::nullopt);
  EXPECT_EQ(cg->peak_bytes, 2304 * kMiB);
  EXPECT_EQ(cg->pressure, std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_cgroup_psi"));
}

TEST(ReadCgroup, V1LimitedWithoutCgroupNamespace) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("v1-limited"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 1);
  EXPECT_EQ(cg->path, "/docker/9b1e7c03d4a25f68e0b3c7d1a9f2e4b6c8d0a1f3e5b7c9d2e4f6a8b0c1d3e5f7");
  EXPECT_EQ(cg->limit_bytes, 512 * kMiB);
  EXPECT_EQ(cg->usage_bytes, 480 * kMiB);
  EXPECT_EQ(cg->working_set_bytes, 435 * kMiB);
  EXPECT_EQ(cg->swap_usage_bytes, 12 * kMiB);
  EXPECT_EQ(cg->swap_limit_bytes, 512 * kMiB);  // memsw 1 GiB - memory 512 MiB
  EXPECT_EQ(cg->peak_bytes, 506 * kMiB);
  EXPECT_EQ(cg->oom_kill_events, 1u);
  EXPECT_THAT(note_ids(notes), ElementsAre("cgroup_path_remapped", "no_cgroup_psi"));
}

TEST(ReadCgroup, NoMemoryController) {
  std::vector<model::Note> notes;
  EXPECT_EQ(read_cgroup(fixture_roots("no-memory-controller"), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_memory_controller"));
}

TEST(ReadCgroup, OldKernelV1Root) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("no-memavailable"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->path, "/");
  EXPECT_EQ(cg->limit_bytes, std::nullopt);  // 2^63 - 1 on kernels of that era
  EXPECT_EQ(cg->working_set_bytes, 6521094144u - 1536 * kMiB);
  EXPECT_EQ(cg->shmem_bytes, std::nullopt);  // no total_shmem before 4.x
  EXPECT_FALSE(cg->swap_accounting);
  EXPECT_EQ(cg->swap_usage_bytes, std::nullopt);
  EXPECT_EQ(cg->swap_limit_bytes, std::nullopt);
  EXPECT_EQ(cg->oom_kill_events, std::nullopt);  // no oom_kill counter before 4.13
  EXPECT_EQ(cg->under_oom, false);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_swap_accounting", "no_cgroup_psi"));
}

TEST(ReadCgroup, V2CgroupNamespaceRoot) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("shared-workers"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->path, "/");
  EXPECT_EQ(cg->limit_bytes, 8 * kGiB);
  EXPECT_EQ(cg->working_set_bytes, 2100 * kMiB);
  EXPECT_THAT(notes, IsEmpty());
}

TEST(ReadCgroup, V2WithoutOptionalFilesIsNullsAndNotesNeverZero) {
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(fixture_roots("v2-without-optional-files"), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->limit_bytes, 4 * kGiB);
  EXPECT_EQ(cg->working_set_bytes, 3790 * kMiB);
  EXPECT_FALSE(cg->swap_accounting);
  EXPECT_EQ(cg->swap_usage_bytes, std::nullopt);
  EXPECT_EQ(cg->swap_limit_bytes, std::nullopt);
  EXPECT_EQ(cg->peak_bytes, std::nullopt);
  EXPECT_EQ(cg->pressure, std::nullopt);
  EXPECT_EQ(cg->oom_kill_events, 0u);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_swap_accounting", "no_peak", "no_cgroup_psi"));
}

// ---------------------------------------------------------------------------------------------
// read_cgroup edge cases in small trees

TEST(ReadCgroupTree, AbsentSelfCgroupIsANote) {
  testing::TempTree tree;
  tree.mkdir("proc");
  std::vector<model::Note> notes;
  EXPECT_EQ(read_cgroup(tree_roots(tree), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_cgroup"));
}

TEST(ReadCgroupTree, MalformedSelfCgroupIsAnError) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("proc/self/cgroup", "0::/kubepods\nnonsense\n");
  std::vector<model::Note> notes;
  EXPECT_THAT(error_of([&] { (void)read_cgroup(tree_roots(tree), notes); }),
              StartsWith(prefix(tree.path("proc/self/cgroup"), 2)));
}

TEST(ReadCgroupTree, V2SmallestLimitAmongAllAncestors) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("sys/fs/cgroup/kubepods/memory.max", "536870912\n");
  tree.write("sys/fs/cgroup/kubepods/memory.swap.max", "1048576\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->limit_bytes, 512 * kMiB);
  EXPECT_EQ(cg->swap_limit_bytes, 0u);  // the container's own 0 is smaller still
}

TEST(ReadCgroupTree, V2LeafLimitWhenAncestorsHaveNone) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("sys/fs/cgroup/kubepods/pod1/memory.max", "max\n");
  tree.remove("sys/fs/cgroup/kubepods/memory.max");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->limit_bytes, 2 * kGiB);
}

TEST(ReadCgroupTree, V2PathNotVisibleFallsBackToTheMountRoot) {
  // Without a cgroup namespace, /proc/self/cgroup names the host path while /sys/fs/cgroup
  // shows the container's own cgroup.
  testing::TempTree tree;
  tree.copy_fixture("shared-workers");
  tree.write("proc/self/cgroup", "0::/kubepods/burstable/pod9/ctr\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->path, "/kubepods/burstable/pod9/ctr");
  EXPECT_EQ(cg->limit_bytes, 8 * kGiB);
  ASSERT_THAT(note_ids(notes), ElementsAre("cgroup_path_remapped"));
  EXPECT_THAT(notes[0].message, HasSubstr("/kubepods/burstable/pod9/ctr"));
}

TEST(ReadCgroupTree, V2PartlyVisiblePathDropsLeadingComponents) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("proc/self/cgroup", "0::/host.slice/kubepods/pod1/ctr\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->limit_bytes, 1 * kGiB);
  EXPECT_EQ(cg->working_set_bytes, 800 * kMiB);
  EXPECT_THAT(note_ids(notes), ElementsAre("cgroup_path_remapped"));
}

TEST(ReadCgroupTree, V2RootCgroupHasNoContainer) {
  testing::TempTree tree;
  tree.write("proc/self/cgroup", "0::/\n");
  tree.write("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n");
  tree.write("sys/fs/cgroup/cgroup.procs", "1\n");
  std::vector<model::Note> notes;
  EXPECT_EQ(read_cgroup(tree_roots(tree), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_memory_controller"));
}

TEST(ReadCgroupTree, NoCgroupFilesystemAtAll) {
  testing::TempTree tree;
  tree.write("proc/self/cgroup", "0::/\n");
  tree.mkdir("sys");
  std::vector<model::Note> notes;
  EXPECT_EQ(read_cgroup(tree_roots(tree), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_memory_controller"));
}

TEST(ReadCgroupTree, WorkingSetIsClampedAtZero) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("sys/fs/cgroup/kubepods/pod1/ctr/memory.current", "1000\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->usage_bytes, 1000u);
  EXPECT_EQ(cg->working_set_bytes, 0u);
}

TEST(ReadCgroupTree, V2WithoutMemoryEventsLeavesOomUnknown) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.remove("sys/fs/cgroup/kubepods/pod1/ctr/memory.events");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->oom_events, std::nullopt);
  EXPECT_EQ(cg->oom_kill_events, std::nullopt);
}

TEST(ReadCgroupTree, V2SwapMaxWithoutSwapCurrentIsNoAccounting) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.remove("sys/fs/cgroup/kubepods/pod1/ctr/memory.swap.current");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_FALSE(cg->swap_accounting);
  EXPECT_EQ(cg->swap_usage_bytes, std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_swap_accounting"));
}

// A file of the v2 container tree replaced with bad content, and the line its error names.
struct BadFile {
  std::string name;
  std::string file;  // relative to the tree
  std::string content;
  int line;
};

class ReadCgroupV2BadFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(ReadCgroupV2BadFile, IsAnErrorNamingTheFile) {
  const auto& param = GetParam();
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string path = tree.write(param.file, param.content);
  std::vector<model::Note> notes;
  EXPECT_THAT(error_of([&] { (void)read_cgroup(tree_roots(tree), notes); }),
              StartsWith(prefix(path, param.line)));
}

constexpr std::string_view kCtr = "sys/fs/cgroup/kubepods/pod1/ctr/";

// Only the usage and the limit (the container's and its ancestors') make the read fail.
INSTANTIATE_TEST_SUITE_P(
    Cases, ReadCgroupV2BadFile,
    ::testing::Values(
        BadFile{"ParentMemoryMax", "sys/fs/cgroup/kubepods/pod1/memory.max", "1G\n", 1},
        BadFile{"GrandparentMemoryMax", "sys/fs/cgroup/kubepods/memory.max", "-1\n", 1},
        BadFile{"MemoryMax", std::string(kCtr) + "memory.max", "\n", 1},
        BadFile{"MemoryCurrent", std::string(kCtr) + "memory.current", "abc\n", 1}),
    [](const ::testing::TestParamInfo<BadFile>& test_info) { return test_info.param.name; });

/// Every other file degrades: its fields are absent and a note names the file and the line.
class ReadCgroupV2OddFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(ReadCgroupV2OddFile, IsANoteNamingTheFileAndLine) {
  const auto& param = GetParam();
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string path = tree.write(param.file, param.content);
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->usage_bytes, 943718400u);
  EXPECT_EQ(cg->limit_bytes, 1 * kGiB);
  std::vector<std::string> messages;
  for (const auto& note : notes) messages.push_back(note.message);
  EXPECT_THAT(messages, Contains(HasSubstr(prefix(path, param.line))));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReadCgroupV2OddFile,
    ::testing::Values(
        BadFile{"MemoryStat", std::string(kCtr) + "memory.stat", "anon 1\nfile x\n", 2},
        BadFile{"MemoryStatTruncated", std::string(kCtr) + "memory.stat", "anon 1\nfile 2\n", 0},
        BadFile{"SwapMax", std::string(kCtr) + "memory.swap.max", "unlimited\n", 1},
        BadFile{"SwapCurrent", std::string(kCtr) + "memory.swap.current", "-5\n", 1},
        BadFile{"Peak", std::string(kCtr) + "memory.peak", "1e9\n", 1},
        BadFile{"Events", std::string(kCtr) + "memory.events", "oom 1\noom_kill two\n", 2},
        BadFile{"Pressure", std::string(kCtr) + "memory.pressure", "some avg10=1\n", 1},
        BadFile{"PressureOomdExperimental", std::string(kCtr) + "memory.pressure",
                "aggr 128544748770\nsome 1.11 2.22 3.33\nfull 4.44 5.55 6.66\n", 1}),
    [](const ::testing::TestParamInfo<BadFile>& test_info) { return test_info.param.name; });

TEST(ReadCgroupTree, V2MissingMemoryStatMakesTheWorkingSetTheUsage) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.remove("sys/fs/cgroup/kubepods/pod1/ctr/memory.stat");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->working_set_bytes, cg->usage_bytes);
  EXPECT_EQ(cg->inactive_file_bytes, std::nullopt);
  EXPECT_EQ(cg->anon_bytes, std::nullopt);
  EXPECT_EQ(cg->limit_bytes, 1 * kGiB);
  EXPECT_THAT(note_ids(notes), Contains("memory_stat_unreadable"));

  const auto counters = read_cgroup_counters(*locate_cgroup(tree_roots(tree), notes));
  EXPECT_EQ(counters.working_set_bytes, counters.usage_bytes);
  EXPECT_EQ(counters.oom_kill_events, 2u);
}

TEST(ReadCgroupTree, PsiLineOfAnotherKindIsSkippedWithANote) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string path = tree.write(std::string(kCtr) + "memory.pressure",
                                      "some avg10=2.31 avg60=1.05 avg300=0.40 total=12345678\n"
                                      "full avg10=1.10 avg60=0.52 avg300=0.20 total=6543210\n"
                                      "throttled avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value() && cg->pressure.has_value());
  EXPECT_DOUBLE_EQ(cg->pressure->full_avg300, 0.20);
  ASSERT_THAT(note_ids(notes), Contains("psi_line_ignored"));
  std::vector<std::string> messages;
  for (const auto& note : notes) messages.push_back(note.message);
  EXPECT_THAT(messages, Contains(HasSubstr(path + ": line 3: ignored 'throttled")));
}

TEST(ReadCgroupTree, V1WithoutRootFilesIsFoundThroughMountinfo) {
  const auto roots = fixture_roots("v1-mountinfo-no-root-files");
  std::vector<model::Note> notes;
  const auto location = locate_cgroup(roots, notes);
  ASSERT_TRUE(location.has_value()) << (notes.empty() ? "" : notes.back().message);
  EXPECT_EQ(location->version, 1);
  EXPECT_EQ(location->mount,
            testing::fixture("v1-mountinfo-no-root-files") + "/sys/fs/cgroup/memory");
  EXPECT_EQ(location->dir, location->mount + location->path);
  const auto cg = read_cgroup_at(*location, notes);
  EXPECT_EQ(cg.limit_bytes, 512 * kMiB);
}

/// A v1 tree: memory/a/b with limits 1 GiB (a) and 2 GiB (b), no hierarchical_memory_limit.
void write_v1_nested(const testing::TempTree& tree, std::string_view mount = "memory") {
  const std::string m = "sys/fs/cgroup/" + std::string(mount) + "/";
  tree.write("proc/self/cgroup", "5:" + std::string(mount) + ":/a/b\n");
  tree.write(m + "memory.usage_in_bytes", "4000000000\n");
  tree.write(m + "memory.limit_in_bytes", "9223372036854771712\n");
  tree.write(m + "a/memory.usage_in_bytes", "800000000\n");
  tree.write(m + "a/memory.limit_in_bytes", "1073741824\n");
  tree.write(m + "a/b/memory.usage_in_bytes", "700000000\n");
  tree.write(m + "a/b/memory.limit_in_bytes", "2147483648\n");
  tree.write(m + "a/b/memory.stat", "total_inactive_file 100000000\ntotal_rss 600000000\n");
}

TEST(ReadCgroupTree, V1WithoutHierarchicalLimitWalksTheAncestors) {
  testing::TempTree tree;
  write_v1_nested(tree);
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 1);
  EXPECT_EQ(cg->limit_bytes, 1 * kGiB);
  EXPECT_EQ(cg->working_set_bytes, 600000000u);
  EXPECT_EQ(cg->anon_bytes, 600000000u);
  EXPECT_EQ(cg->peak_bytes, std::nullopt);
  EXPECT_EQ(cg->oom_kill_events, std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_swap_accounting", "no_cgroup_psi"));
}

TEST(ReadCgroupTree, V1HierarchicalLimitWins) {
  testing::TempTree tree;
  write_v1_nested(tree);
  tree.write("sys/fs/cgroup/memory/a/b/memory.stat",
             "total_inactive_file 100000000\nhierarchical_memory_limit 805306368\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->limit_bytes, 768 * kMiB);
}

TEST(ReadCgroupTree, V1CoMountedController) {
  testing::TempTree tree;
  write_v1_nested(tree, "hugetlb,memory");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->limit_bytes, 1 * kGiB);
}

// The process is in a v1 memory cgroup that cannot be read: unknown, never the host's scope.
TEST(ReadCgroupTree, V1MemoryLineWithoutAMountIsUnreadable) {
  testing::TempTree tree;
  tree.write("proc/self/cgroup", "4:memory:/docker/abc\n");
  tree.write("sys/fs/cgroup/cpu/cgroup.procs", "1\n");
  std::vector<model::Note> notes;
  EXPECT_EQ(read_cgroup(tree_roots(tree), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("cgroup_unreadable"));
  notes.clear();
  const auto target = locate_target(tree_roots(tree), {}, notes);
  ASSERT_TRUE(target.unreadable.has_value());
  EXPECT_THAT(*target.unreadable, HasSubstr("no memory hierarchy is mounted"));
}

TEST(CgroupMembership, PrefixesAreWholeComponents) {
  const CgroupMembership v2({2, "/sys/fs/cgroup", "/sys/fs/cgroup/a", "/a", std::nullopt});
  EXPECT_EQ(v2.contains("0::/a\n"), true);
  EXPECT_EQ(v2.contains("0::/a/b/c\n"), true);
  EXPECT_EQ(v2.contains("0::/ab\n"), false);
  EXPECT_EQ(v2.contains("0::/\n"), false);
  EXPECT_EQ(v2.contains("0::/../a\n"), std::nullopt);  // outside this cgroup namespace
  const CgroupMembership v1({1, "/m", "/m/a", "/a", std::nullopt});
  EXPECT_EQ(v1.contains("5:cpu:/a\n4:memory:/a/x\n0::/other\n"), true);
  EXPECT_EQ(v1.contains("5:cpu,memory:/b\n"), false);
  EXPECT_EQ(v1.contains("0::/a\n"), false) << "the v2 line is not the v1 memory hierarchy";
}

TEST(ReadMemberPids, TheSubtreesCgroupProcsSortedAndNothingWhenOneIsMissing) {
  testing::TempTree tree;
  tree.write("m/a/cgroup.procs", "30\n7\n");
  tree.write("m/a/b/cgroup.procs", "12\n");
  tree.write("m/a/b/c/cgroup.procs", "");
  tree.write("m/a/memory.limit_in_bytes", "1048576\n");  // a file, not a cgroup
  const CgroupLocation a{1, tree.path("m"), tree.path("m/a"), "/a", std::nullopt};
  EXPECT_EQ(read_member_pids(a), (std::vector<int>{7, 12, 30}));
  // A cgroup without its list (removed while walked): the caller asks each process instead.
  tree.remove("m/a/b/c/cgroup.procs");
  EXPECT_EQ(read_member_pids(a), std::nullopt);
  const CgroupLocation gone{1, tree.path("m"), tree.path("m/gone"), "/gone", std::nullopt};
  EXPECT_EQ(read_member_pids(gone), std::nullopt);
}

TEST(ReadCgroupTree, V1SwapUsageNeverNegative) {
  // memsw.usage is updated separately and can lag usage_in_bytes for a moment.
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("sys/fs/cgroup/memory/memory.memsw.usage_in_bytes", "500000000\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->swap_usage_bytes, 0u);
}

TEST(ReadCgroupTree, V1UnderOom) {
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  tree.write("sys/fs/cgroup/memory/memory.oom_control",
             "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->under_oom, true);
}

TEST(ReadCgroupTree, HybridReadsPressureOfTheSameV2Path) {
  testing::TempTree tree;
  tree.copy_fixture("hybrid-v1-this-machine");
  const std::string path = "/process_api/1dec267013d3d9dd354c212640038702";
  tree.write("proc/self/cgroup", "4:memory:" + path + "\n0::" + path + "\n");
  tree.write("sys/fs/cgroup/unified" + path + "/cgroup.procs", "1\n");
  tree.write("sys/fs/cgroup/unified" + path + "/memory.pressure",
             "some avg10=12.50 avg60=3.00 avg300=1.00 total=1\n"
             "full avg10=6.25 avg60=1.50 avg300=0.50 total=1\n");
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  EXPECT_EQ(cg->version, 1);
  ASSERT_TRUE(cg->pressure.has_value());
  EXPECT_DOUBLE_EQ(cg->pressure->some_avg10, 12.5);
  EXPECT_THAT(notes, IsEmpty());
}

class ReadCgroupV1BadFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(ReadCgroupV1BadFile, IsAnErrorNamingTheFile) {
  const auto& param = GetParam();
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  const std::string path = tree.write(param.file, param.content);
  std::vector<model::Note> notes;
  EXPECT_THAT(error_of([&] { (void)read_cgroup(tree_roots(tree), notes); }),
              StartsWith(prefix(path, param.line)));
}

constexpr std::string_view kV1 = "sys/fs/cgroup/memory/";

INSTANTIATE_TEST_SUITE_P(
    Cases, ReadCgroupV1BadFile,
    ::testing::Values(BadFile{"UsageInBytes", std::string(kV1) + "memory.usage_in_bytes", "-1\n",
                              1}),
    [](const ::testing::TestParamInfo<BadFile>& test_info) { return test_info.param.name; });

class ReadCgroupV1OddFile : public ::testing::TestWithParam<BadFile> {};

TEST_P(ReadCgroupV1OddFile, IsANoteNamingTheFileAndLine) {
  const auto& param = GetParam();
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");
  const std::string path = tree.write(param.file, param.content);
  std::vector<model::Note> notes;
  const auto cg = read_cgroup(tree_roots(tree), notes);
  ASSERT_TRUE(cg.has_value());
  std::vector<std::string> messages;
  for (const auto& note : notes) messages.push_back(note.message);
  EXPECT_THAT(messages, Contains(HasSubstr(prefix(path, param.line))));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ReadCgroupV1OddFile,
    ::testing::Values(
        BadFile{"MemoryStat", std::string(kV1) + "memory.stat", "cache 1\nrss\n", 2},
        BadFile{"MemoryStatWithoutInactiveFile", std::string(kV1) + "memory.stat",
                "cache 1\nrss 2\n", 0},
        BadFile{"MemswUsage", std::string(kV1) + "memory.memsw.usage_in_bytes", "x\n", 1},
        BadFile{"MaxUsage", std::string(kV1) + "memory.max_usage_in_bytes", "\n", 1},
        BadFile{"OomControl", std::string(kV1) + "memory.oom_control", "under_oom yes\n", 1}),
    [](const ::testing::TestParamInfo<BadFile>& test_info) { return test_info.param.name; });

TEST(ReadCgroupTree, V1BadLimitInBytesWhenItIsRead) {
  testing::TempTree tree;
  write_v1_nested(tree);
  const std::string path = tree.write("sys/fs/cgroup/memory/a/memory.limit_in_bytes", "lots\n");
  std::vector<model::Note> notes;
  EXPECT_THAT(error_of([&] { (void)read_cgroup(tree_roots(tree), notes); }),
              StartsWith(prefix(path, 1)));
}

// ---------------------------------------------------------------------------------------------
// Never the root by fallback: a target whose cgroup is not under the mount is unknown

/// A live host's v1 tree: the mount root carries the files only a hierarchy's root has, and
/// pid 42 ("python", running) is in /model/ctr.
void write_v1_host(const testing::TempTree& tree) {
  tree.write("proc/self/stat", "7 (memopt) R 1 7 7 0 -1 4194560 0 0 0 0\n");
  tree.write("proc/self/cgroup", "4:memory:/sidecar\n");
  tree.write("proc/42/stat", "42 (python) S 1 42 42 0 -1 4194304 0 0 0 0\n");
  tree.write("proc/42/cgroup", "4:memory:/model/ctr\n1:name=systemd:/model/ctr\n");
  const std::string m = "sys/fs/cgroup/memory/";
  tree.write(m + "cgroup.sane_behavior", "0\n");
  tree.write(m + "release_agent", "\n");
  tree.write(m + "cgroup.procs", "1\n");
  tree.write(m + "memory.usage_in_bytes", "9000000000\n");
  tree.write(m + "memory.limit_in_bytes", "9223372036854771712\n");
  tree.write(m + "memory.stat", "total_inactive_file 0\n");
  for (const std::string dir : {"model/ctr/", "sidecar/"}) {
    tree.write(m + dir + "cgroup.procs", dir == "sidecar/" ? "7\n" : "42\n");
    tree.write(m + dir + "memory.usage_in_bytes", "100000000\n");
    tree.write(m + dir + "memory.limit_in_bytes", "268435456\n");
    tree.write(m + dir + "memory.stat", "total_inactive_file 0\n");
  }
}

model::Target pid_target(int pid) {
  model::Target target;
  target.kind = model::Target::Kind::kPid;
  target.pid = pid;
  return target;
}

TEST(LocateTarget, ARunningPidIsFoundInItsCgroup) {
  testing::TempTree tree;
  write_v1_host(tree);
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), pid_target(42), notes);
  ASSERT_TRUE(target.location.has_value()) << target.unreadable.value_or("");
  EXPECT_EQ(target.location->path, "/model/ctr");
  EXPECT_FALSE(target.gone);
  EXPECT_THAT(notes, IsEmpty());
}

TEST(LocateTarget, APidWhoseCgroupIsNotUnderTheMountIsUnknownNeverTheRoot) {
  testing::TempTree tree;
  write_v1_host(tree);
  tree.remove("sys/fs/cgroup/memory/model/ctr");
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), pid_target(42), notes);
  EXPECT_FALSE(target.location.has_value()) << target.location->dir;
  ASSERT_TRUE(target.unreadable.has_value());
  EXPECT_THAT(*target.unreadable, HasSubstr("/model/ctr"));  // what was looked for
  EXPECT_THAT(*target.unreadable, HasSubstr(tree.path("sys/fs/cgroup/memory")));
  EXPECT_THAT(note_ids(notes), IsEmpty());
}

TEST(LocateTarget, SelfWhoseCgroupIsNotUnderTheMountIsUnknownNeverTheRoot) {
  testing::TempTree tree;
  write_v1_host(tree);
  tree.remove("sys/fs/cgroup/memory/sidecar");
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), {}, notes);
  EXPECT_FALSE(target.location.has_value());
  ASSERT_TRUE(target.unreadable.has_value());
  EXPECT_THAT(*target.unreadable, HasSubstr("/sidecar"));
}

TEST(LocateTarget, AZombieIsGoneNotTheRootCgroup) {
  // A zombie's /proc/PID/cgroup reads "/" on v1: the host's root, were it believed.
  testing::TempTree tree;
  write_v1_host(tree);
  tree.write("proc/42/cgroup", "4:memory:/\n1:name=systemd:/model/ctr\n");
  tree.write("proc/42/stat", "42 (python) Z 1 42 42 0 -1 4227084 0 0 0 0\n");
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), pid_target(42), notes);
  EXPECT_FALSE(target.location.has_value());
  EXPECT_TRUE(target.gone);
  ASSERT_TRUE(target.unreadable.has_value());
  EXPECT_THAT(*target.unreadable, HasSubstr("zombie"));
}

TEST(LocateTarget, AnExitingProcessIsGone) {
  testing::TempTree tree;
  write_v1_host(tree);
  tree.write("proc/42/cgroup", "4:memory:/\n");
  tree.write("proc/42/stat", "42 (py thon) R) D 1 42 42 0 -1 4194308 0 0 0 0\n");  // PF_EXITING
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), pid_target(42), notes);
  EXPECT_FALSE(target.location.has_value());
  EXPECT_TRUE(target.gone);
}

TEST(LocateTarget, AnExitedPidOnALiveProcfsIsGone) {
  testing::TempTree tree;
  write_v1_host(tree);
  tree.remove("proc/42/stat");  // exited between the two reads
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), pid_target(42), notes);
  EXPECT_FALSE(target.location.has_value());
  EXPECT_TRUE(target.gone);
}

TEST(LocateTarget, AV2CgroupRemovedUnderAZombieIsGone) {
  testing::TempTree tree;
  tree.write("proc/self/stat", "7 (memopt) R 1 7 7 0 -1 4194560 0 0 0 0\n");
  tree.write("proc/42/stat", "42 (python) S 1 42 42 0 -1 4194304 0 0 0 0\n");
  tree.write("proc/42/cgroup", "0::/model/ctr (deleted)\n");
  tree.write("sys/fs/cgroup/cgroup.controllers", "memory\n");
  tree.write("sys/fs/cgroup/cgroup.procs", "1\n");
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), pid_target(42), notes);
  EXPECT_FALSE(target.location.has_value());
  EXPECT_TRUE(target.gone);
  EXPECT_THAT(target.unreadable.value_or(""), HasSubstr("removed"));
}

TEST(LocateTarget, AV2PathNotUnderTheMountIsUnknownNotTheHost) {
  // The v2 root has no memory.current: the fallback used to take it as "no memory controller",
  // the host's figures as the container's.
  testing::TempTree tree;
  tree.write("proc/self/cgroup", "0::/kubepods/pod1/gone\n");
  tree.write("sys/fs/cgroup/cgroup.controllers", "memory\n");
  tree.write("sys/fs/cgroup/cgroup.procs", "1\n");
  std::vector<model::Note> notes;
  const auto target = locate_target(tree_roots(tree), {}, notes);
  EXPECT_FALSE(target.location.has_value());
  ASSERT_TRUE(target.unreadable.has_value());
  EXPECT_THAT(*target.unreadable, HasSubstr("/kubepods/pod1/gone"));
  EXPECT_THAT(note_ids(notes), IsEmpty());
}

TEST(LocateTarget, ARemappedCgroupThatDoesNotListThePidIsNotIt) {
  // A sidecar whose /sys/fs/cgroup/memory is its own cgroup (no cgroup namespace): the model's
  // path is not visible, and the mount root is the sidecar's container, not the model's.
  testing::TempTree tree;
  tree.copy_fixture("v1-limited");  // cgroup.procs lists 1 and 9
  tree.write("proc/42/stat", "42 (python) S 1 42 42 0 -1 4194304 0 0 0 0\n");
  tree.write("proc/42/cgroup", "7:memory:/docker/model\n");
  std::vector<model::Note> notes;
  const auto other = locate_target(tree_roots(tree), pid_target(42), notes);
  EXPECT_FALSE(other.location.has_value());
  EXPECT_THAT(other.unreadable.value_or(""), HasSubstr("does not list pid 42"));
  tree.write("proc/9/stat", "9 (python) S 1 9 9 0 -1 4194304 0 0 0 0\n");
  notes.clear();
  const auto listed = locate_target(tree_roots(tree), pid_target(9), notes);
  ASSERT_TRUE(listed.location.has_value()) << listed.unreadable.value_or("");
  EXPECT_THAT(note_ids(notes), ElementsAre("cgroup_path_remapped"));
}

TEST(ParseProcStat, StateAndExitingFlagAfterTheLastParenthesis) {
  const auto zombie = parse_proc_stat("42 (a) Z) Z 1 42 42 0 -1 4227084 0\n", "stat");
  EXPECT_EQ(zombie.state, 'Z');
  EXPECT_TRUE(zombie.dead());
  EXPECT_TRUE(zombie.exiting());
  const auto running = parse_proc_stat("42 (a) S 1 42 42 0 -1 4194560 0\n", "stat");
  EXPECT_EQ(running.state, 'S');
  EXPECT_FALSE(running.dead());
  EXPECT_FALSE(running.exiting());
  // A line cut short after the parent: what it has stands, the rest is absent, never 0.
  const auto short_line = parse_proc_stat("42 (a) R 1\n", "stat");
  EXPECT_EQ(short_line.ppid, 1);
  EXPECT_FALSE(short_line.pgrp);
  EXPECT_FALSE(short_line.flags);
  EXPECT_FALSE(short_line.exiting());
  EXPECT_THAT(error_of([] { (void)parse_proc_stat("42 (a) S\n", "/proc/42/stat"); }),
              HasSubstr("/proc/42/stat"));
}

}  // namespace
}  // namespace memopt::readers
