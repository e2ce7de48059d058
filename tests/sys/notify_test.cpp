#include "memopt/sys/notify.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include "support/tree.hpp"

namespace memopt::sys {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr microseconds kOneSecond{1'000'000};

TEST(PsiTriggerSpec, IsTheStalledShareOfTheWindowInMicroseconds) {
  EXPECT_EQ(psi_trigger_spec("some", 15, kOneSecond), "some 150000 1000000");
  EXPECT_EQ(psi_trigger_spec("full", 5, microseconds(2'000'000)), "full 100000 2000000");
  // The kernel refuses a zero threshold and one above the window.
  EXPECT_EQ(psi_trigger_spec("some", 0.00001, kOneSecond), "some 1 1000000");
  EXPECT_EQ(psi_trigger_spec("some", 100, kOneSecond), "some 1000000 1000000");
}

TEST(PsiTrigger, WritesTheTriggerLineWithItsTerminatingNul) {
  // A plain file stands in for <procfs>/pressure/memory: it takes the write but never raises
  // POLLPRI, so a notifier watching it sleeps out its timeout.
  testing::TempTree tree;
  const auto path = tree.write("pressure/memory", "");
  std::string problem;
  PsiTrigger trigger(path, "some", 10, kOneSecond, problem);
  ASSERT_TRUE(trigger.active()) << problem;
  EXPECT_THAT(problem, IsEmpty());
  EXPECT_EQ(trigger.spec(), "some 100000 1000000");
  EXPECT_EQ(trigger.path(), path);
  EXPECT_EQ(testing::slurp(path), std::string("some 100000 1000000\0", 20));

  CgroupNotifier notifier;
  notifier.watch_pressure(std::move(trigger));
  EXPECT_FALSE(trigger.active());  // NOLINT(bugprone-use-after-move): moved-from is inactive
  EXPECT_EQ(notifier.pressure_triggers(), 1u);
  const auto wakeup = notifier.wait(milliseconds(30));
  EXPECT_FALSE(wakeup);
  EXPECT_THAT(wakeup.pressure, IsEmpty());
  EXPECT_THAT(wakeup.lost, IsEmpty());
  EXPECT_EQ(notifier.pressure_triggers(), 1u);
}

TEST(PsiTrigger, AMissingFileIsAProblemNamingIt) {
  testing::TempTree tree;
  const auto path = tree.path("pressure/memory");
  std::string problem;
  const PsiTrigger trigger(path, "some", 10, kOneSecond, problem);
  EXPECT_FALSE(trigger.active());
  EXPECT_THAT(trigger.spec(), IsEmpty());
  EXPECT_THAT(problem, HasSubstr(path));
  EXPECT_THAT(problem, HasSubstr("some 100000 1000000"));
  EXPECT_THAT(problem, HasSubstr("No such file"));
}

TEST(PsiTrigger, ARefusedWriteIsAProblemAndNothingIsWatched) {
  // /dev/full refuses every write (ENOSPC), as a kernel without PSI triggers refuses the line.
  std::string problem;
  PsiTrigger trigger("/dev/full", "full", 5, kOneSecond, problem);
  EXPECT_FALSE(trigger.active());
  EXPECT_THAT(problem, HasSubstr("/dev/full"));
  EXPECT_THAT(problem, HasSubstr("No space left"));
  CgroupNotifier notifier;
  notifier.watch_pressure(std::move(trigger));
  EXPECT_EQ(notifier.pressure_triggers(), 0u);
  EXPECT_FALSE(notifier.wait(milliseconds(0)));
}

TEST(OnPressureFilesystem, IsTrueOnProcfsOnlyAmongTheseFiles) {
  testing::TempTree tree;
  EXPECT_FALSE(on_pressure_filesystem(tree.write("proc/pressure/memory", "some avg10=0.00\n")));
  EXPECT_FALSE(on_pressure_filesystem(tree.path("missing")));
  EXPECT_TRUE(on_pressure_filesystem("/proc/self/status"));
}

}  // namespace
}  // namespace memopt::sys
