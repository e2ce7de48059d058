// parse_mountinfo against mountinfo as kernels write it (this machine's hybrid host, a pod on a
// cgroup v1 node), and cgroup_hierarchies mapping mount points into captured trees.
#include "memopt/readers/mountinfo.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "memopt/error.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// This machine's /proc/self/mountinfo (hybrid: v1 controllers, cgroup2 at .../unified),
// with a line that has optional fields, one whose mount point holds a space and an nsfs
// bind mount (its root is not a path).
constexpr std::string_view kHybrid =
    "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
    "41 1 259:1 /data /mnt/model\\040store rw,relatime shared:1 master:2 - ext4 /dev/nvme0n1p1 "
    "rw\n"
    "612 29 0:4 net:[4026532281] /run/netns/cni-1 rw shared:230 - nsfs nsfs rw\n";

TEST(ParseMountinfo, ReadsEveryLineWithOptionalFieldsAndEscapes) {
  const auto mounts = parse_mountinfo(kHybrid, "mountinfo");
  ASSERT_EQ(mounts.size(), 8u);
  EXPECT_EQ(mounts[0].mount_point, "/sys");
  EXPECT_EQ(mounts[0].fs_type, "sysfs");
  EXPECT_EQ(mounts[3].mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(mounts[3].fs_type, "cgroup");
  EXPECT_THAT(mounts[3].super_options, ElementsAre("rw", "memory"));
  EXPECT_EQ(mounts[5].fs_type, "cgroup2");
  EXPECT_EQ(mounts[6].root, "/data");
  EXPECT_EQ(mounts[6].mount_point, "/mnt/model store");
  EXPECT_EQ(mounts[6].fs_type, "ext4");
  EXPECT_EQ(mounts[7].root, "net:[4026532281]");
}

TEST(ParseMountinfo, ContainerViewKeepsTheMountRoot) {
  const auto mounts = parse_mountinfo(
      "1745 1740 0:35 /kubepods/pod1/ctr /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime "
      "master:18 - cgroup cgroup rw,memory,hugetlb\n",
      "mountinfo");
  ASSERT_EQ(mounts.size(), 1u);
  EXPECT_EQ(mounts[0].root, "/kubepods/pod1/ctr");
  EXPECT_THAT(mounts[0].super_options, ElementsAre("rw", "memory", "hugetlb"));
}

TEST(ParseMountinfo, MalformedLineNamesTheSourceAndLine) {
  for (const std::string_view bad :
       {"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime cgroup cgroup rw,cpu\n",  // no " - "
        "31 30 0:28 /\n", "31 30 0:28 / /x rw -\n", "31 30 0:28 / x rw - cgroup c rw\n"}) {
    try {
      (void)parse_mountinfo("30 22 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" + std::string(bad),
                            "/proc/self/mountinfo");
      ADD_FAILURE() << "no error for " << bad;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), StartsWith("while reading /proc/self/mountinfo: line 2: ")) << bad;
    }
  }
}

TEST(CgroupHierarchies, MapsMountPointsUnderTheSysfsRootOfACapturedTree) {
  testing::TempTree tree;
  tree.mkdir("sys/fs/cgroup/memory");
  tree.mkdir("sys/fs/cgroup/unified");
  const auto found = cgroup_hierarchies(parse_mountinfo(kHybrid, "mountinfo"),
                                        {tree.path("proc"), tree.path("sys")});
  EXPECT_EQ(found.v1_memory, tree.path("sys/fs/cgroup/memory"));
  EXPECT_EQ(found.v2, tree.path("sys/fs/cgroup/unified"));
}

TEST(CgroupHierarchies, NeverReadsThisMachineForAMountOutsideSys) {
  testing::TempTree tree;
  tree.mkdir("sys/fs/cgroup");
  // An old distribution's /cgroup/memory: a path of the machine that captured the tree.
  const auto found = cgroup_hierarchies(
      parse_mountinfo("20 1 0:19 / /cgroup/memory rw - cgroup cgroup rw,memory\n"
                      "21 1 0:20 / " +
                          tree.path("sys") + "/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                      "mountinfo"),
      {tree.path("proc"), tree.path("sys")});
  EXPECT_EQ(found.v1_memory, std::nullopt);
  EXPECT_EQ(found.v2, tree.path("sys/fs/cgroup"));  // already under the root: as it is
}

TEST(CgroupHierarchies, LeavesOutAHierarchyTheTreeDoesNotHold) {
  testing::TempTree tree;
  tree.mkdir("sys/fs/cgroup/memory");
  const auto found = cgroup_hierarchies(parse_mountinfo(kHybrid, "mountinfo"),
                                        {tree.path("proc"), tree.path("sys")});
  EXPECT_EQ(found.v1_memory, tree.path("sys/fs/cgroup/memory"));
  EXPECT_EQ(found.v2, std::nullopt);
}

}  // namespace
}  // namespace memopt::readers
