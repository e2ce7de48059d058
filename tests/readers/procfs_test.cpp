// The procfs parsers against captured and malformed text, and the readers against the fixture
// trees (tests/fixtures/<scenario>/proc) and small trees built in a temporary directory.
#include "memopt/readers/procfs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

/// The message of the memopt::Error that `f` throws; a test failure when it throws none.
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

/// The ids of `notes`, in order.
std::vector<std::string> note_ids(const std::vector<model::Note>& notes) {
  std::vector<std::string> ids;
  for (const auto& note : notes) ids.push_back(note.id);
  return ids;
}

/// A fixture's roots, with the page size its tree carries (proc/page_size: 4096).
Roots fixture_roots(std::string_view scenario) {
  const std::string root = testing::fixture(scenario);
  return sys::roots_at(root + "/proc", root + "/sys");
}

Roots tree_roots(const testing::TempTree& tree) {
  return sys::roots_at(tree.path("proc"), tree.path("sys"));
}

/// The page size of the fixtures' statm and buddyinfo (their proc/page_size).
constexpr std::uint64_t kFixturePage = 4096;

// A malformed input, the line its error must name (0: none) and a fragment of the message.
struct Malformed {
  std::string name;
  std::string text;
  int line;
  std::string fragment;
};

std::string PrintName(const ::testing::TestParamInfo<Malformed>& info) { return info.param.name; }

/// "while reading SOURCE: line N: " (or without the line when `line` is 0).
std::string prefix(std::string_view source, int line) {
  std::string out = "while reading " + std::string(source) + ": ";
  if (line > 0) out += "line " + std::to_string(line) + ": ";
  return out;
}

// ---------------------------------------------------------------------------------------------
// meminfo

constexpr std::string_view kMeminfo =
    "MemTotal:       24683656 kB\n"
    "MemFree:        23250156 kB\n"
    "MemAvailable:   23518324 kB\n"
    "Buffers:            5224 kB\n"
    "Cached:           455896 kB\n"
    "SwapCached:            0 kB\n"
    "SwapTotal:             0 kB\n"
    "SwapFree:              0 kB\n"
    "Shmem:              8952 kB\n"
    "HugePages_Total:       0\n"
    "Hugepagesize:       2048 kB\n";

TEST(ParseMeminfo, ConvertsKibibytesToBytes) {
  const auto host = parse_meminfo(kMeminfo, "/proc/meminfo");
  EXPECT_EQ(host.total_bytes, 24683656 * kKiB);
  EXPECT_EQ(host.free_bytes, 23250156 * kKiB);
  EXPECT_EQ(host.available_bytes, 23518324 * kKiB);
  EXPECT_FALSE(host.available_estimated);
  EXPECT_EQ(host.buffers_bytes, 5224 * kKiB);
  EXPECT_EQ(host.cached_bytes, 455896 * kKiB);
  EXPECT_EQ(host.shmem_bytes, 8952 * kKiB);
  EXPECT_EQ(host.swap_total_bytes, 0u);
  EXPECT_EQ(host.swap_free_bytes, 0u);
}

TEST(ParseMeminfo, ParsesTheCapturedFileOfThisMachine) {
  const std::string path = testing::fixture("hybrid-v1-this-machine") + "/proc/meminfo";
  const auto host = parse_meminfo(testing::slurp(path), path);
  EXPECT_EQ(host.total_bytes, 24683656 * kKiB);
  EXPECT_EQ(host.available_bytes, 23518324 * kKiB);
  EXPECT_EQ(host.swap_total_bytes, 0u);
}

TEST(ParseMeminfo, EstimatesAvailableWithoutMemAvailable) {
  // Kernels before 3.14: MemFree + Buffers + Cached - Shmem.
  const auto host = parse_meminfo(
      "MemTotal: 8174024 kB\nMemFree: 1200100 kB\nBuffers: 301120 kB\nCached: 2411200 kB\n"
      "Shmem: 120400 kB\nSwapTotal: 1048572 kB\nSwapFree: 1048572 kB\n",
      "/proc/meminfo");
  EXPECT_TRUE(host.available_estimated);
  EXPECT_EQ(host.available_bytes, (1200100 + 301120 + 2411200 - 120400) * kKiB);
}

TEST(ParseMeminfo, EstimateWithoutBuffersOrShmemUsesWhatIsThere) {
  const auto host =
      parse_meminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nCached: 50 kB\n", "/proc/meminfo");
  EXPECT_TRUE(host.available_estimated);
  EXPECT_EQ(host.available_bytes, 150 * kKiB);
  EXPECT_EQ(host.buffers_bytes, std::nullopt);
  EXPECT_EQ(host.shmem_bytes, std::nullopt);
  EXPECT_EQ(host.swap_total_bytes, std::nullopt);
}

TEST(ParseMeminfo, EstimateIsClampedAtZeroAndAtTotal) {
  EXPECT_EQ(parse_meminfo("MemTotal: 1000 kB\nMemFree: 10 kB\nCached: 10 kB\nShmem: 500 kB\n", "m")
                .available_bytes,
            0u);
  EXPECT_EQ(parse_meminfo("MemTotal: 100 kB\nMemFree: 90 kB\nCached: 90 kB\n", "m").available_bytes,
            100 * kKiB);
}

