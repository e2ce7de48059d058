#include "memopt/analysis/event.hpp"

#include <gtest/gtest.h>

#include <type_traits>

namespace memopt::analysis {
namespace {

// An event is made from its payload alone: there is no way to name a kind beside it.
static_assert(!std::is_default_constructible_v<Event>);
static_assert(!std::is_constructible_v<Event, EventKind>);
static_assert(!std::is_constructible_v<Event, EventKind, KillChosen>);
static_assert(!std::is_constructible_v<Event, KillChosen, EventKind>);
static_assert(std::is_constructible_v<Event, KillChosen>);
// Only a payload type is a payload: neither the whole variant nor a stranger.
static_assert(!std::is_constructible_v<Event, EventPayload>);
static_assert(!std::is_constructible_v<Event, GpuVerdict>);

// payload_if reads the payload types only.
template <typename P>
concept Readable = requires(const Event& e) {
  e.template payload_if<P>();
};
static_assert(Readable<KillChosen>);
static_assert(Readable<Notice>);
static_assert(!Readable<int>);
static_assert(!Readable<GpuVerdict>);
static_assert(!Readable<EventPayload>);

// Each family says its kind.
static_assert(kind_of(LevelChange{}) == EventKind::kLevelChanged);
static_assert(KillChosen::kKind == EventKind::kKill);
static_assert(ShedRan::kKind == EventKind::kShed);
static_assert(CleanupRan::kKind == EventKind::kCleanup);
static_assert(kind_of(TargetLost{}) == EventKind::kTargetLost);

TEST(Event, ItsKindIsItsPayloads) {
  const Event kill(KillChosen{.process = {42, "python3"}, .signal = "SIGTERM"});
  EXPECT_EQ(kill.kind(), EventKind::kKill);
  const Event shed(ShedRan{});
  EXPECT_EQ(shed.kind(), EventKind::kShed);
  const Event notice(Notice{});
  EXPECT_EQ(notice.kind(), EventKind::kNotice);
}

TEST(Event, APayloadOfAnotherFamilyReadsAsNull) {
  Event kill(KillChosen{.process = {42, "python3"}, .signal = "SIGTERM"});
  ASSERT_NE(kill.payload_if<KillChosen>(), nullptr);
  EXPECT_EQ(kill.payload_if<KillChosen>()->signal, "SIGTERM");
  EXPECT_EQ(kill.payload_if<LevelChange>(), nullptr);
  EXPECT_EQ(kill.payload_if<ShedRan>(), nullptr);
  EXPECT_EQ(kill.payload_if<ShmSwept>(), nullptr);  // it names a process too, but is not a kill
  // Written through the accessor, read back: the kind stays the payload's.
  kill.payload_if<KillChosen>()->signal = "SIGKILL";
  EXPECT_EQ(kill.payload_if<KillChosen>()->signal, "SIGKILL");
  EXPECT_EQ(kill.kind(), EventKind::kKill);

  const Event change(LevelChange{.previous = Level::kWarning});
  EXPECT_EQ(change.payload_if<KillChosen>(), nullptr);
  ASSERT_NE(change.payload_if<LevelChange>(), nullptr);
  EXPECT_EQ(change.payload_if<LevelChange>()->previous, Level::kWarning);
}

TEST(Event, AGpuFindingIsTheKindItsVerdictSays) {
  GpuVerdict verdict;
  verdict.kind = GpuVerdictKind::kOrphan;
  Event e(GpuFinding{.process = {7, std::nullopt}, .verdict = verdict});
  EXPECT_EQ(e.kind(), EventKind::kGpuOrphan);
  e.payload_if<GpuFinding>()->verdict.kind = GpuVerdictKind::kWrongDevice;
  EXPECT_EQ(e.kind(), EventKind::kGpuWrongDevice);
}

TEST(Event, TheProcessIsReadForTheKindsThatNameOne) {
  const Event leak(LeakSuspicion{.process = {10, "leaky"}, .rate_mib_per_hour = 12, .r2 = 0.99});
  ASSERT_NE(leak.process(), nullptr);
  EXPECT_EQ(leak.process()->pid, 10);
  EXPECT_EQ(leak.process()->name, "leaky");
  const Event copying(WorkersCopying{.process = {100, "python"}, .worker_pids = {101, 102}});
  ASSERT_NE(copying.process(), nullptr);
  EXPECT_EQ(copying.process()->pid, 100);  // the parent
  EXPECT_EQ(Event(OomKills{.count = 1}).process(), nullptr);
  EXPECT_EQ(Event(ShmFilling{}).process(), nullptr);
  EXPECT_EQ(Event(HookFailed{}).process(), nullptr);
}

TEST(Event, TheCommonFieldsAreTheConstructors) {
  const auto at = std::chrono::system_clock::from_time_t(1'800'000'000);
  EffectiveMemory memory;
  memory.scope = Scope::kContainer;
  memory.used_bytes = 5;
  const Event e(OomForecast{.seconds_to_limit = 60}, at, Level::kSevere, memory);
  EXPECT_EQ(e.at, at);
  EXPECT_EQ(e.level, Level::kSevere);
  EXPECT_EQ(e.memory.used_bytes, 5u);
  EXPECT_TRUE(e.message.empty());
}

}  // namespace
}  // namespace memopt::analysis
