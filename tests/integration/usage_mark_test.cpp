// The v1 usage mark (sys::CgroupNotifier::set_usage_mark) on a real memory cgroup: a sleeping
// monitor is woken when the cgroup grows past the mark, and only then.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "memopt/sys/notify.hpp"
#include "memopt/units.hpp"
#include "support/cgroup.hpp"

namespace memopt::testing {
namespace {

using std::chrono::milliseconds;

std::uint64_t usage_of(const TestCgroup& cgroup) {
  std::ifstream in(cgroup.dir() + "/memory.usage_in_bytes");
  std::uint64_t bytes = 0;
  in >> bytes;
  return bytes;
}

TEST(UsageMark, AWaitEndsOnceTheCgroupGrowsPastTheMarkAndNotBefore) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "usage-mark");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  if (cgroup->version() != 1) GTEST_SKIP() << "usage marks are cgroup v1 thresholds";
  Holder holder;
  cgroup->add(holder.pid());
  ASSERT_TRUE(holder.hold(32));
  std::vector<std::string> problems;
  sys::CgroupNotifier notifier(cgroup->dir(), 1, {}, problems);
  ASSERT_TRUE(problems.empty()) << problems.front();

  ASSERT_TRUE(notifier.set_usage_mark(usage_of(*cgroup) + 64 * kMiB));
  ASSERT_TRUE(holder.hold(64));  // +32 MiB: under the mark
  EXPECT_FALSE(notifier.wait(milliseconds(200)).woken);
  ASSERT_TRUE(holder.hold(160));  // past it
  const auto wakeup = notifier.wait(milliseconds(10'000));
  EXPECT_TRUE(wakeup.woken) << "the growth past the mark did not end the wait";
  EXPECT_FALSE(wakeup) << "a mark is no cgroup event to report";

  // A new mark replaces the old one; none removes it.
  ASSERT_TRUE(notifier.set_usage_mark(usage_of(*cgroup) + 256 * kMiB));
  ASSERT_TRUE(holder.hold(200));
  EXPECT_FALSE(notifier.wait(milliseconds(200)).woken);
  EXPECT_FALSE(notifier.set_usage_mark(std::nullopt));
  ASSERT_TRUE(holder.hold(500));
  EXPECT_FALSE(notifier.wait(milliseconds(200)).woken);
}

TEST(UsageMark, ANotifierThatOnlySleepsTakesNoMark) {
  sys::CgroupNotifier notifier;
  EXPECT_FALSE(notifier.set_usage_mark(64 * kMiB));
}

}  // namespace
}  // namespace memopt::testing
