// KeptFile and read_small: the one-call reads of a monitor's per-process statm.
#include "memopt/sys/kept_file.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "support/tree.hpp"

namespace memopt::sys {
namespace {

TEST(KeptFile, ReadsTheWholeFileAgainFromItsStart) {
  const testing::TempTree tree;
  const auto path = tree.write("statm", "10 5 1 1 0 4 0\n");
  KeptFile file;
  ASSERT_EQ(file.open(path), 0);
  std::string text;
  ASSERT_EQ(file.read(text), 0);
  EXPECT_EQ(text, "10 5 1 1 0 4 0\n");
  tree.write("statm", "12 6 1 1 0 5 0\n");  // rewritten in place: the same file
  ASSERT_EQ(file.read(text), 0);
  EXPECT_EQ(text, "12 6 1 1 0 5 0\n");
}

TEST(KeptFile, AFileThatFillsTheBufferIsNotTakenAndAClosedOneSaysSo) {
  const testing::TempTree tree;
  KeptFile file;
  ASSERT_EQ(file.open(tree.write("big", std::string(kKeptFileBytes, '7'))), 0);
  std::string text = "old";
  EXPECT_EQ(file.read(text), kFileTooLarge);
  EXPECT_TRUE(text.empty());
  EXPECT_EQ(file.open(tree.path("missing")), ENOENT);
  EXPECT_FALSE(file.is_open());
  EXPECT_EQ(file.read(text), EBADF);
}

TEST(KeptFile, AProcessesStatmFailsOnceThatProcessIsGone) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::pause();
    ::_exit(0);
  }
  KeptFile file;
  ASSERT_EQ(file.open(fmt::format("/proc/{}/statm", child)), 0);
  std::string text;
  EXPECT_EQ(file.read(text), 0);
  EXPECT_FALSE(text.empty());
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  // Reaped: the file is of that process, not of whichever takes its pid next.
  EXPECT_EQ(file.read(text), ESRCH);
}

TEST(KeptFiles, KeepsTheKernelsFilesOpenAndReadsOthersByPathEachTime) {
  KeptFiles files;
  const auto first = files.read_required("/proc/meminfo");
  EXPECT_EQ(first.rfind("MemTotal:", 0), 0u);
  EXPECT_EQ(files.size(), 1u);
  EXPECT_EQ(files.read_required("/proc/meminfo").rfind("MemTotal:", 0), 0u);
  EXPECT_EQ(files.size(), 1u);

  // A captured tree's file can be removed or replaced: never kept, so never stale.
  const testing::TempTree tree;
  const auto path = tree.write("memory.usage_in_bytes", "4096\n");
  EXPECT_EQ(files.read_optional(path), "4096\n");
  EXPECT_EQ(files.size(), 1u);
  tree.remove("memory.usage_in_bytes");
  EXPECT_EQ(files.read_optional(path), std::nullopt);
  try {
    (void)files.read_required(path);
    ADD_FAILURE() << "a missing file read as required did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  files.clear();
  EXPECT_EQ(files.size(), 0u);
}

TEST(KeptFiles, RemembersAFileItWillNotKeepAndReadsItByPathAsItIsReplaced) {
  KeptFiles files;
  const testing::TempTree tree;
  const auto path = tree.write("memory.current", "100\n");
  EXPECT_FALSE(files.refused(path));
  EXPECT_EQ(files.read_required(path), "100\n");
  EXPECT_TRUE(files.refused(path)) << "a file outside the kernel's filesystems is remembered";
  EXPECT_EQ(files.size(), 0u);

  // Replaced by another file under the same name (a regenerated tree): the new one is read.
  const auto replacement = tree.write("memory.current.new", "200\n");
  ASSERT_EQ(::rename(replacement.c_str(), path.c_str()), 0);
  EXPECT_EQ(files.read_required(path), "200\n");
  EXPECT_EQ(files.size(), 0u);

  // A file that is not there yet is not refused: once it is, it is looked at like any other.
  const auto later = tree.path("memory.peak");
  EXPECT_EQ(files.read_optional(later), std::nullopt);
  EXPECT_FALSE(files.refused(later));
  tree.write("memory.peak", "300\n");
  EXPECT_EQ(files.read_optional(later), "300\n");
  EXPECT_TRUE(files.refused(later));

  // The kernel's own files are kept, never refused.
  (void)files.read_required("/proc/meminfo");
  EXPECT_FALSE(files.refused("/proc/meminfo"));
  EXPECT_EQ(files.size(), 1u);

  // A target that moves may read another filesystem: clear() forgets the refusals too.
  files.clear();
  EXPECT_FALSE(files.refused(path));
  EXPECT_EQ(files.read_required(path), "200\n");
}

TEST(ReadSmall, ReadsASmallFileAndLeavesTheRestToReadInto) {
  const testing::TempTree tree;
  std::string text;
  ASSERT_EQ(read_small(tree.write("statm", "10 5 1 1 0 4 0\n"), text), 0);
  EXPECT_EQ(text, "10 5 1 1 0 4 0\n");
  // Larger than one read: read_into reads it whole.
  const std::string large(3 * kKeptFileBytes, 'x');
  ASSERT_EQ(read_small(tree.write("large", large), text), 0);
  EXPECT_EQ(text, large);
  // Nothing to read at once (a FIFO): read_into's answer, never a block.
  const auto fifo = tree.path("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(read_small(fifo, text), kNotRegularFile);
  EXPECT_EQ(read_small(tree.path("missing"), text), ENOENT);
  EXPECT_EQ(read_small(tree.path(""), text), kNotRegularFile);  // a directory
}

}  // namespace
}  // namespace memopt::sys
