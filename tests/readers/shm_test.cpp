// The /dev/shm ledger: owners from names, holders from fds and maps, orphans — against real
// files in a directory on the machine's /dev/shm tmpfs and real processes.
#include "memopt/readers/shm.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <string>

#include "support/shm_dir.hpp"

namespace memopt::readers {
namespace {

using testing::ShmTestDir;

TEST(ShmOwner, TorchFileSystemNamesCarryTheirPid) {
  EXPECT_EQ(parse_shm_owner("torch_12345_2788916414_0"), 12345);
  EXPECT_EQ(parse_shm_owner("torch_7_1_2"), 7);
}

TEST(ShmOwner, MultiprocessingHeapArenasCarryTheirPid) {
  EXPECT_EQ(parse_shm_owner("pym-4242-x1y2z3"), 4242);
}

TEST(ShmOwner, NamesWithoutAPidHaveNoOwner) {
  for (const char* name :
       {"pymp-abc123", "psm_8f3a", "sem.mp-1", "torch_", "torch_abc_1", "torch_0_1_2", "torch_-5_1",
        "torch_99999999999_1", "torch_12", "pym--1-a", "xtorch_12_1", "torch_12x_1"}) {
    EXPECT_FALSE(parse_shm_owner(name).has_value()) << name;
  }
}

TEST(ShmMaps, OnlyMappingsOnTheDirectorysDeviceCount) {
  const std::string maps =
      "7f00-7f10 rw-s 00000000 00:1a 4242                       /dev/shm/torch_1_2_3\n"
      "7f10-7f20 r--p 00000000 08:01 99                         /usr/lib/libc.so.6\n"
      "7f20-7f30 rw-s 00000000 00:1a 77                         /dev/shm/pym-1-x (deleted)\n"
      "garbage line\n"
      "7f30-7f40 rw-p 00000000 00:00 0 \n";
  const auto inodes = parse_maps_inodes(maps, {0, 0x1a});
  EXPECT_EQ(inodes, (std::vector<std::uint64_t>{4242, 77}));
  EXPECT_TRUE(parse_maps_inodes(maps, {0, 0x1b}).empty());
}

sys::DirListing list(const std::string& dir) {
  sys::DirListing listing;
  EXPECT_EQ(sys::list_shm_directory(dir, kMaxShmEntries, listing), 0) << dir;
  return listing;
}

const model::ShmFile* find(const model::ShmLedger& ledger, const std::string& name) {
  for (const auto& f : ledger.files)
    if (f.name == name) return &f;
  return nullptr;
}

TEST(ShmLedger, AFileOfADeadOwnerThatNobodyHoldsIsAnOrphan) {
  ShmTestDir dir;
  dir.write("torch_100_1_0", 3 << 20);  // dead owner, nobody holds it
  dir.write("torch_200_1_0", 1 << 20);  // live owner
  dir.write("psm_nopid", 1 << 20);      // no owner in its name
  dir.write("torch_300_1_0", 2 << 20);  // dead owner, held by pid 55
  ASSERT_EQ(::symlink("/etc/passwd", (dir.path() + "/torch_100_9_9").c_str()), 0);
  ASSERT_EQ(::mkdir((dir.path() + "/torch_100_8_8").c_str(), 0700), 0);
  auto listing = list(dir.path());
  EXPECT_TRUE(listing.tmpfs);
  std::vector<ShmHolders> holders;
  for (const auto& e : listing.entries)
    if (e.name == "torch_300_1_0") holders.push_back({55, {e.id.inode}});
  const auto ledger = build_shm_ledger({dir.path(), std::nullopt}, listing, holders, true,
                                       [](int pid) { return pid == 200 || pid == 55; });
  ASSERT_EQ(ledger.file_count, 6u);
  const auto* dead = find(ledger, "torch_100_1_0");
  ASSERT_NE(dead, nullptr);
  EXPECT_TRUE(dead->orphan);
  EXPECT_EQ(dead->owner_alive, false);
  EXPECT_GE(dead->allocated_bytes, 3u << 20);
  EXPECT_EQ(dead->size_bytes, 3u << 20);
  EXPECT_FALSE(find(ledger, "torch_200_1_0")->orphan);
  EXPECT_EQ(find(ledger, "torch_200_1_0")->owner_alive, true);
  EXPECT_FALSE(find(ledger, "psm_nopid")->orphan);
  EXPECT_FALSE(find(ledger, "psm_nopid")->owner_pid.has_value());
  const auto* held = find(ledger, "torch_300_1_0");
  EXPECT_FALSE(held->orphan);
  EXPECT_EQ(held->holders, std::vector<int>{55});
  EXPECT_EQ(find(ledger, "torch_100_9_9")->type, "symlink");
  EXPECT_FALSE(find(ledger, "torch_100_9_9")->orphan);
  EXPECT_EQ(find(ledger, "torch_100_8_8")->type, "directory");
  EXPECT_FALSE(find(ledger, "torch_100_8_8")->orphan);
  EXPECT_EQ(ledger.orphan_files, 1u);
  EXPECT_EQ(ledger.orphan_bytes, dead->allocated_bytes);
  // Largest first.
  EXPECT_EQ(ledger.files.front().name, "torch_100_1_0");
}

TEST(ShmLedger, AFileOnAnotherDeviceIsNeverAnOrphan) {
  ShmTestDir dir;
  dir.write("torch_100_1_0", 4096);
  auto listing = list(dir.path());
  listing.entries.front().id.device.minor += 1;  // as a file bind-mounted over the entry shows
  const auto ledger =
      build_shm_ledger({dir.path(), std::nullopt}, listing, {}, true, [](int) { return false; });
  EXPECT_TRUE(ledger.files.front().other_filesystem);
  EXPECT_FALSE(ledger.files.front().orphan);
}

TEST(ShmLedger, OwnersThatCannotBeJudgedAreNeverDead) {
  ShmTestDir dir;
  dir.write("torch_100_1_0", 4096);
  const auto ledger = build_shm_ledger({dir.path(), std::nullopt}, list(dir.path()), {}, false,
                                       [](int) { return false; });
  EXPECT_FALSE(ledger.files.front().owner_alive.has_value());
  EXPECT_FALSE(ledger.files.front().orphan);
  EXPECT_EQ(ledger.orphan_files, 0u);
}

TEST(ShmLedger, TheListIsBoundedButTheTotalsCountEveryFile) {
  ShmTestDir dir;
  for (int i = 0; i < 30; ++i) dir.write("torch_100_1_" + std::to_string(i), 4096);
  const auto ledger = build_shm_ledger(
      {dir.path(), std::nullopt}, list(dir.path()), {}, true, [](int) { return false; }, 10);
  EXPECT_EQ(ledger.files.size(), 10u);
  EXPECT_TRUE(ledger.files_truncated);
  EXPECT_EQ(ledger.file_count, 30u);
  EXPECT_EQ(ledger.orphan_files, 30u);
}

// A child that holds `path` open (fd) or only mapped (fd closed), until killed.
pid_t hold(const std::string& path, bool map_only) {
  int ready[2];
  EXPECT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(path.c_str(), O_RDWR);
    if (fd < 0) ::_exit(1);
    if (map_only) {
      if (::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED) ::_exit(2);
      ::close(fd);
    }
    (void)::write(ready[1], "x", 1);
    ::pause();
    ::_exit(0);
  }
  char c = 0;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  return pid;
}

void end(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(ShmLedger, RealProcessesHoldingAFileOpenOrMappedAreItsHolders) {
  ShmTestDir dir;
  const int dead = testing::dead_pid();
  const auto open_name = "torch_" + std::to_string(dead) + "_1_0";
  const auto mapped_name = "torch_" + std::to_string(dead) + "_1_1";
  const auto orphan_name = "torch_" + std::to_string(dead) + "_1_2";
  const auto live_name = "torch_" + std::to_string(::getpid()) + "_1_3";
  for (const auto& n : {open_name, mapped_name, orphan_name, live_name}) dir.write(n, 8192);
  const pid_t opener = hold(dir.path() + "/" + open_name, false);
  const pid_t mapper = hold(dir.path() + "/" + mapped_name, true);
  std::vector<model::Note> notes;
  const auto ledger = read_shm_ledger(sys::default_roots(), {dir.path(), std::nullopt}, notes);
  end(opener);
  end(mapper);
  ASSERT_TRUE(ledger.has_value());
  EXPECT_TRUE(ledger->owners_judged);
  EXPECT_EQ(find(*ledger, open_name)->holders, std::vector<int>{opener});
  EXPECT_FALSE(find(*ledger, open_name)->orphan);
  EXPECT_EQ(find(*ledger, mapped_name)->holders, std::vector<int>{mapper});
  EXPECT_FALSE(find(*ledger, mapped_name)->orphan);
  EXPECT_TRUE(find(*ledger, orphan_name)->orphan);
  EXPECT_EQ(find(*ledger, live_name)->owner_alive, true);
  EXPECT_FALSE(find(*ledger, live_name)->orphan);
  EXPECT_EQ(ledger->orphan_files, 1u);
  EXPECT_GT(ledger->size_bytes, 0u);
  EXPECT_GE(ledger->used_bytes, 4u * 8192);
}

TEST(ShmLedger, AnEmptyDirectoryLooksAtNoProcess) {
  // A procfs that cannot be listed: looking for holders says so in a note.
  const Roots unlistable{"/nonexistent/proc", "/nonexistent/sys"};
  ShmTestDir dir;
  std::vector<model::Note> notes;
  const auto empty = read_shm_ledger(unlistable, {dir.path(), std::nullopt}, notes);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->files.empty());
  for (const auto& note : notes) EXPECT_NE(note.id, "shm_holders_unknown") << note.message;
  // With a file there, the holders are looked for.
  dir.write("torch_1_1_0", 4096);
  notes.clear();
  const auto one = read_shm_ledger(unlistable, {dir.path(), std::nullopt}, notes);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->files.size(), 1u);
  EXPECT_TRUE(std::any_of(notes.begin(), notes.end(),
                          [](const auto& n) { return n.id == "shm_holders_unknown"; }));
}

TEST(ShmLedger, AnAbsentDirectoryIsAbsentWithoutANote) {
  std::vector<model::Note> notes;
  EXPECT_FALSE(read_shm_ledger(sys::default_roots(), {"/nonexistent/dev/shm", std::nullopt}, notes)
                   .has_value());
  EXPECT_TRUE(notes.empty());  // absent, not advice
}

TEST(ShmLocation, APidTargetIsSeenThroughThatProcesssRoot) {
  model::Sample sample;
  sample.target.kind = model::Target::Kind::kPid;
  sample.target.pid = 4321;
  const auto where = shm_location({"/host/proc", "/sys"}, sample);
  EXPECT_EQ(where.dir, "/host/proc/4321/root/dev/shm");
  EXPECT_EQ(where.via_pid, 4321);
  sample.target.kind = model::Target::Kind::kSelf;
  EXPECT_EQ(shm_location({"/proc", "/sys"}, sample).dir, "/proc/self/root/dev/shm");
}

}  // namespace
}  // namespace memopt::readers
