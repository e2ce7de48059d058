#include "memopt/readers/process_tree.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <unordered_set>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/exit_watch.hpp"
#include "memopt/sys/pidfd.hpp"
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

TEST(ParseProcStat, ALineCutShortHasNoStartTimeAndOneWithoutItsParentIsAnError) {
  EXPECT_FALSE(parse_proc_stat("42 (python3) S 7 1 1 0", "/proc/42/stat").start_ticks);
  try {
    (void)parse_proc_stat("42 (python3) S", "/proc/42/stat");
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
  const Roots roots{tree.path("proc"), tree.path("sys")};
  const auto nodes =
      read_process_nodes(roots, {memory(100, "python3"), memory(101, "pt_data_worker"),
                                 memory(102, "bash"), memory(103, "gone")});
  ASSERT_EQ(nodes.size(), 3u);
  // The sample's names are kept: every node was emptied of its name once.
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
  // The parent's anonymous memory, what its workers can copy, and the worker's (what it still
  // shares with the parent, with its USS); nobody else's is read.
  EXPECT_EQ(nodes[0].anon_bytes, 2048u * 1024);
  EXPECT_EQ(nodes[1].anon_bytes, 3000u * 1024);
  EXPECT_FALSE(nodes[2].anon_bytes);
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
  const Roots roots{tree.path("proc"), tree.path("sys")};
  const auto nodes = read_process_nodes(
      roots, {memory(10, "python3"), memory(11, "python3"), memory(12, "python3")});
  // 12 has no smaps_rollup but still its stat (a kernel before 4.14): kept, as it was read.
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].memory.pid, 10);
  EXPECT_EQ(nodes[1].memory.pid, 12);
  EXPECT_EQ(nodes[0].memory.name, "python3");
  EXPECT_EQ(nodes[1].memory.name, "python3");
}

TEST(ParseRollupAnonymous, ReadsTheLineAndRefusesAMalformedOne) {
  EXPECT_EQ(parse_rollup_anonymous("Rss: 10 kB\nAnonymous:   300 kB\nSwap: 0 kB\n"), 300u * 1024);
  EXPECT_FALSE(parse_rollup_anonymous("Rss: 10 kB\n"));
  EXPECT_FALSE(parse_rollup_anonymous("Anonymous: lots kB\n"));
}

TEST(ReadProcessNodes, AnUnfollowableExeLeavesTheExecutableUnknown) {
  testing::TempTree tree;
  tree.write("proc/7/stat", stat_line(7, "python3", 1, 10));
  const Roots roots{tree.path("proc"), tree.path("sys")};
  const auto nodes = read_process_nodes(roots, {memory(7, "python3")});
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_FALSE(nodes[0].exe);
}

/// An ExitWatch the test drives: every pid can be watched; exit(pid) is what the next poll()
/// reports.
class FakeExitWatch final : public sys::ExitWatch {
 public:
  explicit FakeExitWatch(std::set<int>& exited) : exited_(exited) {}
  bool watch(int pid) override {
    watched_.insert(pid);
    return true;
  }
  [[nodiscard]] bool watching(int pid) const override { return watched_.contains(pid); }
  void poll() override {
    for (const int pid : exited_) watched_.erase(pid);
    exited_.clear();
  }
  void keep_only(const std::unordered_set<int>& pids) override {
    std::erase_if(watched_, [&](int pid) { return !pids.contains(pid); });
  }
  [[nodiscard]] std::size_t size() const override { return watched_.size(); }

 private:
  std::set<int>& exited_;
  std::set<int> watched_;
};

/// A captured tree of one python3 (pid 300, parent 1) and its worker (301).
struct CachedTree {
  testing::TempTree tree;
  std::string python = tree.write("bin/python3", "interpreter");
  std::string bash = tree.write("bin/bash", "shell");
  std::set<int> exited;
  ProcessTreeCache cache{std::make_unique<FakeExitWatch>(exited)};
  Roots roots{tree.path("proc"), tree.path("sys")};

  CachedTree() {
    process(300, 1, 1000, python);
    process(301, 300, 1100, python);
  }
  void process(int pid, int ppid, std::uint64_t start, const std::string& exe) const {
    tree.write(fmt::format("proc/{}/stat", pid), stat_line(pid, "python3", ppid, start));
    tree.write(fmt::format("proc/{}/smaps_rollup", pid),
               "Rss: 8 kB\nPss: 8 kB\nPrivate_Clean: 0 kB\nPrivate_Dirty: 8 kB\n");
    const auto link = tree.path(fmt::format("proc/{}/exe", pid));
    std::filesystem::remove(link);
    std::filesystem::create_symlink(exe, link);
  }
  /// One sample: 300 and 301 with the figures the process cache gave (301's as `worker`).
  std::vector<model::ProcessNode> read(model::ProcessMemory worker = memory(301, "python3")) {
    return read_process_nodes(roots, {memory(300, "python3"), std::move(worker)}, &cache);
  }
};

TEST(ProcessTreeCache, WhileAProcessAndItsParentLiveTheirStatIsNotReadAgain) {
  CachedTree t;
  ASSERT_EQ(t.read().size(), 2u);
  EXPECT_EQ(t.cache.misses(), 2u);
  // Unreadable now: only the cache can still place them.
  t.tree.remove("proc/300/stat");
  t.tree.remove("proc/301/stat");
  const auto nodes = t.read();
  EXPECT_EQ(t.cache.hits(), 2u);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1].ppid, 300);
  EXPECT_EQ(nodes[1].start_ticks, 1100u);
}

