#include "memopt/sys/self.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include "support/tree.hpp"

namespace memopt::sys {
namespace {

// A procfs root whose self/ns/pid link names `target`.
void link_pid_namespace(const testing::TempTree& tree, const std::string& target) {
  tree.mkdir("proc/self/ns");
  ASSERT_EQ(::symlink(target.c_str(), tree.path("proc/self/ns/pid").c_str()), 0);
}

TEST(InInitialPidNamespace, TheKernelsInitialNamespaceIsTheHosts) {
  const testing::TempTree tree;
  link_pid_namespace(tree, "pid:[4026531836]");
  EXPECT_EQ(in_initial_pid_namespace(tree.path("proc")), true);
}

TEST(InInitialPidNamespace, AnyOtherNamespaceIsAContainers) {
  const testing::TempTree tree;
  link_pid_namespace(tree, "pid:[4026532481]");
  EXPECT_EQ(in_initial_pid_namespace(tree.path("proc")), false);
}

TEST(InInitialPidNamespace, UnknownWhenTheLinkIsMissing) {
  const testing::TempTree tree;
  tree.mkdir("proc/self");
  EXPECT_EQ(in_initial_pid_namespace(tree.path("proc")), std::nullopt);
}

TEST(InInitialPidNamespace, AnswersForThisProcess) {
  // Whatever this machine is, the real link reads and gives an answer.
  EXPECT_TRUE(in_initial_pid_namespace("/proc").has_value());
}

}  // namespace
}  // namespace memopt::sys
