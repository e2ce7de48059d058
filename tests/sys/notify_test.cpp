#include "memopt/sys/notify.hpp"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <string>
#include <utility>

#include "memopt/sys/process.hpp"
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

TEST(CgroupNotifier, AReadableDescriptorGivenToWaitEndsItWithoutBeingRead) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK), 0);
  CgroupNotifier notifier;
  const std::array<int, 2> also{-1, pipe_fds[0]};  // a negative one is skipped, as poll(2) does
  auto quiet = notifier.wait(milliseconds(0), also);
  EXPECT_FALSE(quiet.woken);
  ASSERT_EQ(::write(pipe_fds[1], "x", 1), 1);
  const auto started = std::chrono::steady_clock::now();
  const auto wakeup = notifier.wait(milliseconds(60'000), also);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  EXPECT_TRUE(wakeup.woken);
  EXPECT_FALSE(wakeup) << "nothing of the cgroup's to report";
  char byte = 0;
  EXPECT_EQ(::read(pipe_fds[0], &byte, 1), 1) << "left for its owner to read";
  EXPECT_FALSE(notifier.wait(milliseconds(0), also).woken);
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

TEST(CgroupNotifier, WithoutAnActiveGuardItIsNotGuarded) {
  CgroupNotifier notifier;
  EXPECT_FALSE(notifier.guarded());
  std::string problem;
  notifier.set_guard(PsiTrigger("/dev/full", "some", 5, kOneSecond, problem));
  EXPECT_FALSE(notifier.guarded()) << problem;
  if (::geteuid() == 0 && on_pressure_filesystem("/proc/pressure/memory")) {
    notifier.set_guard(PsiTrigger("/proc/pressure/memory", "some", 5, kOneSecond, problem));
    EXPECT_TRUE(notifier.guarded()) << problem;
    EXPECT_EQ(notifier.pressure_triggers(), 0u) << "a guard is no trigger of the target's";
    CgroupNotifier moved = std::move(notifier);
    EXPECT_TRUE(moved.guarded());
  }
}

TEST(SignalWaiter, ItsDescriptorPollsReadableWhileASignalIsPendingAndWaitTakesIt) {
  SignalWaiter signals;
  ASSERT_GE(signals.fd(), 0);
  pollfd p{signals.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  // To this thread (blocked here: pending, not delivered), whatever other threads the test
  // binary runs.
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGHUP), 0);
  EXPECT_EQ(::poll(&p, 1, 1000), 1);
  const auto received = signals.wait(milliseconds(0));
  ASSERT_TRUE(received);
  EXPECT_EQ(received->signal, SIGHUP);
  EXPECT_TRUE(received->sent_by_process);
  EXPECT_EQ(::poll(&p, 1, 0), 0) << "taken by wait()";
}

TEST(OnPressureFilesystem, IsTrueOnProcfsOnlyAmongTheseFiles) {
  testing::TempTree tree;
  EXPECT_FALSE(on_pressure_filesystem(tree.write("proc/pressure/memory", "some avg10=0.00\n")));
  EXPECT_FALSE(on_pressure_filesystem(tree.path("missing")));
  EXPECT_TRUE(on_pressure_filesystem("/proc/self/status"));
}

}  // namespace
}  // namespace memopt::sys
