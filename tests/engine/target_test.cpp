// The engine's target tracker on a v2 tree: found, gone when the cgroup is removed, back when
// it returns, and a --pid target followed by its cgroup once the process exits.
#include "engine/target.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/engine_fakes.hpp"
#include "support/tree.hpp"

namespace memopt::engine {
namespace {

using ::testing::HasSubstr;

using Notices = testing::NoticeSink;

class TargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tree_.write("proc/meminfo", "MemTotal: 16777216 kB\nMemAvailable: 12582912 kB\n");
    tree_.write("proc/self/cgroup", "0::/ctr\n");
    tree_.write("sys/fs/cgroup/cgroup.controllers", "memory\n");
    tree_.write("sys/fs/cgroup/cgroup.procs", "");
    make_cgroup();
  }
  void make_cgroup() {
    tree_.write("sys/fs/cgroup/ctr/cgroup.procs", "42\n");
    tree_.write("sys/fs/cgroup/ctr/memory.max", std::to_string(1000 * kMiB) + "\n");
    tree_.write("sys/fs/cgroup/ctr/memory.current", std::to_string(500 * kMiB) + "\n");
    tree_.write("sys/fs/cgroup/ctr/memory.stat", "anon 0\nfile 0\ninactive_file 0\n");
  }
  Roots roots() const { return {tree_.path("proc"), tree_.path("sys")}; }

  testing::TempTree tree_;
  Notices sink_;
};

TEST_F(TargetTest, AFoundTargetStaysFoundWhileItsCgroupIsThere) {
  TargetTracker tracker(roots(), model::Target{}, sink_);
  tracker.start();
  ASSERT_TRUE(tracker.found());
  ASSERT_TRUE(tracker.location());
  EXPECT_THAT(tracker.location()->dir, HasSubstr("/ctr"));
  EXPECT_FALSE(tracker.unreadable());
  EXPECT_FALSE(tracker.track());
  EXPECT_TRUE(tracker.found());
}

TEST_F(TargetTest, ARemovedCgroupIsGoneUntilItIsBackWithItsLimit) {
  TargetTracker tracker(roots(), model::Target{}, sink_);
  tracker.start();
  tracker.set_limit_bytes(1000 * kMiB);
  tree_.remove("sys/fs/cgroup/ctr");
  auto lost = tracker.track();
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->kind, analysis::EventKind::kTargetLost);
  EXPECT_THAT(lost->message, HasSubstr("was removed; unknown until it is back"));
  EXPECT_EQ(tracker.presence(), TargetTracker::Presence::kGone);
  EXPECT_FALSE(tracker.location()) << "nothing of the old cgroup is read";
  EXPECT_FALSE(tracker.limit_bytes()) << "nor its limit kept";
  ASSERT_TRUE(tracker.unreadable());
  EXPECT_FALSE(tracker.track()) << "still gone: said once";

  make_cgroup();
  auto back = tracker.track();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, analysis::EventKind::kTargetFound);
  EXPECT_THAT(back->message, HasSubstr("is back"));
  EXPECT_TRUE(tracker.found());
  EXPECT_EQ(tracker.limit_bytes(), 1000 * kMiB) << "read before its first reading";
  EXPECT_FALSE(tracker.unreadable());
}

TEST_F(TargetTest, LosingATargetWhileItIsReadSaysWhy) {
  TargetTracker tracker(roots(), model::Target{}, sink_);
  tracker.start();
  const auto change = tracker.lose("cgroup /x was removed");
  EXPECT_EQ(change.kind, analysis::EventKind::kTargetLost);
  EXPECT_EQ(tracker.unreadable(), "cgroup /x was removed");
  EXPECT_FALSE(tracker.found());
}

TEST_F(TargetTest, APidThatExitedIsFollowedByItsCgroupUntilItHoldsNoProcess) {
  tree_.write("proc/42/cgroup", "0::/ctr\n");
  tree_.write("proc/42/stat", "42 (python3) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n");
  TargetTracker tracker(roots(), model::Target{model::Target::Kind::kPid, 42, ""}, sink_);
  tracker.start();
  ASSERT_TRUE(tracker.found());
  EXPECT_FALSE(tracker.track());

  tree_.remove("proc/42");  // exited; its cgroup still holds a worker
  EXPECT_FALSE(tracker.track());
  ASSERT_EQ(sink_.said.size(), 1u);
  EXPECT_THAT(sink_.said[0], HasSubstr("pid 42 has exited; following the cgroup it was in"));
  EXPECT_EQ(tracker.watched().kind, model::Target::Kind::kCgroup);

  tree_.write("sys/fs/cgroup/ctr/cgroup.procs", "");
  auto lost = tracker.track();
  ASSERT_TRUE(lost);
  EXPECT_THAT(lost->message, HasSubstr("pid 42 has exited and its cgroup"));
  EXPECT_FALSE(tracker.track()) << "an empty cgroup is not found again";
  tree_.write("sys/fs/cgroup/ctr/cgroup.procs", "43\n");
  auto back = tracker.track();
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind, analysis::EventKind::kTargetFound);
}

}  // namespace
}  // namespace memopt::engine
