// The engine's scheduler on a fake clock: when pressure, full samples and forecasts are due,
// and how long the engine sleeps after a kernel notification.
#include "engine/scheduler.hpp"

#include <gtest/gtest.h>

#include "support/engine_fakes.hpp"

namespace memopt::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class SchedulerTest : public ::testing::Test {
 protected:
  EngineClock clock() { return testing::manual_clock(now_); }
  SteadyTime now_{seconds(1000)};
};

TEST_F(SchedulerTest, PressureIsReadAtMostOnceASecondUnlessATriggerFired) {
  Scheduler scheduler(clock());
  scheduler.start(now_, seconds(60));
  EXPECT_TRUE(scheduler.take_pressure(now_, false)) << "the step after the first reads it";
  now_ += milliseconds(250);
  EXPECT_FALSE(scheduler.take_pressure(now_, false));
  EXPECT_TRUE(scheduler.take_pressure(now_, true)) << "a fired trigger is read at once";
  now_ += milliseconds(999);
  EXPECT_FALSE(scheduler.take_pressure(now_, false)) << "a second after the trigger's reading";
  now_ += milliseconds(1);
  EXPECT_TRUE(scheduler.take_pressure(now_, false));
}

TEST_F(SchedulerTest, AFullSampleIsDueEachIntervalAfterTheLastOne) {
  Scheduler scheduler(clock());
  scheduler.start(now_, seconds(60));
  now_ += seconds(59);
  EXPECT_FALSE(scheduler.full_due(now_));
  now_ += seconds(2);  // a late step: the next interval counts from this one
  ASSERT_TRUE(scheduler.full_due(now_));
  scheduler.full_taken(now_, seconds(60));
  now_ += seconds(59);
  EXPECT_FALSE(scheduler.full_due(now_));
  now_ += seconds(1);
  EXPECT_TRUE(scheduler.full_due(now_));
}

TEST_F(SchedulerTest, ATargetFoundIsReadInFullAtTheNextStep) {
  Scheduler scheduler(clock());
  scheduler.start(now_, seconds(60));
  now_ += seconds(2);
  scheduler.full_at_once();
  EXPECT_TRUE(scheduler.full_due(now_));
}

TEST_F(SchedulerTest, ANotificationShortensTheWaitForAMoment) {
  Scheduler scheduler(clock());
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250)), milliseconds(250));
  scheduler.notified();
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250)), kSettleEvery);
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(5)), milliseconds(5)) << "never longer";
  now_ += kSettle - milliseconds(1);
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250)), kSettleEvery);
  now_ += milliseconds(1);
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250)), milliseconds(250));
}

TEST_F(SchedulerTest, WhileCalmTheWaitLastsUntilTheNextFullSampleButNotWhileSettling) {
  Scheduler scheduler(clock());
  scheduler.start(now_, seconds(60));
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true), kCalmAtMost)
      << "the host's available memory is read at least this often";
  now_ += seconds(55);
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true), seconds(5)) << "the next sample";
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), false), milliseconds(250));
  now_ += milliseconds(4'999) + std::chrono::microseconds(1);
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true), milliseconds(1))
      << "rounded up: never a busy loop of 0 ms waits before the sample";
  now_ += seconds(1);
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true), milliseconds(0)) << "overdue";
  scheduler.full_taken(now_, seconds(60));
  scheduler.notified();
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true), kSettleEvery)
      << "a notification is followed closely, calm or not";
}

TEST_F(SchedulerTest, NoWaitOutlastsTheDeadline) {
  Scheduler scheduler(clock());
  scheduler.start(now_, seconds(60));
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true, now_ + seconds(5)), seconds(5));
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), false, now_ + milliseconds(100)),
            milliseconds(100));
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), false, now_ + seconds(5)), milliseconds(250));
  EXPECT_EQ(scheduler.wait_timeout(milliseconds(250), true, now_ - seconds(1)), milliseconds(0))
      << "past: no wait";
}

TEST_F(SchedulerTest, ForecastsAreAskedEveryTwoSecondsOrEachShorterInterval) {
  Scheduler scheduler(clock());
  EXPECT_TRUE(scheduler.take_forecasts(now_, seconds(60)));
  now_ += kForecastsEvery - milliseconds(1);
  EXPECT_FALSE(scheduler.take_forecasts(now_, seconds(60)));
  now_ += milliseconds(1);
  EXPECT_TRUE(scheduler.take_forecasts(now_, seconds(1)));
  now_ += seconds(1);
  EXPECT_TRUE(scheduler.take_forecasts(now_, seconds(1))) << "a 1 s interval asks each second";
}

}  // namespace
}  // namespace memopt::engine