TEST(ParseMeminfo, AvailableAboveTotalIsClamped) {
  const auto host =
      parse_meminfo("MemTotal: 100 kB\nMemFree: 50 kB\nMemAvailable: 200 kB\n", "/proc/meminfo");
  EXPECT_EQ(host.available_bytes, 100 * kKiB);
}

TEST(ParseMeminfo, AcceptsAFinalLineWithoutNewlineAndBlankLines) {
  const auto host =
      parse_meminfo("\nMemTotal: 100 kB\n\nMemFree: 50 kB\nMemAvailable: 60 kB", "/proc/meminfo");
  EXPECT_EQ(host.available_bytes, 60 * kKiB);
}

class ParseMeminfoMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseMeminfoMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string message =
      error_of([&] { (void)parse_meminfo(param.text, "/host/proc/meminfo"); });
  EXPECT_THAT(message, StartsWith(prefix("/host/proc/meminfo", param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseMeminfoMalformed,
    ::testing::Values(
        Malformed{"NonNumeric", "MemTotal: 100 kB\nMemFree: abc kB\n", 2,
                  "expected a number of kB for MemFree, got 'abc kB'"},
        Malformed{"Negative", "MemTotal: 100 kB\nMemFree: 5 kB\nMemAvailable: -5 kB\n", 3,
                  "for MemAvailable, got '-5 kB'"},
        Malformed{"PlusSign", "MemTotal: +100 kB\n", 1, "for MemTotal"},
        Malformed{"Fraction", "MemTotal: 1.5 kB\n", 1, "for MemTotal"},
        Malformed{"WrongUnit", "MemTotal: 100 MB\nMemFree: 5 kB\n", 1, "got '100 MB'"},
        Malformed{"TrailingField", "MemTotal: 100 kB extra\n", 1, "got '100 kB extra'"},
        Malformed{"EmptyValue", "MemTotal:\nMemFree: 5 kB\n", 1, "for MemTotal, got ''"},
        Malformed{"Overflow", "MemTotal: 99999999999999999999 kB\n", 1, "for MemTotal"},
        Malformed{"KibibytesOverflowBytes", "MemTotal: 18014398509481984 kB\n", 1, "for MemTotal"},
        Malformed{"NoColon", "MemTotal: 100 kB\nMemFree 5 kB\n", 2,
                  "expected 'Key: value', got 'MemFree 5 kB'"},
        Malformed{"LeadingColon", "MemTotal: 100 kB\n: 5 kB\n", 2, "expected 'Key: value'"},
        Malformed{"TruncatedMidLine", "MemTotal:       24683656 kB\nMemFr", 2,
                  "expected 'Key: value', got 'MemFr'"},
        Malformed{"TruncatedAfterTotal", "MemTotal:       24683656 kB\n", 0,
                  "MemFree is missing (truncated file?)"},
        Malformed{"MissingTotal", "MemFree: 5 kB\nMemAvailable: 5 kB\n", 0, "MemTotal is missing"},
        Malformed{"Empty", "", 0, "MemTotal is missing"},
        Malformed{"OnlyBlankLines", "\n\n  \n", 0, "MemTotal is missing"},
        Malformed{"ZeroTotal", "MemTotal: 0 kB\nMemFree: 0 kB\n", 0, "MemTotal is 0"},
        Malformed{"NoAvailableNoCached", "MemTotal: 100 kB\nMemFree: 5 kB\n", 0,
                  "neither MemAvailable nor Cached is present"},
        Malformed{"Garbage",
                  std::string("\x7f"
                              "ELF\x02\x01\x01",
                              7),
                  1, "expected 'Key: value'"},
        Malformed{"MissingUnit", "MemTotal: 100 kB\nMemFree:        23250156\n", 2,
                  "expected a number of kB for MemFree, got '23250156'"},
        Malformed{"Html", "<html><body>502 Bad Gateway</body></html>\n", 1,
                  "expected 'Key: value', got '<html><body>502 Bad Gateway</body></html>'"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// pressure

TEST(ParsePressure, ReadsSomeAndFull) {
  const auto p = parse_pressure(
      "some avg10=2.31 avg60=1.05 avg300=0.40 total=12345678\n"
      "full avg10=1.10 avg60=0.52 avg300=0.20 total=6543210\n",
      "memory.pressure");
  EXPECT_DOUBLE_EQ(p.some_avg10, 2.31);
  EXPECT_DOUBLE_EQ(p.some_avg60, 1.05);
  EXPECT_DOUBLE_EQ(p.some_avg300, 0.40);
  EXPECT_DOUBLE_EQ(p.full_avg10, 1.10);
  EXPECT_DOUBLE_EQ(p.full_avg60, 0.52);
  EXPECT_DOUBLE_EQ(p.full_avg300, 0.20);
}

TEST(ParsePressure, AcceptsFullBeforeSomeAndHundredPercent) {
  const auto p = parse_pressure(
      "full avg10=100.00 avg60=0.00 avg300=0.00 total=0\n"
      "some avg10=100.00 avg60=99.99 avg300=0.00 total=0",
      "p");
  EXPECT_DOUBLE_EQ(p.some_avg10, 100.0);
  EXPECT_DOUBLE_EQ(p.full_avg10, 100.0);
  EXPECT_DOUBLE_EQ(p.some_avg60, 99.99);
}

TEST(ParsePressure, SkipsALineOfAnotherKindAndSaysWhich) {
  std::vector<SkippedLine> skipped;
  const auto p = parse_pressure(
      "some avg10=0.12 avg60=0.08 avg300=0.03 total=2312211\n"
      "full avg10=0.05 avg60=0.02 avg300=0.01 total=1102332\n"
      "throttled avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
      "/proc/pressure/memory", &skipped);
  EXPECT_DOUBLE_EQ(p.some_avg10, 0.12);
  EXPECT_DOUBLE_EQ(p.full_avg10, 0.05);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].number, 3);
  EXPECT_EQ(skipped[0].text, "throttled avg10=0.00 avg60=0.00 avg300=0.00 total=0");
}

class ParsePressureMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParsePressureMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string message =
      error_of([&] { (void)parse_pressure(param.text, "/proc/pressure/memory"); });
  EXPECT_THAT(message, StartsWith(prefix("/proc/pressure/memory", param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

constexpr std::string_view kFull = "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";

INSTANTIATE_TEST_SUITE_P(
    Cases, ParsePressureMalformed,
    ::testing::Values(
        Malformed{"NonNumeric",
                  "some avg10=abc avg60=0.00 avg300=0.00 total=0\n" + std::string(kFull), 1,
                  "expected a percentage for avg10, got 'abc'"},
        Malformed{"Negative",
                  "some avg10=0.00 avg60=-1.00 avg300=0.00 total=0\n" + std::string(kFull), 1,
                  "expected a percentage for avg60, got '-1.00'"},
        Malformed{"AboveHundred",
                  "some avg10=0.00 avg60=0.00 avg300=100.01 total=0\n" + std::string(kFull), 1,
                  "for avg300, got '100.01'"},
        Malformed{"NegativeTotal",
                  "some avg10=0.00 avg60=0.00 avg300=0.00 total=-3\n" + std::string(kFull), 1,
                  "bad total '-3'"},
        Malformed{"MissingAvg300", "some avg10=0.00 avg60=0.00 total=0\n" + std::string(kFull), 1,
                  "expected avg10, avg60 and avg300"},
        Malformed{"NoEquals", "some avg10 0.00\n" + std::string(kFull), 1,
                  "expected key=value, got 'avg10'"},
        Malformed{"OomdExperimentalFormat",
                  "aggr 128544748770\nsome 1.11 2.22 3.33\nfull 4.44 5.55 6.66\n", 1,
                  "experimental PSI format"},
        Malformed{"NoFullLine", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", 0,
                  "expected a 'some' and a 'full' line"},
        Malformed{"Truncated", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.0", 2,
                  "expected avg10, avg60 and avg300"},
        Malformed{"Empty", "", 0, "expected a 'some' and a 'full' line"},
        Malformed{"Garbage", "\x01\x02\x03\n", 0, "expected a 'some' and a 'full' line"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// buddyinfo

TEST(ParseBuddyinfo, SumsZonesIntoPagesPerOrder) {
  // Order k blocks hold 2^k pages each.
  const auto f = parse_buddyinfo(
      "Node 0, zone      DMA      1      0      0      0      0      0      0      0      0      "
      "1\n"
      "Node 0, zone   Normal      3      1      0      0      0      0      0      0      0      0 "
      "\n",
      4096, "/proc/buddyinfo");
  EXPECT_THAT(f.free_pages_by_order, ElementsAre(4, 2, 0, 0, 0, 0, 0, 0, 0, 512));
  // 6 of 518 free pages sit in blocks below order 9.
  EXPECT_NEAR(f.unusable_free_percent_order9, 100.0 * 6 / 518, 1e-9);
}

TEST(ParseBuddyinfo, ParsesTheCapturedFileOfThisMachine) {
  const std::string path = testing::fixture("hybrid-v1-this-machine") + "/proc/buddyinfo";
  const auto f = parse_buddyinfo(testing::slurp(path), 4096, path);
  ASSERT_EQ(f.free_pages_by_order.size(), 11u);
  EXPECT_EQ(f.free_pages_by_order[0], 0u + 2 + 1);
  EXPECT_EQ(f.free_pages_by_order[10], (3u + 752 + 15) << 10);
  EXPECT_GT(f.unusable_free_percent_order9, 0.0);
  EXPECT_LT(f.unusable_free_percent_order9, 100.0);
}

TEST(ParseBuddyinfo, HugeOrderFollowsThePageSize) {
  // With 64 KiB pages a 2 MiB block is order 5.
  const auto f = parse_buddyinfo("Node 0, zone Normal 4 0 0 0 1 1\n", 64 * kKiB, "b");
  EXPECT_THAT(f.free_pages_by_order, ElementsAre(4, 0, 0, 0, 16, 32));
  EXPECT_NEAR(f.unusable_free_percent_order9, 100.0 * 20 / 52, 1e-9);
}

TEST(ParseBuddyinfo, NoFreePagesIsZeroPercent) {
  const auto f = parse_buddyinfo("Node 0, zone Normal 0 0 0 0 0 0 0 0 0 0 0\n", 4096, "b");
  EXPECT_DOUBLE_EQ(f.unusable_free_percent_order9, 0.0);
}

TEST(ParseBuddyinfo, AllFreeMemoryInSmallBlocksIsHundredPercent) {
  const auto f =
      parse_buddyinfo("Node 0, zone Normal 10 10 10\nNode 1, zone Normal 1\n", 4096, "b");
  EXPECT_THAT(f.free_pages_by_order, ElementsAre(11, 20, 40));
  EXPECT_DOUBLE_EQ(f.unusable_free_percent_order9, 100.0);
}

class ParseBuddyinfoMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseBuddyinfoMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string message =
      error_of([&] { (void)parse_buddyinfo(param.text, 4096, "/proc/buddyinfo"); });
  EXPECT_THAT(message, StartsWith(prefix("/proc/buddyinfo", param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseBuddyinfoMalformed,
    ::testing::Values(
        Malformed{"NonNumeric", "Node 0, zone DMA 1 2 3\nNode 0, zone Normal 1 x 3\n", 2,
                  "bad free-block count 'x'"},
        Malformed{"Negative", "Node 0, zone Normal 1 -2 3\n", 1, "bad free-block count '-2'"},
        Malformed{"TooManyOrders",
                  "Node 0, zone Normal "
                  "0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7\n",
                  1, "bad free-block count '7'"},
        Malformed{"NoCounts", "Node 0, zone Normal\n", 1, "no free-block counts"},
        Malformed{"MissingComma", "Node 0 zone Normal 1 2\n", 1, "expected 'Node N, zone NAME"},
        Malformed{"MissingZone", "Node 0, Normal 1 2\n", 1, "expected 'Node N, zone NAME"},
        Malformed{"Truncated", "Node 0, zo", 1, "expected 'Node N, zone NAME"},
        Malformed{"Empty", "", 0, "no zones listed"},
        Malformed{"Garbage", "\xff\xfe\n", 1, "expected 'Node N, zone NAME"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// smaps_rollup

constexpr std::string_view kRollup =
    "00400000-7ffc884f2000 ---p 00000000 00:00 0                              [rollup]\n"
    "Rss:              446828 kB\n"
    "Pss:              426068 kB\n"
    "Pss_Dirty:        417900 kB\n"
    "Shared_Clean:      28888 kB\n"
    "Shared_Dirty:          0 kB\n"
    "Private_Clean:        40 kB\n"
    "Private_Dirty:    417900 kB\n"
    "Swap:                 12 kB\n"
    "SwapPss:              12 kB\n"
    "Locked:                0 kB\n";

TEST(ParseSmapsRollup, ReadsRssPssUssAndSwap) {
  const auto r = parse_smaps_rollup(kRollup, "/proc/4385/smaps_rollup");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->rss_bytes, 446828 * kKiB);
  EXPECT_EQ(r->pss_bytes, 426068 * kKiB);
  EXPECT_EQ(r->uss_bytes, (40 + 417900) * kKiB);
  EXPECT_EQ(r->swap_bytes, 12 * kKiB);
}

TEST(ParseSmapsRollup, EmptyFileIsAKernelThread) {
  EXPECT_EQ(parse_smaps_rollup("", "s"), std::nullopt);
  EXPECT_EQ(parse_smaps_rollup("\n", "s"), std::nullopt);
}

TEST(ParseSmapsRollup, MissingSwapLineIsZeroSwap) {
  const auto r =
      parse_smaps_rollup("Rss: 8 kB\nPss: 4 kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n", "s");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->swap_bytes, 0u);
  EXPECT_EQ(r->uss_bytes, 3 * kKiB);
}

class ParseSmapsRollupMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseSmapsRollupMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string message =
      error_of([&] { (void)parse_smaps_rollup(param.text, "/proc/77/smaps_rollup"); });
  EXPECT_THAT(message, StartsWith(prefix("/proc/77/smaps_rollup", param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseSmapsRollupMalformed,
    ::testing::Values(
        Malformed{"NonNumeric",
                  "Rss: 8 kB\nPss: lots kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n", 2,
                  "expected a number of kB for Pss, got 'lots kB'"},
        Malformed{"Negative", "Rss: -8 kB\nPss: 4 kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n",
                  1, "for Rss, got '-8 kB'"},
        Malformed{"BadSwap",
                  "Rss: 8 kB\nPss: 4 kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\nSwap: 1 MB\n", 5,
                  "for Swap, got '1 MB'"},
        Malformed{"MissingPss", "Rss: 8 kB\nPrivate_Clean: 1 kB\nPrivate_Dirty: 2 kB\n", 0,
                  "expected Rss, Pss, Private_Clean and Private_Dirty lines"},
        Malformed{"Truncated",
                  "00400000-7ffc884f2000 ---p 00000000 00:00 0 [rollup]\nRss: 446828 kB\nPss: 42",
                  3, "for Pss, got '42'"},
        Malformed{"HeaderOnly", "00400000-7ffc884f2000 ---p 00000000 00:00 0 [rollup]\n", 0,
                  "expected Rss, Pss"},
        Malformed{"Garbage", "garbage\x01\x02\n", 0, "expected Rss, Pss"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// statm

TEST(ParseStatmRss, ResidentPagesTimesPageSize) {
  EXPECT_EQ(parse_statm_rss("115992 111707 7232 5427 0 105434 0\n", 4096, "statm"), 111707u * 4096);
  EXPECT_EQ(parse_statm_rss("10 3", 65536, "statm"), 3u * 65536);
  EXPECT_EQ(parse_statm_rss("0 0 0 0 0 0 0\n", 4096, "statm"), 0u);
}

class ParseStatmMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseStatmMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string message =
      error_of([&] { (void)parse_statm_rss(param.text, 4096, "/proc/9/statm"); });
  EXPECT_THAT(message, StartsWith(prefix("/proc/9/statm", param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseStatmMalformed,
    ::testing::Values(Malformed{"NonNumeric", "115992 many 7232\n", 1,
                                "expected 'size resident ...' in pages, got '115992 many 7232'"},
                      Malformed{"Negative", "115992 -5 7232\n", 1, "got '115992 -5 7232'"},
                      Malformed{"BadSize", "x 5 7232\n", 1, "got 'x 5 7232'"},
                      Malformed{"Truncated", "115992", 1, "got '115992'"},
                      Malformed{"Overflow", "1 18446744073709551615\n", 1,
                                "got '1 18446744073709551615'"},
                      Malformed{"Empty", "", 1, "got ''"},
                      Malformed{"Garbage", "\x01\x02", 1, "expected"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// self/cgroup

TEST(ParseProcCgroup, ReadsTheHybridFileOfThisMachine) {
  const std::string path = testing::fixture("hybrid-v1-this-machine") + "/proc/self/cgroup";
  const auto lines = parse_proc_cgroup(testing::slurp(path), path);
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(lines[0].hierarchy_id, 9);
  EXPECT_THAT(lines[0].controllers, ElementsAre("name=systemd"));
  EXPECT_EQ(lines[5].hierarchy_id, 4);
  EXPECT_THAT(lines[5].controllers, ElementsAre("memory"));
  EXPECT_EQ(lines[5].path, "/process_api/1dec267013d3d9dd354c212640038702");
  EXPECT_EQ(lines[9].hierarchy_id, 0);
  EXPECT_THAT(lines[9].controllers, IsEmpty());
  EXPECT_EQ(lines[9].path, "/");
}

TEST(ParseProcCgroup, SplitsCoMountedControllersAndKeepsColonsInPaths) {
  const auto lines =
      parse_proc_cgroup("2:cpu,cpuacct:/a\n0::/kubepods/pod1/ctr:weird\n", "/proc/self/cgroup");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0].controllers, ElementsAre("cpu", "cpuacct"));
  EXPECT_EQ(lines[1].path, "/kubepods/pod1/ctr:weird");
}

class ParseProcCgroupMalformed : public ::testing::TestWithParam<Malformed> {};

TEST_P(ParseProcCgroupMalformed, NamesTheSourceAndLine) {
  const auto& param = GetParam();
  const std::string message =
      error_of([&] { (void)parse_proc_cgroup(param.text, "/proc/self/cgroup"); });
  EXPECT_THAT(message, StartsWith(prefix("/proc/self/cgroup", param.line)));
  EXPECT_THAT(message, HasSubstr(param.fragment));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseProcCgroupMalformed,
    ::testing::Values(
        Malformed{"NonNumericId", "4:memory:/a\nx:cpu:/\n", 2,
                  "expected 'ID:controllers:/path', got 'x:cpu:/'"},
        Malformed{"NegativeId", "-1:memory:/a\n", 1, "got '-1:memory:/a'"},
        Malformed{"OneColon", "4:memory:/a\n0:/\n", 2, "expected 'ID:controllers:path', got '0:/'"},
        Malformed{"NoColon", "garbage\n", 1, "expected 'ID:controllers:path', got 'garbage'"},
        Malformed{"RelativePath", "0::kubepods\n", 1, "got '0::kubepods'"},
        Malformed{"EmptyPath", "4:memory:\n", 1, "got '4:memory:'"},
        Malformed{"Truncated", "9:name=systemd:/\n8:pids:/\n4:mem", 3, "got '4:mem'"},
        Malformed{"Empty", "", 0, "no cgroup lines"}),
    PrintName);

// ---------------------------------------------------------------------------------------------
// readers against fixture trees

TEST(ReadHostMemory, ReadsTheFixture) {
  const auto host = read_host_memory(fixture_roots("v2-nested-parent-limit"));
  EXPECT_EQ(host.total_bytes, 16369728 * kKiB);
  EXPECT_EQ(host.available_bytes, 12582912 * kKiB);
  EXPECT_EQ(host.swap_total_bytes, 2097148 * kKiB);
}

TEST(ReadHostMemory, EstimatesOnAnOldKernel) {
  const auto host = read_host_memory(fixture_roots("no-memavailable"));
  EXPECT_TRUE(host.available_estimated);
  EXPECT_EQ(host.available_bytes, (1200100 + 301120 + 2411200 - 120400) * kKiB);
}

TEST(ReadHostMemory, MissingMeminfoIsAnErrorNamingIt) {
  testing::TempTree tree;
  tree.mkdir("proc");
  const std::string message = error_of([&] { (void)read_host_memory(tree_roots(tree)); });
  EXPECT_THAT(message, HasSubstr(tree.path("proc/meminfo")));
}

TEST(ReadHostMemory, MissingProcfsRootIsAnErrorNamingMeminfo) {
  const std::string message = error_of([] {
    (void)read_host_memory({"/nonexistent/proc", "/nonexistent/sys"});
  });
  EXPECT_THAT(message, HasSubstr("/nonexistent/proc/meminfo"));
}

TEST(ReadHostMemory, MalformedMeminfoNamesPathAndLine) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  tree.write("proc/meminfo", "MemTotal: 100 kB\nMemFree: x kB\n");
  const std::string message = error_of([&] { (void)read_host_memory(tree_roots(tree)); });
  EXPECT_THAT(message, StartsWith(prefix(tree.path("proc/meminfo"), 2)));
}

TEST(ReadHostPressure, ReadsTheFixture) {
  std::vector<model::Note> notes;
  const auto p = read_host_pressure(fixture_roots("v2-nested-parent-limit"), notes);
  ASSERT_TRUE(p.has_value());
  EXPECT_DOUBLE_EQ(p->some_avg10, 0.12);
  EXPECT_DOUBLE_EQ(p->full_avg60, 0.02);
  EXPECT_THAT(notes, IsEmpty());
}

TEST(ReadHostPressure, AbsentIsANoteNotAnError) {
  std::vector<model::Note> notes;
  EXPECT_EQ(read_host_pressure(fixture_roots("v1-unlimited"), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_host_psi"));
  EXPECT_THAT(notes[0].message, HasSubstr("/pressure/memory"));
}

TEST(ReadHostPressure, MalformedIsANoteNamingTheFileAndLine) {
  testing::TempTree tree;
  tree.write("proc/pressure/memory", "some avg10=x\n");
  std::vector<model::Note> notes;
  EXPECT_EQ(read_host_pressure(tree_roots(tree), notes), std::nullopt);
  ASSERT_THAT(note_ids(notes), ElementsAre("psi_unreadable"));
  EXPECT_THAT(notes[0].message, HasSubstr(prefix(tree.path("proc/pressure/memory"), 1)));
}

TEST(ReadFragmentation, MalformedIsANoteNamingTheFileAndLine) {
  testing::TempTree tree;
  tree.write("proc/buddyinfo", "Node 0, zone      DMA      1      1      1\nNode 0, zone   Normal");
  std::vector<model::Note> notes;
  EXPECT_EQ(read_fragmentation(tree_roots(tree), notes), std::nullopt);
  ASSERT_THAT(note_ids(notes), ElementsAre("buddyinfo_unreadable"));
  EXPECT_THAT(notes[0].message, HasSubstr(prefix(tree.path("proc/buddyinfo"), 2)));
}

TEST(ReadFragmentation, ReadsTheFixtureAndNotesAbsence) {
  std::vector<model::Note> notes;
  const auto f = read_fragmentation(fixture_roots("v1-limited"), notes);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->free_pages_by_order.size(), 11u);
  EXPECT_THAT(notes, IsEmpty());

  testing::TempTree tree;
  tree.mkdir("proc");
  EXPECT_EQ(read_fragmentation(tree_roots(tree), notes), std::nullopt);
  EXPECT_THAT(note_ids(notes), ElementsAre("no_buddyinfo"));
}

TEST(ReadFragmentation, TheTreesPageSizeSetsWhichOrderServesA2MiBRequest) {
  testing::TempTree tree;
  // One free block of order 5: 128 KiB of 4 KiB pages, 2 MiB of 64 KiB pages.
  tree.write("proc/buddyinfo", "Node 0, zone   Normal 0 0 0 0 0 1 0 0 0 0 0\n");
  tree.write("proc/page_size", "4096\n");
  std::vector<model::Note> notes;
  const auto small_pages = read_fragmentation(tree_roots(tree), notes);
  tree.write("proc/page_size", "65536\n");
  const auto large_pages = read_fragmentation(tree_roots(tree), notes);
  EXPECT_THAT(notes, IsEmpty());
  ASSERT_TRUE(small_pages && large_pages);
  EXPECT_DOUBLE_EQ(small_pages->unusable_free_percent_order9, 100.0);
  EXPECT_DOUBLE_EQ(large_pages->unusable_free_percent_order9, 0.0);
}

TEST(ReadProcessName, ReadsCommOrNothing) {
  const auto roots = fixture_roots("shared-workers");
  EXPECT_EQ(read_process_name(roots, 200), "redis-server");
  EXPECT_EQ(read_process_name(roots, 999), std::nullopt);
}

// A process as the tests compare it: pid, name, rss, pss (-1: unknown).
struct Row {
  int pid;
  std::string name;
  std::uint64_t rss;
  std::int64_t pss;
  bool operator==(const Row&) const = default;
};

void PrintTo(const Row& row, std::ostream* os) {
  *os << "{" << row.pid << ", " << row.name << ", " << row.rss << ", " << row.pss << "}";
}

std::vector<Row> rows(const std::vector<model::ProcessMemory>& processes) {
  std::vector<Row> out;
  for (const auto& p : processes) {
    out.push_back(
        {p.pid, p.name, p.rss_bytes, p.pss_bytes ? static_cast<std::int64_t>(*p.pss_bytes) : -1});
  }
  return out;
}

TEST(ReadProcesses, SortsByPssNotRss) {
  std::vector<model::Note> notes;
  const auto processes = read_processes(fixture_roots("shared-workers"), notes);
  EXPECT_THAT(notes, IsEmpty());
  // RSS order would be 100, 101-104, 200, 1; PSS puts the unrelated redis-server first.
  const std::int64_t kWorkerPss = 286720 * kKiB;
  EXPECT_THAT(rows(processes), ElementsAre(Row{200, "redis-server", 512000 * kKiB, 501760 * kKiB},
                                           Row{100, "python3", 1258291 * kKiB, 307200 * kKiB},
                                           Row{101, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{102, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{103, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{104, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{1, "tini", 800 * kKiB, 120 * kKiB}));
  EXPECT_EQ(processes[2].uss_bytes, 61440 * kKiB);
  EXPECT_EQ(processes[2].swap_bytes, 0u);
}

TEST(ReadProcesses, LeavesOutKernelThreads) {
  std::vector<model::Note> notes;
  const auto processes = read_processes(fixture_roots("v1-unlimited"), notes);
  ASSERT_EQ(processes.size(), 3u);
  for (const auto& p : processes) EXPECT_NE(p.name, "kthreadd");
}

TEST(ReadProcesses, ThisMachine) {
  std::vector<model::Note> notes;
  const auto processes = read_processes(fixture_roots("hybrid-v1-this-machine"), notes);
  EXPECT_THAT(notes, IsEmpty());
  ASSERT_EQ(processes.size(), 3u);  // pid 9 is a kworker: empty smaps_rollup
  EXPECT_EQ(processes[0].pid, 4385);
  EXPECT_EQ(processes[0].name, "cc1plus");
  EXPECT_EQ(processes[0].pss_bytes, 426068 * kKiB);
}

TEST(ReadProcesses, WithoutSmapsRollupUsesStatmAndLeavesPssUnknown) {
  std::vector<model::Note> notes;
  const auto processes = read_processes(fixture_roots("no-memavailable"), notes);
  const std::uint64_t page = kFixturePage;
  // pid 2 (kthreadd) has no resident pages and is left out.
  EXPECT_THAT(rows(processes), ElementsAre(Row{1022, "java", 3145728 / 4 * page, -1},
                                           Row{1187, "mysqld", 524288 / 4 * page, -1},
                                           Row{1, "init", 812 / 4 * page, -1}));
  for (const auto& p : processes) {
    EXPECT_EQ(p.uss_bytes, std::nullopt);
    EXPECT_EQ(p.swap_bytes, std::nullopt);
  }
  ASSERT_THAT(note_ids(notes), ElementsAre("pss_unknown"));
  EXPECT_THAT(notes[0].message, HasSubstr("3 process(es)"));
  EXPECT_THAT(notes[0].message, HasSubstr("absent"));
}

// A tree captured on a 64 KiB-page host (an arm64 GH200) counts statm in 64 KiB pages: the same
// pages are 16 times the bytes, whatever this host's page size.
TEST(ReadProcesses, ATreeWith64KiBPagesGivesSixteenTimesTheBytesForTheSameStatmPages) {
  testing::TempTree tree;
  tree.copy_fixture("no-memavailable");  // no smaps_rollup: every RSS is statm's
  std::vector<model::Note> notes;
  const auto four_kib = read_processes(tree_roots(tree), notes);
  tree.write("proc/page_size", "65536\n");
  const auto roots = tree_roots(tree);
  EXPECT_EQ(roots.page_size_bytes, 65536u);
  const auto sixty_four_kib = read_processes(roots, notes);
  ASSERT_EQ(four_kib.size(), 3u);
  ASSERT_EQ(sixty_four_kib.size(), four_kib.size());
  for (std::size_t i = 0; i < four_kib.size(); ++i) {
    EXPECT_EQ(sixty_four_kib[i].pid, four_kib[i].pid);
    EXPECT_EQ(sixty_four_kib[i].rss_bytes, 16 * four_kib[i].rss_bytes) << four_kib[i].name;
  }
  EXPECT_EQ(sixty_four_kib[0].rss_bytes, std::uint64_t{786432} * 65536);  // java's pages
}

TEST(ReadProcesses, SandboxedProcessSortsByRssAmongPss) {
  std::vector<model::Note> notes;
  const auto processes = read_processes(fixture_roots("v2-without-optional-files"), notes);
  const std::uint64_t page = kFixturePage;
  EXPECT_THAT(rows(processes), ElementsAre(Row{1, "python3", 3670016 * kKiB, 3617587 * kKiB},
                                           Row{42, "uvicorn", 204800 / 4 * page, -1},
                                           Row{88, "bash", 4096 * kKiB, 1500 * kKiB}));
  EXPECT_THAT(note_ids(notes), ElementsAre("pss_unknown"));
  EXPECT_THAT(notes[0].message, HasSubstr("1 process(es)"));
}

// Issue 25: one process's smaps_rollup that does not parse ended the whole report (exit 1, no
// document). It costs that process its PSS (statm's RSS is shown), and a statm that does not
// parse either costs the process; the note names the first file.
TEST(ReadProcesses, AMalformedFileCostsThatProcessNotTheList) {
  testing::TempTree tree;
  tree.copy_fixture("shared-workers");
  tree.write("proc/200/smaps_rollup", "Rss: 512000 kB\nPss: lots kB\n");
  tree.write("proc/103/smaps_rollup", "garbage\n");
  tree.write("proc/103/statm", "x y z\n");
  std::vector<model::Note> notes;
  const auto processes = read_processes(tree_roots(tree), notes);
  const std::uint64_t page = kFixturePage;
  const std::int64_t kWorkerPss = 286720 * kKiB;
  const std::int64_t redis_rss = 128000 * static_cast<std::int64_t>(page);  // statm's 2nd field
  // Sorted by its RSS where its PSS is unknown.
  EXPECT_THAT(rows(processes), ElementsAre(Row{200, "redis-server", redis_rss, -1},
                                           Row{100, "python3", 1258291 * kKiB, 307200 * kKiB},
                                           Row{101, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{102, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{104, "python3", 1153434 * kKiB, kWorkerPss},
                                           Row{1, "tini", 800 * kKiB, 120 * kKiB}));
  ASSERT_THAT(note_ids(notes), ElementsAre("process_file_malformed"));
  EXPECT_THAT(notes[0].message, HasSubstr("2 process(es) with a file that does not parse"));
  EXPECT_THAT(notes[0].message, HasSubstr(tree.path("proc/")));

  // Through the cache: an unchanged process is not read again, and still said.
  ProcessCache cache(std::chrono::seconds(60));
  const auto now = ProcessCache::Clock::now();
  std::vector<model::Note> first;
  std::vector<model::Note> second;
  (void)read_processes({tree.path("proc"), tree.path("sys")}, first, &cache, now);
  const auto again = read_processes({tree.path("proc"), tree.path("sys")}, second, &cache, now);
  EXPECT_EQ(rows(again), rows(processes));
  EXPECT_THAT(note_ids(second), ElementsAre("process_file_malformed"));
  EXPECT_THAT(second[0].message, HasSubstr("2 process(es)"));
}

TEST(ReadProcesses, SkipsAProcessThatVanishedAndNonProcessEntries) {
  testing::TempTree tree;
  tree.copy_fixture("shared-workers");
  tree.mkdir("proc/4242");                 // exited between readdir and open: no files left
  tree.mkdir("proc/0123");                 // not a pid
  tree.mkdir("proc/sys");                  // not a pid
  tree.write("proc/4343/comm", "gone\n");  // exited after comm was read
  std::vector<model::Note> notes;
  const auto processes = read_processes(tree_roots(tree), notes);
  EXPECT_EQ(processes.size(), 7u);
  EXPECT_THAT(notes, IsEmpty());
}

TEST(ReadProcesses, EmptyProcfsIsAnEmptyList) {
  testing::TempTree tree;
  tree.mkdir("proc");
  std::vector<model::Note> notes;
  EXPECT_THAT(read_processes(tree_roots(tree), notes), IsEmpty());
}

TEST(ReadProcesses, MissingProcfsRootIsAnErrorNamingIt) {
  std::vector<model::Note> notes;
  const std::string message = error_of([&] {
    (void)read_processes({"/nonexistent/proc", "/sys"}, notes);
  });
  EXPECT_THAT(message, HasSubstr("/nonexistent/proc"));
}

TEST(ReadProcesses, AMalformedSmapsRollupIsANoteNamingItsLine) {
  testing::TempTree tree;
  tree.copy_fixture("shared-workers");
  tree.write("proc/102/smaps_rollup", "Rss: 8 kB\nPss: ? kB\n");
  std::vector<model::Note> notes;
  (void)read_processes(tree_roots(tree), notes);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0].message, HasSubstr(prefix(tree.path("proc/102/smaps_rollup"), 2)));
}

TEST(ReadProcesses, AMalformedStatmIsANoteNamingItsLine) {
  testing::TempTree tree;
  tree.copy_fixture("no-memavailable");
  tree.write("proc/1187/statm", "garbage\n");
  std::vector<model::Note> notes;
  const auto processes = read_processes(tree_roots(tree), notes);
  for (const auto& p : processes) EXPECT_NE(p.pid, 1187);
  ASSERT_THAT(note_ids(notes), ::testing::Contains("process_file_malformed"));
  EXPECT_THAT(notes[0].message, HasSubstr(prefix(tree.path("proc/1187/statm"), 1)));
}

TEST(ReadProcesses, NamesAreCommWithoutNewline) {
  testing::TempTree tree;
  tree.write("proc/5/comm", "my worker\n");
  tree.write("proc/5/smaps_rollup",
             "Rss: 8 kB\nPss: 4 kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: 4 kB\n");
  tree.write("proc/5/cmdline", std::string("python3\0--token=SECRET\0", 24));
  std::vector<model::Note> notes;
  const auto processes = read_processes(tree_roots(tree), notes);
  ASSERT_EQ(processes.size(), 1u);
  EXPECT_EQ(processes[0].name, "my worker");
  EXPECT_EQ(processes[0].pss_bytes, 4 * kKiB);
}

}  // namespace
}  // namespace memopt::readers
