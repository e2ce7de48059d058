// descriptor_budget: the one rule for how many descriptors a part of memopt may keep.
#include "memopt/sys/descriptors.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace memopt::sys {
namespace {

/// Sets the soft RLIMIT_NOFILE for one test and puts the old one back.
class SoftDescriptorLimit {
 public:
  explicit SoftDescriptorLimit(rlim_t soft) {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    rlimit changed = saved_;
    changed.rlim_cur = soft;
    set_ = ::setrlimit(RLIMIT_NOFILE, &changed) == 0;
  }
  ~SoftDescriptorLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  SoftDescriptorLimit(const SoftDescriptorLimit&) = delete;
  SoftDescriptorLimit& operator=(const SoftDescriptorLimit&) = delete;
  [[nodiscard]] bool set() const { return set_; }

 private:
  rlimit saved_{};
  bool set_ = false;
};

TEST(DescriptorBudget, IsTheShareOfTheSoftLimitThatTheDivisorNames) {
  const SoftDescriptorLimit limit(1000);  // below any hard limit, so a process may set it
  ASSERT_TRUE(limit.set());
  EXPECT_EQ(descriptor_budget(kPidfdBudgetDivisor), 500u);
  EXPECT_EQ(descriptor_budget(kKeptStatmBudgetDivisor), 250u);
  EXPECT_EQ(descriptor_budget(3), 333u);
  EXPECT_EQ(descriptor_budget(0), 1000u) << "divisor 0 is taken as 1, not a division by zero";
}

TEST(DescriptorBudget, FollowsTheLimitInForceAtEachCall) {
  {
    const SoftDescriptorLimit limit(64);
    ASSERT_TRUE(limit.set());
    EXPECT_EQ(descriptor_budget(4), 16u);
  }
  const SoftDescriptorLimit limit(128);
  ASSERT_TRUE(limit.set());
  EXPECT_EQ(descriptor_budget(4), 32u);
}

TEST(DescriptorBudget, NeverExceedsTheCapWhateverTheLimit) {
  // A container's usual soft limit of 1048576 would give pidfds half a million descriptors.
  EXPECT_EQ(descriptor_budget(kPidfdBudgetDivisor, 1048576), kMaxDescriptorBudget);
  EXPECT_EQ(descriptor_budget(1, kMaxDescriptorBudget + 1), kMaxDescriptorBudget);
  EXPECT_EQ(descriptor_budget(kKeptStatmBudgetDivisor, 4 * kMaxDescriptorBudget),
            kMaxDescriptorBudget);
  EXPECT_EQ(descriptor_budget(kKeptStatmBudgetDivisor, 4 * kMaxDescriptorBudget - 4),
            kMaxDescriptorBudget - 1);
}

}  // namespace
}  // namespace memopt::sys