TEST(ProcessTreeCache, APidReusedByAnotherProcessIsReadAgain) {
  CachedTree t;
  (void)t.read();
  // 301 exited; a shell started later took its pid, a child of pid 1.
  t.exited.insert(301);
  t.process(301, 1, 9000, t.bash);
  const auto nodes = t.read();
  EXPECT_EQ(t.cache.hits(), 1u);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1].ppid, 1);
  EXPECT_EQ(nodes[1].start_ticks, 9000u);
  EXPECT_NE(nodes[1].exe, nodes[0].exe);
}

TEST(ProcessTreeCache, AParentsExitRereadsItsChildren) {
  CachedTree t;
  (void)t.read();
  // 300 exited (its pid taken again at once) and 301 was reparented to pid 1.
  t.exited.insert(300);
  t.process(300, 1, 5000, t.python);
  t.process(301, 1, 1100, t.python);
  const auto nodes = t.read();
  EXPECT_EQ(t.cache.hits(), 0u);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].start_ticks, 5000u);
  EXPECT_EQ(nodes[1].ppid, 1);
}

TEST(ProcessTreeCache, AnExecIsSeenThoughPidAndStartTimeStay) {
  CachedTree t;
  auto nodes = t.read();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].exe, nodes[1].exe);
  // exec keeps the pid, the parent and the start time: the executable tells, and the name and
  // figures (a new address space) say to look at it again.
  t.process(301, 300, 1100, t.bash);
  nodes = t.read(memory(301, "bash"));
  EXPECT_EQ(t.cache.hits(), 2u);
  ASSERT_EQ(nodes.size(), 2u);
  ASSERT_TRUE(nodes[0].exe && nodes[1].exe);
  EXPECT_NE(*nodes[0].exe, *nodes[1].exe);
}

TEST(ProcessTreeCache, WhileAProcessShowsTheSameFiguresItsExecutableIsNotLookedAtAgain) {
  CachedTree t;
  auto nodes = t.read();
  ASSERT_EQ(nodes.size(), 2u);
  const auto python = nodes[1].exe;
  ASSERT_TRUE(python);
  // The link now leads nowhere: only the cache can still say what 301 runs.
  t.tree.remove("proc/301/exe");
  nodes = t.read();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1].exe, python);
  // Any figure that moves (here RSS) sends it back to the link, which cannot be followed.
  auto moved = memory(301, "python3");
  moved.rss_bytes += 4096;
  nodes = t.read(moved);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_FALSE(nodes[1].exe);
}

TEST(ProcessTreeCache, AProcessGoneFromTheSampleIsForgotten) {
  CachedTree t;
  (void)t.read();
  EXPECT_EQ(t.cache.size(), 2u);
  (void)read_process_nodes(t.roots, {memory(300, "python3")}, &t.cache);
  EXPECT_EQ(t.cache.size(), 1u);
}

/// Real processes on the live /proc, watched through pidfds: this test process and a child
/// that runs the same executable until it is told to exec /bin/sleep.
TEST(ProcessTreeCache, ARealChildsExecAndExitAreSeenThroughPidfds) {
  const Roots roots = sys::default_roots();
  auto cache = ProcessTreeCache::for_roots(roots);
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(go[1]);
    char byte = 0;
    if (::read(go[0], &byte, 1) == 1) ::execl("/bin/sleep", "sleep", "60", nullptr);
    ::_exit(127);
  }
  ::close(go[0]);
  const std::vector<model::ProcessMemory> sample{memory(::getpid(), "tests"),
                                                 memory(child, "tests")};
  auto nodes = read_process_nodes(roots, sample, &cache);
  ASSERT_EQ(nodes.size(), 2u);
  if (cache.size() == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    GTEST_SKIP() << "no pidfd here (Linux < 5.3 or a seccomp filter): nothing is cached";
  }
  EXPECT_EQ(nodes[1].ppid, ::getpid());
  EXPECT_EQ(nodes[0].exe, nodes[1].exe);
  const auto start = nodes[1].start_ticks;

  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ::close(go[1]);
  const auto sleep_exe = sys::file_id("/bin/sleep");
  for (int i = 0; i < 500 && sys::file_id(fmt::format("/proc/{}/exe", child)) != sleep_exe; ++i) {
    ::usleep(10'000);
  }
  // After exec the process cache reads the child anew: its name is sleep's.
  const std::vector<model::ProcessMemory> after_exec{memory(::getpid(), "tests"),
                                                     memory(child, "sleep")};
  nodes = read_process_nodes(roots, after_exec, &cache);
  EXPECT_EQ(cache.hits(), 2u);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1].start_ticks, start);
  EXPECT_EQ(nodes[1].exe ? std::optional(sys::FileId{static_cast<dev_t>(nodes[1].exe->device),
                                                     static_cast<ino_t>(nodes[1].exe->inode)})
                         : std::nullopt,
            sleep_exe);

  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  nodes = read_process_nodes(roots, sample, &cache);
  ASSERT_EQ(nodes.size(), 1u);  // the exited child's stat is gone, and its entry with it
  EXPECT_EQ(cache.size(), 1u);
}

}  // namespace
}  // namespace memopt::readers
