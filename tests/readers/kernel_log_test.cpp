#include "memopt/readers/kernel_log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "support/tree.hpp"

namespace memopt::readers {
namespace {

// As /dev/kmsg gives it (records, with a continuation line) and as dmesg prints it.
constexpr std::string_view kKmsg =
    "6,1201,1962312990,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/"
    ",mems_allowed=0,"
    "oom_memcg=/kubepods/pod1/ctr,task_memcg=/kubepods/pod1/ctr,task=python3,pid=19634,uid=0\n"
    "3,1202,1962313034,-;Memory cgroup out of memory: Killed process 19634 (python3) "
    "total-vm:426168kB, "
    "anon-rss:261120kB, file-rss:6672kB, shmem-rss:0kB, UID:0 pgtables:576kB oom_score_adj:0\n"
    " SUBSYSTEM=memory\n"
    "6,1203,1990000000,-;oom-kill:constraint=CONSTRAINT_MEMCG,oom_memcg=/other,task_memcg=/other/"
    "job,"
    "task=java,pid=777,uid=1000\n"
    "3,1204,1990000100,-;Memory cgroup out of memory: Killed process 777 (java (worker)) "
    "total-vm:1kB, "
    "anon-rss:2048kB, file-rss:0kB\n";

constexpr std::string_view kDmesg =
    "[ 2782.378434] Out of memory: Killed process 26218 (memopt_test_hol) total-vm:267800kB, "
    "anon-rss:261504kB, file-rss:2256kB, shmem-rss:0kB, UID:0 pgtables:568kB oom_score_adj:0\n"
    "[ 2790.000000] usb 1-1: new device\n"
    "[ 2791.000000] Killed process notanumber (x)\n";

TEST(KernelLog, FindsKillsInKmsgRecordsWithTheirCgroup) {
  const auto kills = parse_kernel_oom_kills(kKmsg);
  ASSERT_EQ(kills.size(), 2u);
  EXPECT_EQ(kills[0].pid, 19634);
  EXPECT_EQ(kills[0].name, "python3");
  EXPECT_EQ(kills[0].task_memcg, "/kubepods/pod1/ctr");
  EXPECT_EQ(kills[0].anon_rss_bytes, 261120u * 1024);
  ASSERT_TRUE(kills[0].uptime_seconds);
  EXPECT_NEAR(*kills[0].uptime_seconds, 1962.313034, 1e-6);
  EXPECT_EQ(kills[1].name, "java (worker)");  // comm may hold parentheses
  EXPECT_EQ(kills[1].task_memcg, "/other/job");
}

TEST(KernelLog, FindsKillsInDmesgLinesAndSkipsWhatDoesNotParse) {
  const auto kills = parse_kernel_oom_kills(kDmesg);
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0].pid, 26218);
  EXPECT_FALSE(kills[0].task_memcg);
  EXPECT_NEAR(*kills[0].uptime_seconds, 2782.378434, 1e-6);
  EXPECT_TRUE(parse_kernel_oom_kills("").empty());
  EXPECT_TRUE(parse_kernel_oom_kills("garbage\n\n;;;\n[ unterminated").empty());
}

TEST(KernelLog, KillsInACgroupIncludeItsDescendantsOnly) {
  const auto kills = parse_kernel_oom_kills(kKmsg);
  EXPECT_EQ(kills_in_cgroup(kills, "/kubepods/pod1/ctr").size(), 1u);
  EXPECT_EQ(kills_in_cgroup(kills, "/kubepods").size(), 1u);
  EXPECT_EQ(kills_in_cgroup(kills, "/kubepods/pod1/ct").size(), 0u);  // a prefix is not a parent
  EXPECT_EQ(kills_in_cgroup(kills, "/").size(), 2u);
  // A kill whose cgroup the log does not name cannot be excluded.
  EXPECT_EQ(kills_in_cgroup(parse_kernel_oom_kills(kDmesg), "/kubepods").size(), 1u);
}

// A captured tree's kernel log is its own, never this machine's /dev/kmsg.
TEST(KernelLog, ACapturedTreeIsReadOnlyFromItsOwnLog) {
  if (std::getenv("MEMOPT_KERNEL_LOG") != nullptr) GTEST_SKIP() << "MEMOPT_KERNEL_LOG is set";
  const std::string root = testing::fixture("v2-oom-killed-small-shm");
  std::vector<model::Note> notes;
  const auto kills = read_kernel_oom_kills(Roots{root + "/proc", root + "/sys"}, notes);
  ASSERT_TRUE(kills.has_value());
  EXPECT_EQ(kills->size(), 3u);
  testing::TempTree tree;
  tree.mkdir("proc");
  notes.clear();
  EXPECT_EQ(read_kernel_oom_kills(Roots{tree.path("proc"), tree.path("sys")}, notes), std::nullopt);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_THAT(notes[0].message, ::testing::HasSubstr("kernel.log"));
  EXPECT_THAT(notes[0].message, ::testing::Not(::testing::HasSubstr("/dev/kmsg")));
}

}  // namespace
}  // namespace memopt::readers
