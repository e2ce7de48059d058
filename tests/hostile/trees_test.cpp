// Hostile --procfs/--sysfs trees and --config files: a FIFO where a kernel file should be used to
// hang `report` forever (open(2) blocks until a writer comes), a link to /dev/zero made it read
// until bad_alloc, a 1 GiB file cost GiBs of RSS. Kernel files are regular files of a few KiB:
// anything else is refused with a message naming the path, at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";
const std::string kCgroup = "sys/fs/cgroup/kubepods/pod1/ctr/";

// memopt under timeout(1): a hang shows as exit 124 instead of a test that never ends.
testing::RunResult run_bounded(std::vector<std::string> args) {
  args.insert(args.begin(), {"timeout", "20", MEMOPT_BINARY});
  return testing::run_command(args, {kNoNvml});
}

testing::RunResult report_on(const testing::TempTree& tree) {
  return run_bounded(
      {"report", "--json", "--procfs", tree.path("proc"), "--sysfs", tree.path("sys")});
}

// Replaces the file `relative` of the tree with a FIFO that nobody writes.
void make_fifo(const testing::TempTree& tree, const std::string& relative) {
  tree.remove(relative);
  ASSERT_EQ(::mkfifo(tree.path(relative).c_str(), 0644), 0) << relative;
}

void make_link(const testing::TempTree& tree, const std::string& relative,
               const std::string& target) {
  tree.remove(relative);
  ASSERT_EQ(::symlink(target.c_str(), tree.path(relative).c_str()), 0) << relative;
}

// A sparse file of `bytes` (costs no disk).
void make_big(const testing::TempTree& tree, const std::string& relative, off_t bytes) {
  tree.remove(relative);
  tree.write(relative, "");
  ASSERT_EQ(::truncate(tree.path(relative).c_str(), bytes), 0) << relative;
}

TEST(HostileTree, ReadIntoRefusesWhatIsNotARegularFile) {
  testing::TempTree tree;
  const std::string fifo = tree.path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::string out;
  EXPECT_EQ(sys::read_into(fifo, out), sys::kNotRegularFile);
  EXPECT_EQ(sys::read_into("/dev/zero", out), sys::kNotRegularFile);
  EXPECT_EQ(sys::read_into(tree.root(), out), sys::kNotRegularFile);
  EXPECT_THAT(sys::error_text(sys::kNotRegularFile), HasSubstr("not a regular file"));
  try {
    (void)sys::read_required(fifo);
    ADD_FAILURE() << "a FIFO was read";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(fifo));
    EXPECT_THAT(e.what(), HasSubstr("not a regular file"));
  }
}

TEST(HostileTree, ReadIntoCapsWhatOneFileMayBe) {
  testing::TempTree tree;
  make_big(tree, "big", off_t{1} << 30);
  std::string out;
  EXPECT_EQ(sys::read_into(tree.path("big"), out), sys::kFileTooLarge);
  EXPECT_TRUE(out.empty());
  EXPECT_LT(out.capacity(), sys::kMaxKernelFileBytes);
  // Exactly the cap is still read; one byte more is not.
  tree.write("at_cap", std::string(sys::kMaxKernelFileBytes, 'x'));
  EXPECT_EQ(sys::read_into(tree.path("at_cap"), out), 0);
  EXPECT_EQ(out.size(), sys::kMaxKernelFileBytes);
  tree.write("over_cap", std::string(sys::kMaxKernelFileBytes + 1, 'x'));
  EXPECT_EQ(sys::read_into(tree.path("over_cap"), out), sys::kFileTooLarge);
  EXPECT_THAT(sys::error_text(sys::kFileTooLarge), HasSubstr("4 MiB"));
}

TEST(HostileTree, FifoInPlaceOfMeminfoFailsAtOnceNamingIt) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  make_fifo(tree, "proc/meminfo");
  const auto r = report_on(tree);
  EXPECT_EQ(r.exit_code, 1) << "124 means it hung: " << r.err;
  EXPECT_THAT(r.err, HasSubstr(tree.path("proc/meminfo")));
  EXPECT_THAT(r.err, HasSubstr("not a regular file"));
}

// FIFOs where optional or per-process files are: no hang; what they stood for is skipped or
// reported, never read.
TEST(HostileTree, FifosInPlaceOfProcessAndCgroupFilesNeverHang) {
  for (const std::string& file : std::vector<std::string>{
           "proc/7/smaps_rollup", "proc/7/comm", "proc/7/statm", "proc/buddyinfo",
           "proc/self/cgroup", kCgroup + "memory.stat", kCgroup + "memory.current",
           kCgroup + "memory.max", kCgroup + "memory.pressure", kCgroup + "memory.events"}) {
    testing::TempTree tree;
    tree.copy_fixture("v2-nested-parent-limit");
    make_fifo(tree, file);
    const auto r = report_on(tree);
    EXPECT_NE(r.exit_code, 124) << file << " hung the report";
    EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << file << ": " << r.exit_code << r.err;
    if (r.exit_code == 1) {
      EXPECT_THAT(r.err, HasSubstr(file)) << file;
    }
  }
}

TEST(HostileTree, DevZeroInPlaceOfMeminfoIsRefused) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  make_link(tree, "proc/meminfo", "/dev/zero");
  make_link(tree, "proc/7/smaps_rollup", "/dev/zero");
  const auto r = report_on(tree);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(tree.path("proc/meminfo")));
  EXPECT_THAT(r.err, HasSubstr("not a regular file"));
}

TEST(HostileTree, GiantFilesAreRefusedNamingThem) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  make_big(tree, "proc/meminfo", off_t{1} << 30);
  const auto r = report_on(tree);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr(tree.path("proc/meminfo")));
  EXPECT_THAT(r.err, HasSubstr("larger than 4 MiB"));

  testing::TempTree tree2;
  tree2.copy_fixture("v2-nested-parent-limit");
  make_big(tree2, kCgroup + "memory.stat", off_t{1} << 30);
  const auto r2 = report_on(tree2);
  // memory.stat is optional: refused with a note naming it, and the report stands.
  EXPECT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_THAT(r2.out, HasSubstr(tree2.path(kCgroup + "memory.stat")));
  EXPECT_THAT(r2.out, HasSubstr("larger than 4 MiB"));
}

TEST(HostileTree, ConfigThatIsAFifoDoesNotBlockTheMonitor) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string config = tree.path("memopt.toml");
  ASSERT_EQ(::mkfifo(config.c_str(), 0644), 0);
  const auto r = run_bounded({"monitor", "1", "--duration", "1", "--config", config, "--procfs",
                              tree.path("proc"), "--sysfs", tree.path("sys")});
  EXPECT_NE(r.exit_code, 124) << "the monitor blocked on the FIFO";
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(config));
  EXPECT_THAT(r.err, HasSubstr("not a regular file"));
}

// The monitor's kernel notifications (memory.events, memory.pressure) open their files too.
TEST(HostileTree, MonitorWithFifosForItsNotificationFilesEnds) {
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  make_fifo(tree, kCgroup + "memory.events");
  make_fifo(tree, kCgroup + "memory.pressure");
  const auto r = run_bounded({"monitor", "1", "--duration", "2", "--procfs", tree.path("proc"),
                              "--sysfs", tree.path("sys")});
  EXPECT_NE(r.exit_code, 124) << "the monitor blocked in open(2) on a FIFO: " << r.err;
}

}  // namespace
}  // namespace memopt
