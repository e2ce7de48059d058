// sys::remove_shm_file: it removes only the regular file it was told about, relative to the
// directory, and never follows or removes what a link points to.
#include "memopt/sys/shm_dir.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "memopt/sys/fs.hpp"
#include "support/shm_dir.hpp"

namespace memopt::sys {
namespace {

ShmFileId id_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return {{major(st.st_dev), minor(st.st_dev)}, st.st_ino};
}

TEST(RemoveShmFile, RemovesTheRegularFileItWasToldAboutWithItsBytes) {
  testing::ShmTestDir dir;
  dir.write("torch_1_1_1", 1 << 20);
  std::uint64_t bytes = 0;
  ASSERT_EQ(remove_shm_file(dir.path(), "torch_1_1_1", id_of(dir.path() + "/torch_1_1_1"), bytes),
            0);
  EXPECT_GE(bytes, 1u << 20);
  EXPECT_FALSE(exists(dir.path() + "/torch_1_1_1"));
}

TEST(RemoveShmFile, ALinkIsNeverFollowedNorRemoved) {
  testing::ShmTestDir dir;
  testing::ShmTestDir outside;
  outside.write("precious", 4096);
  const auto link = dir.path() + "/torch_1_1_1";
  ASSERT_EQ(::symlink((outside.path() + "/precious").c_str(), link.c_str()), 0);
  std::uint64_t bytes = 0;
  // Even told the inode of the file behind the link.
  EXPECT_EQ(remove_shm_file(dir.path(), "torch_1_1_1", id_of(outside.path() + "/precious"), bytes),
            kNotRegular);
  EXPECT_TRUE(exists(outside.path() + "/precious"));
  struct stat st {};
  EXPECT_EQ(::lstat(link.c_str(), &st), 0);
  EXPECT_EQ(bytes, 0u);
}

TEST(RemoveShmFile, AFileReplacedSinceItWasJudgedStays) {
  testing::ShmTestDir dir;
  dir.write("torch_1_1_1", 4096);
  const auto judged = id_of(dir.path() + "/torch_1_1_1");
  ASSERT_EQ(::unlink((dir.path() + "/torch_1_1_1").c_str()), 0);
  dir.write("keep", 4096);  // holds the inode number for a moment, so the next one differs
  dir.write("torch_1_1_1", 4096);
  std::uint64_t bytes = 0;
  if (id_of(dir.path() + "/torch_1_1_1") != judged) {
    EXPECT_EQ(remove_shm_file(dir.path(), "torch_1_1_1", judged, bytes), kFileChanged);
    EXPECT_TRUE(exists(dir.path() + "/torch_1_1_1"));
  }
}

TEST(RemoveShmFile, DirectoriesAndNamesWithASlashAreRefused) {
  testing::ShmTestDir dir;
  ASSERT_EQ(::mkdir((dir.path() + "/sub").c_str(), 0700), 0);
  dir.write("sub/torch_1_1_1", 4096);
  std::uint64_t bytes = 0;
  EXPECT_EQ(remove_shm_file(dir.path(), "sub", id_of(dir.path() + "/sub"), bytes), kNotRegular);
  EXPECT_EQ(
      remove_shm_file(dir.path(), "sub/torch_1_1_1", id_of(dir.path() + "/sub/torch_1_1_1"), bytes),
      EINVAL);
  EXPECT_EQ(remove_shm_file(dir.path(), "..", id_of(dir.path()), bytes), EINVAL);
  EXPECT_TRUE(exists(dir.path() + "/sub/torch_1_1_1"));
}

TEST(ListShmDirectory, StatsEntriesWithoutFollowingLinks) {
  testing::ShmTestDir dir;
  dir.write("torch_1_1_1", 3 << 20);
  ASSERT_EQ(::symlink("/etc/hostname", (dir.path() + "/link").c_str()), 0);
  DirListing listing;
  ASSERT_EQ(list_shm_directory(dir.path(), 100, listing), 0);
  EXPECT_TRUE(listing.tmpfs);
  EXPECT_GT(listing.size_bytes, 0u);
  ASSERT_EQ(listing.entries.size(), 2u);
  EXPECT_EQ(listing.entry_count, 2u);
  for (const auto& e : listing.entries) {
    if (e.name == "link") {
      EXPECT_EQ(e.type, DirEntry::Type::kSymlink);
    } else {
      EXPECT_EQ(e.type, DirEntry::Type::kRegular);
      EXPECT_EQ(e.size_bytes, 3u << 20);
      EXPECT_GE(e.allocated_bytes, 3u << 20);
      EXPECT_EQ(e.id.device, listing.device);
    }
  }
  DirListing capped;
  ASSERT_EQ(list_shm_directory(dir.path(), 1, capped), 0);
  EXPECT_EQ(capped.entries.size(), 1u);
  EXPECT_EQ(capped.entry_count, 2u);
}

}  // namespace
}  // namespace memopt::sys
