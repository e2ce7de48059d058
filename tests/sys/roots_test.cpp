// Roots: where the kernel's files are, and the page size of the kernel that wrote them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "support/tree.hpp"

namespace memopt::sys {
namespace {

using ::testing::HasSubstr;

TEST(Roots, TheLiveRootsHaveThisHostsPageSize) {
  const auto roots = default_roots();
  EXPECT_EQ(roots.procfs, "/proc");
  EXPECT_EQ(roots.page_size_bytes, static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(page_size_of("/proc"), page_size()) << "the kernel has no /proc/page_size";
  EXPECT_EQ(Roots{}.page_size_bytes, page_size());
}

TEST(Roots, ATreeCarriesThePageSizeOfTheKernelItWasCapturedFrom) {
  const testing::TempTree tree;
  tree.mkdir("proc");
  EXPECT_EQ(roots_at(tree.path("proc"), tree.path("sys")).page_size_bytes, page_size())
      << "a tree without page_size is this host's (a host /proc mounted into a sidecar)";
  tree.write("proc/page_size", "65536\n");
  const auto roots = roots_at(tree.path("proc"), tree.path("sys"));
  EXPECT_EQ(roots.procfs, tree.path("proc"));
  EXPECT_EQ(roots.sysfs, tree.path("sys"));
  EXPECT_EQ(roots.page_size_bytes, 65536u);
  tree.write("proc/page_size", "16384");
  EXPECT_EQ(page_size_of(tree.path("proc")), 16384u);
}

TEST(Roots, APageSizeThatIsNotOneIsAnErrorNamingTheFile) {
  const testing::TempTree tree;
  for (const char* bad : {"", "abc\n", "0\n", "4095\n", "512\n", "2097152\n", "4096 kB\n"}) {
    tree.write("proc/page_size", bad);
    try {
      (void)page_size_of(tree.path("proc"));
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(tree.path("proc/page_size"))) << bad;
    }
  }
}

}  // namespace
}  // namespace memopt::sys
