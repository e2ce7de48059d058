// ProcessCache: a monitor's scans skip the costly smaps_rollup of processes that did not change.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;

constexpr std::uint64_t kWorkerPss = 286720 * kKiB;  // shared-workers, pids 101-104

// A copy of the shared-workers tree (seven processes with statm, comm and smaps_rollup) that
// the tests change between scans, and a clock they move.
class ProcessCacheTest : public ::testing::Test {
 protected:
  ProcessCacheTest() { tree_.copy_fixture("shared-workers"); }

  std::vector<model::ProcessMemory> scan() {
    std::vector<model::Note> notes;
    return read_processes({tree_.path("proc"), tree_.path("sys")}, notes, &cache_, now_);
  }

  // Sets pid 101's Pss line to `kib` without touching its statm.
  void set_pss_of_101(std::uint64_t kib) {
    auto text = testing::slurp(tree_.path("proc/101/smaps_rollup"));
    const auto at = text.find("Pss:");
    const auto end = text.find('\n', at);
    text.replace(at, end - at, "Pss: " + std::to_string(kib) + " kB");
    tree_.write("proc/101/smaps_rollup", text);
  }

  static std::string name_of(const std::vector<model::ProcessMemory>& processes, int pid) {
    for (const auto& p : processes) {
      if (p.pid == pid) return p.name;
    }
    ADD_FAILURE() << "pid " << pid << " not listed";
    return {};
  }

  static std::uint64_t pss_of(const std::vector<model::ProcessMemory>& processes, int pid) {
    for (const auto& p : processes) {
      if (p.pid == pid) return p.pss_bytes.value_or(0);
    }
    ADD_FAILURE() << "pid " << pid << " not listed";
    return 0;
  }

  testing::TempTree tree_;
  ProcessCache cache_{seconds(30)};
  ProcessCache::Clock::time_point now_{seconds(1000)};
};

TEST_F(ProcessCacheTest, FirstScanReadsEveryProcess) {
  std::vector<model::Note> notes;
  const auto plain = read_processes({tree_.path("proc"), tree_.path("sys")}, notes);
  const auto cached = scan();
  EXPECT_EQ(cache_.misses(), 7u);
  EXPECT_EQ(cache_.hits(), 0u);
  EXPECT_EQ(cache_.kept_files(), 0u);  // a captured tree's files are opened at each scan
  ASSERT_EQ(cached.size(), plain.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_EQ(cached[i].pid, plain[i].pid);
    EXPECT_EQ(cached[i].pss_bytes, plain[i].pss_bytes);
    EXPECT_EQ(cached[i].uss_bytes, plain[i].uss_bytes);
    EXPECT_EQ(cached[i].name, plain[i].name);
  }
}

TEST_F(ProcessCacheTest, UnchangedProcessesAreNotReadAgainWithinMaxAge) {
  (void)scan();
  set_pss_of_101(1000);  // the rollup changed, statm did not
  now_ += seconds(29);
  const auto second = scan();
  EXPECT_EQ(cache_.hits(), 7u);
  EXPECT_EQ(cache_.misses(), 0u);
  EXPECT_EQ(pss_of(second, 101), kWorkerPss);  // the remembered figure: at most 30 s old

  now_ += seconds(2);  // 31 s after the full read: read again
  const auto third = scan();
  EXPECT_EQ(cache_.misses(), 7u);
  EXPECT_EQ(pss_of(third, 101), 1000 * kKiB);
}

TEST_F(ProcessCacheTest, AChangedStatmIsReadAgain) {
  (void)scan();
  set_pss_of_101(2000);
  tree_.write("proc/101/statm", "866098 288359 273098 300 0 288158 0\n");  // one more page
  const auto second = scan();
  EXPECT_EQ(cache_.misses(), 1u);
  EXPECT_EQ(cache_.hits(), 6u);
  EXPECT_EQ(pss_of(second, 101), 2000 * kKiB);
}

TEST_F(ProcessCacheTest, ANameChangeShowsAtTheNextFullRead) {
  (void)scan();
  tree_.write("proc/101/comm", "nginx\n");
  now_ += seconds(10);
  EXPECT_EQ(name_of(scan(), 101), "python3");  // statm unchanged: remembered
  now_ += seconds(25);
  EXPECT_EQ(name_of(scan(), 101), "nginx");
}

TEST_F(ProcessCacheTest, KernelThreadsAreKnownFromStatmAlone) {
  tree_.write("proc/300/statm", "0 0 0 0 0 0 0\n");
  tree_.write("proc/300/comm", "kworker/0:1\n");
  tree_.write("proc/300/smaps_rollup", "");
  EXPECT_EQ(scan().size(), 7u);
  EXPECT_EQ(cache_.misses(), 7u);  // the kernel thread was not read past its statm
  EXPECT_EQ(cache_.size(), 7u);
}

TEST_F(ProcessCacheTest, ExitedProcessesAreForgotten) {
  (void)scan();
  EXPECT_EQ(cache_.size(), 7u);
  tree_.remove("proc/102");
  tree_.remove("proc/103");
  const auto second = scan();
  EXPECT_EQ(second.size(), 5u);
  EXPECT_EQ(cache_.size(), 5u);
}

TEST_F(ProcessCacheTest, ProcessesWithoutPssKeepTheirNoteWhenCached) {
  tree_.remove("proc/200/smaps_rollup");  // redis-server: statm RSS only
  (void)scan();
  std::vector<model::Note> notes;
  const auto second = read_processes({tree_.path("proc"), tree_.path("sys")}, notes, &cache_, now_);
  EXPECT_EQ(cache_.hits(), 7u);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].id, "pss_unknown");
  EXPECT_EQ(pss_of(second, 200), 0u);  // unknown (value_or(0) in the helper), not cached PSS
}

// On the live procfs a process's statm stays open between scans, and a process that is gone is
// never read through it (its pid may be another process's by then).
TEST(ProcessCacheLive, KeepsALiveProcessesStatmOpenAndLetsItGoWhenTheProcessIs) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  ProcessCache cache(seconds(30));
  const auto read = [&] {
    ProcessReader reader(sys::default_roots(), &cache, ProcessCache::Clock::now());
    return reader.read(child);
  };
  ASSERT_TRUE(read());
  EXPECT_EQ(cache.kept_files(), 1u);
  // Read through the kept file (the child may still be touching pages: a hit is not certain).
  EXPECT_TRUE(read());
  EXPECT_EQ(cache.kept_files(), 1u);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  EXPECT_FALSE(read());
  EXPECT_EQ(cache.kept_files(), 0u);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace memopt::readers
