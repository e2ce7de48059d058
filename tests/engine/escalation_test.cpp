// The engine's escalation: protection refused on host scope (an error at start, a notice on
// reload), the cleanup only with a schedule, and hooks only with --on-alert.
#include "engine/escalation.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "memopt/error.hpp"
#include "support/engine_fakes.hpp"

namespace memopt::engine {
namespace {

using ::testing::HasSubstr;

using Notices = testing::NoticeSink;

class EscalationTest : public ::testing::Test {
 protected:
  EngineClock clock() { return testing::manual_clock(now_); }
  EngineOptions options_;
  Notices sink_;
  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
};

TEST_F(EscalationTest, ProtectionOnHostScopeIsRefusedAtStart) {
  options_.config.protect.enabled = true;
  Escalation escalation(options_, sink_, clock());
  try {
    escalation.start_protect(true, std::nullopt, std::nullopt);
    FAIL() << "host scope without --allow-host was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUsage);
    EXPECT_THAT(e.what(), HasSubstr("has no memory cgroup (host scope)"));
  }
}

TEST_F(EscalationTest, ProtectionOnHostScopeAfterAReloadIsANoticeAndStaysOff) {
  options_.config.protect.enabled = true;
  Escalation escalation(options_, sink_, clock());
  ASSERT_NO_THROW(escalation.start_protect(false, std::nullopt, std::nullopt));
  ASSERT_EQ(sink_.said.size(), 1u);
  EXPECT_THAT(sink_.said[0], HasSubstr("add --allow-host"));
  analysis::QuickObservation o;
  EXPECT_TRUE(escalation.protect_step(o, analysis::Level::kDanger, now_).empty());
  EXPECT_TRUE(escalation.finish_protect().empty());
}

TEST_F(EscalationTest, WithoutAScheduleNoCleanupStartsAndNoneIsCounted) {
  Escalation escalation(options_, sink_, clock());
  analysis::QuickObservation o;
  escalation.start_cleanup(o, analysis::Level::kDanger);
  EXPECT_FALSE(escalation.finish_cleanup(true));
  EXPECT_FALSE(escalation.cleanup_reclaimed_bytes()) << "the metric is omitted, not a zero";
}

TEST_F(EscalationTest, AReloadThatSetsAScheduleCountsFromZero) {
  Escalation escalation(options_, sink_, clock());
  options_.config.auto_cleanup = analysis::Level::kSevere;
  escalation.configure();
  EXPECT_EQ(escalation.cleanup_reclaimed_bytes(), 0u);
  options_.config.auto_cleanup.reset();
  escalation.configure();
  EXPECT_FALSE(escalation.cleanup_reclaimed_bytes());
}

TEST_F(EscalationTest, WithoutOnAlertNoHookRuns) {
  Escalation escalation(options_, sink_, clock());
  analysis::Event e(analysis::LevelChange{});
  EXPECT_EQ(escalation.start_hook(e), "");
  EXPECT_TRUE(escalation.reap_hooks(true).empty());
}

TEST_F(EscalationTest, AHookThatFailsIsSaidAndAHookFailedEventStartsNone) {
  options_.config.on_alert = "exit 3";
  Escalation escalation(options_, sink_, clock());
  analysis::Event failed(analysis::HookFailed{});
  EXPECT_EQ(escalation.start_hook(failed), "");
  EXPECT_TRUE(escalation.reap_hooks(true).empty()) << "no hook was started for hook_failed";
  analysis::Event e(analysis::LevelChange{});
  ASSERT_EQ(escalation.start_hook(e), "");
  const auto failures = escalation.reap_hooks(true);
  ASSERT_EQ(failures.size(), 1u);
}

}  // namespace
}  // namespace memopt::engine
