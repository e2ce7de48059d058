#include "memopt/readers/process_tree.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "memopt/error.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using ::testing::ElementsAre;

std::string stat_line(int pid, std::string_view comm, int ppid, std::uint64_t start) {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice num_threads itrealvalue starttime ...
  return fmt::format(
      "{} ({}) S {} 1 1 0 -1 4194560 100 0 0 0 5 1 0 0 20 0 1 0 {} 12345 678 "
      "18446744073709551615\n",
      pid, comm, ppid, start);
}

model::ProcessMemory memory(int pid, std::string name) {
  model::ProcessMemory m;
  m.pid = pid;
  m.name = std::move(name);
  m.rss_bytes = 100;
  return m;
}

TEST(ParseProcStat, ReadsParentAndStartTimePastACommWithParentheses) {
  const auto stat = parse_proc_stat(stat_line(42, "pt_data_worker) (x", 7, 98765), "stat");
  EXPECT_EQ(stat.ppid, 7);
  EXPECT_EQ(stat.start_ticks, 98765u);
}

TEST(ParseProcStat, ACutShortLineIsAnErrorNamingTheFile) {
  try {
    (void)parse_proc_stat("42 (python3) S 7 1 1 0", "/proc/42/stat");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("/proc/42/stat"));
  }
}

TEST(ParseRankEnvironment, KeepsOnlyTheRankVariablesAsNumbers) {
  using namespace std::string_view_literals;
  const auto env = parse_rank_environment(
      "PATH=/usr/bin\0RANK=3\0LOCAL_RANK=1\0WORLD_SIZE=8\0SECRET=hunter2\0"sv);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.world_size, 8);
  const auto odd = parse_rank_environment("RANK=abc\0WORLD_SIZE=\0"sv);
  EXPECT_FALSE(odd.rank);
  EXPECT_FALSE(odd.world_size);
}

TEST(ReadProcessNodes, SameExecutableIsTheFilesIdentityNotItsName) {
  testing::TempTree tree;
  const auto python = tree.write("bin/python3.11", "interpreter");
  std::filesystem::create_hard_link(python, tree.path("bin/python3"));
  const auto bash = tree.write("bin/bash", "shell");
  auto process = [&](int pid, std::string_view comm, int ppid, std::uint64_t start,
                     const std::string& exe) {
    tree.write(fmt::format("proc/{}/stat", pid), stat_line(pid, comm, ppid, start));
    std::filesystem::create_symlink(exe, tree.path(fmt::format("proc/{}/exe", pid)));
  };
  process(100, "python3", 1, 1000, python);
  process(101, "pt_data_worker", 100, 1100, tree.path("bin/python3"));  // a hard link: same file
  process(102, "bash", 100, 1200, bash);
  using namespace std::string_view_literals;
  tree.write("proc/101/environ", "RANK=0\0WORLD_SIZE=1\0"sv);
  tree.write("proc/102/environ", "RANK=5\0WORLD_SIZE=8\0"sv);
  tree.write("proc/100/smaps_rollup",
             "55d0-7ffd ---p 00000000 00:00 0 [rollup]\nRss: 4096 kB\nPss: 3000 kB\n"
             "Private_Clean: 0 kB\nPrivate_Dirty: 1024 kB\nAnonymous: 2048 kB\n");
  tree.write("proc/101/smaps_rollup",
             "Rss: 4000 kB\nPss: 1500 kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: 700 kB\n"
             "Anonymous: 3000 kB\n");
  tree.write("proc/102/smaps_rollup", "Anonymous: 512 kB\n");
  // 103 exited after its memory was read: no stat any more.
  const sys::Roots roots{tree.path("proc"), tree.path("sys")};
  const auto nodes =
      read_process_nodes(roots, {memory(100, "python3"), memory(101, "pt_data_worker"),
                                 memory(102, "bash"), memory(103, "gone")});
  ASSERT_EQ(nodes.size(), 3u);
  // The names survive (compacting the nodes once moved a short name onto itself, emptying it).
  EXPECT_EQ(nodes[0].memory.name, "python3");
  EXPECT_EQ(nodes[1].memory.name, "pt_data_worker");
  EXPECT_EQ(nodes[2].memory.name, "bash");
  EXPECT_EQ(nodes[0].ppid, 1);
  EXPECT_EQ(nodes[1].ppid, 100);
  EXPECT_EQ(nodes[1].start_ticks, 1100u);
  ASSERT_TRUE(nodes[0].exe && nodes[1].exe && nodes[2].exe);
  EXPECT_EQ(*nodes[0].exe, *nodes[1].exe);
  EXPECT_NE(*nodes[0].exe, *nodes[2].exe);
  // Only a process sharing its executable with its parent or a child has its environment read.
  EXPECT_EQ(nodes[1].rank, 0);
  EXPECT_FALSE(nodes[2].rank);
  // The parent's anonymous memory, what its workers can copy; nobody else's is read.
  EXPECT_EQ(nodes[0].anon_bytes, 2048u * 1024);
  EXPECT_FALSE(nodes[2].anon_bytes);
  EXPECT_FALSE(nodes[1].anon_bytes);
  // Workers' figures are read again, not taken from the (possibly cached) sample.
  EXPECT_EQ(nodes[1].memory.uss_bytes, 700u * 1024);
  EXPECT_EQ(nodes[1].memory.rss_bytes, 4000u * 1024);
  EXPECT_EQ(nodes[2].memory.rss_bytes, 100u);
}

TEST(ReadProcessNodes, AWorkerWhoseRollupIsGoneExitedAndIsLeftOut) {
  testing::TempTree tree;
  const auto python = tree.write("bin/python3", "interpreter");
  for (const auto& [pid, ppid] : {std::pair{10, 1}, std::pair{11, 10}, std::pair{12, 10}}) {
    tree.write(fmt::format("proc/{}/stat", pid), stat_line(pid, "python3", ppid, 100 + pid));
    std::filesystem::create_symlink(python, tree.path(fmt::format("proc/{}/exe", pid)));
  }
  tree.write("proc/10/smaps_rollup",
             "Rss: 8 kB\nPss: 8 kB\nPrivate_Clean: 0 kB\n"
             "Private_Dirty: 8 kB\nAnonymous: 8 kB\n");
  tree.write("proc/11/smaps_rollup", "");  // a process that exits as it is read
  const sys::Roots roots{tree.path("proc"), tree.path("sys")};
  const auto nodes = read_process_nodes(
      roots, {memory(10, "python3"), memory(11, "python3"), memory(12, "python3")});
  // 12 has no smaps_rollup but still its stat (a kernel before 4.14): kept, as it was read.
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].memory.pid, 10);
  EXPECT_EQ(nodes[1].memory.pid, 12);
}

TEST(ParseRollupAnonymous, ReadsTheLineAndRefusesAMalformedOne) {
  EXPECT_EQ(parse_rollup_anonymous("Rss: 10 kB\nAnonymous:   300 kB\nSwap: 0 kB\n"), 300u * 1024);
  EXPECT_FALSE(parse_rollup_anonymous("Rss: 10 kB\n"));
  EXPECT_FALSE(parse_rollup_anonymous("Anonymous: lots kB\n"));
}

TEST(ReadProcessNodes, AnUnfollowableExeLeavesTheExecutableUnknown) {
  testing::TempTree tree;
  tree.write("proc/7/stat", stat_line(7, "python3", 1, 10));
  const sys::Roots roots{tree.path("proc"), tree.path("sys")};
  const auto nodes = read_process_nodes(roots, {memory(7, "python3")});
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_FALSE(nodes[0].exe);
}

}  // namespace
}  // namespace memopt::readers
