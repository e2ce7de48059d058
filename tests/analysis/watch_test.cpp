#include "memopt/analysis/watch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>

#include "memopt/units.hpp"
#include "support/events.hpp"

namespace memopt::analysis {
namespace {

using memopt::testing::payload_of;
using std::chrono::milliseconds;
using std::chrono::seconds;

const TimePoint kStart = std::chrono::system_clock::from_time_t(1'800'000'000);

QuickObservation at(TimePoint when, double used_percent, std::uint64_t limit = 1000 * kMiB) {
  QuickObservation o;
  o.at = when;
  o.memory.scope = Scope::kContainer;
  o.memory.limit_bytes = limit;
  o.memory.used_bytes =
      static_cast<std::uint64_t>(static_cast<double>(limit) * used_percent / 100.0);
  o.memory.available_bytes = limit - o.memory.used_bytes;
  o.memory.used_percent = used_percent;
  return o;
}

/// `o` with PSI "some" avg10 at `some` % and, when `triggered`, a PSI trigger that fired.
QuickObservation with(QuickObservation o, double some, bool triggered = false) {
  o.pressure = model::Pressure{some, 0, 0, 0, 0, 0};
  if (triggered) o.pressure_triggers = {"some 100000 1000000"};
  return o;
}

std::vector<std::string> names(const std::vector<Event>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.emplace_back(to_string(e.kind()));
  return out;
}

TEST(EventKind, EveryKindHasOneSnakeCaseNameThatParsesBack) {
  std::set<std::string> seen;
  for (int k = 0; k <= static_cast<int>(EventKind::kNotice); ++k) {
    const auto kind = static_cast<EventKind>(k);
    const std::string name = to_string(kind);
    ASSERT_NE(name, "unknown") << "kind " << k << " has no name";
    EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || c == '_';
    })) << name;
    EXPECT_TRUE(seen.insert(name).second) << name << " names two kinds";
    EXPECT_EQ(parse_event_kind(name), kind) << name;
  }
  // The names the documents and hooks have always used.
  EXPECT_STREQ(to_string(EventKind::kLevelChanged), "level_changed");
  EXPECT_STREQ(to_string(EventKind::kWorkersCopy), "workers_copy");
  EXPECT_STREQ(to_string(EventKind::kGpuWrongDevice), "gpu_wrong_device");
  EXPECT_EQ(parse_event_kind("Level_Changed"), std::nullopt);
  EXPECT_EQ(parse_event_kind(""), std::nullopt);
  EXPECT_EQ(parse_event_kind("unknown"), std::nullopt);
}

TEST(Watcher, LevelChangesAreEventsAndTheFirstObservationIsNot) {
  Watcher w(WatchParams{});
  EXPECT_TRUE(w.observe(at(kStart, 50)).empty());
  const auto events = w.observe(at(kStart + seconds(1), 85));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), analysis::EventKind::kLevelChanged);
  EXPECT_EQ(events[0].level, Level::kWarning);
  EXPECT_EQ(payload_of<LevelChange>(events[0]).previous, Level::kNormal);
  EXPECT_EQ(w.level(), Level::kWarning);
}

TEST(Watcher, AValueDancingOnAThresholdDoesNotFlap) {
  Watcher w(WatchParams{});  // margin 2 points
  (void)w.observe(at(kStart, 50));
  int changes = 0;
  for (int i = 0; i < 100; ++i) {
    const double value = i % 2 == 0 ? 80.5 : 79.2;  // across 80 and back, but not below 78
    changes += static_cast<int>(w.observe(at(kStart + seconds(i + 1), value)).size());
  }
  EXPECT_EQ(changes, 1);  // up once, never back down
  EXPECT_EQ(w.level(), Level::kWarning);
  EXPECT_TRUE(w.observe(at(kStart + seconds(200), 77.5)).empty());  // a fall settles first
  const auto down = w.observe(at(kStart + seconds(201), 77.5));
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].level, Level::kAcceptable);  // 77.5 is still >= 70
}

TEST(Watcher, DangerClearsOnlyAMarginAboveTheMark) {
  Watcher w(WatchParams{});
  (void)w.observe(at(kStart, 50));
  const auto danger = w.observe(at(kStart + seconds(1), 96));  // 40 MiB available of 1000 MiB
  ASSERT_EQ(danger.size(), 1u);
  EXPECT_EQ(danger[0].level, Level::kDanger);
  EXPECT_TRUE(
      w.observe(at(kStart + seconds(2), 94.5)).empty());        // 55 MiB: within the 16 MiB margin
  EXPECT_TRUE(w.observe(at(kStart + seconds(3), 93)).empty());  // 70 MiB: a fall, settling
  const auto severe = w.observe(at(kStart + seconds(4), 93));
  ASSERT_EQ(severe.size(), 1u);
  EXPECT_EQ(severe[0].level, Level::kSevere);
}

TEST(Watcher, StartedAboveNormalIsAnEventMarkedInitial) {
  Watcher w(WatchParams{});
  const auto events = w.observe(at(kStart, 85));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), analysis::EventKind::kLevelChanged);
  EXPECT_EQ(events[0].level, Level::kWarning);
  EXPECT_TRUE(payload_of<LevelChange>(events[0]).initial);
  EXPECT_FALSE(payload_of<LevelChange>(events[0]).previous.has_value());
  EXPECT_TRUE(w.observe(at(kStart + seconds(1), 86)).empty());
}

// After a kill the memory drains through every level within a second: one event, from the old
// level to the new, once two readings agree (no burst of four level_changed events and hooks).
TEST(Watcher, AFallThroughSeveralLevelsIsOneEventOnceItSettles) {
  Watcher w(WatchParams{});
  (void)w.observe(at(kStart, 50));
  ASSERT_EQ(w.observe(at(kStart + seconds(1), 97)).size(), 1u);  // danger, at once
  int events = 0;
  const std::vector<double> draining = {93, 85, 75, 40, 40};
  for (std::size_t i = 0; i < draining.size(); ++i) {
    const auto step = w.observe(at(kStart + seconds(2) + milliseconds(10 * i), draining[i]));
    for (const auto& e : step) {
      ++events;
      EXPECT_EQ(payload_of<LevelChange>(e).previous, Level::kDanger);
      EXPECT_EQ(e.level, Level::kNormal);
    }
  }
  EXPECT_EQ(events, 1);
  EXPECT_EQ(w.level(), Level::kNormal);
}

TEST(Watcher, TheReadingLevelFallsAtOnceWhileTheSaidLevelSettles) {
  Watcher w(WatchParams{});
  (void)w.observe(at(kStart, 50));
  (void)w.observe(at(kStart + seconds(1), 97));
  ASSERT_EQ(w.reading_level(), Level::kDanger);
  // A kill freed memory: protection must not see danger again while the fall is confirmed.
  EXPECT_TRUE(w.observe(at(kStart + seconds(2), 40)).empty());
  EXPECT_EQ(w.level(), Level::kDanger);
  EXPECT_EQ(w.reading_level(), Level::kNormal);
}

TEST(Watcher, AnUnknownTargetHasAnUnknownPeakNotZero) {
  Watcher w(WatchParams{});
  QuickObservation o;
  o.at = kStart;
  o.memory.scope = Scope::kUnknown;
  (void)w.observe(o);
  EXPECT_FALSE(w.summary().peak_known);
  (void)w.observe(at(kStart + seconds(1), 50));
  EXPECT_TRUE(w.summary().peak_known);
  EXPECT_EQ(w.summary().peak_used_bytes, 500 * kMiB);
}

TEST(Watcher, ARiseIsSaidAtOnce) {
  Watcher w(WatchParams{});
  (void)w.observe(at(kStart, 50));
  const auto up = w.observe(at(kStart + seconds(1), 92));
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0].level, Level::kSevere);
}

TEST(Watcher, OomKillsCountOnlyNewOnes) {
  Watcher w(WatchParams{});
  auto o = at(kStart, 50);
  o.oom_kills = 3;  // kills from before the monitor started are not news
  EXPECT_TRUE(w.observe(o).empty());
  o = at(kStart + seconds(1), 50);
  o.oom_kills = 5;
  const auto events = w.observe(o);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), analysis::EventKind::kOomKill);
  EXPECT_EQ(payload_of<OomKills>(events[0]).count, 2u);
}

TEST(Watcher, PressureFiresOnceUntilItSubsides) {
  Watcher w(WatchParams{});
  EXPECT_EQ(names(w.observe(with(at(kStart, 50), 12))), std::vector<std::string>{"pressure"});
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(1), 15), 15)).empty());
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(2), 50), 4)).empty());  // re-armed below 5
  EXPECT_EQ(names(w.observe(with(at(kStart + seconds(3), 50), 11))),
            std::vector<std::string>{"pressure"});
}

TEST(Watcher, AZeroPressureThresholdIsOffNotAlwaysCrossed) {
  WatchParams params;
  params.pressure_full_avg10 = 0;  // only "some" watched
  Watcher w(params);
  EXPECT_TRUE(w.observe(with(at(kStart, 50), 0.2)).empty());
  EXPECT_EQ(names(w.observe(with(at(kStart + seconds(1), 50), 12))),
            std::vector<std::string>{"pressure"});
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(2), 50), 1)).empty());  // re-armed
  EXPECT_EQ(names(w.observe(with(at(kStart + seconds(3), 50), 11))),
            std::vector<std::string>{"pressure"});
}

TEST(Watcher, APsiTriggerRaisesPressureBeforeTheAveragesDo) {
  Watcher w(WatchParams{});
  // avg10 still low (it lags the stall): only the trigger says pressure.
  EXPECT_TRUE(w.observe(with(at(kStart, 50), 0.5, false)).empty());
  const auto events = w.observe(with(at(kStart + seconds(1), 50), 0.5, true));
  ASSERT_EQ(names(events), std::vector<std::string>{"pressure"});
  EXPECT_EQ(payload_of<PressureFired>(events[0]).trigger, "some 100000 1000000");
  EXPECT_NE(events[0].message.find("PSI trigger"), std::string::npos) << events[0].message;
  // The low averages re-arm it, but another trigger within 10 s is the same episode...
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(3), 50), 0.5, true)).empty());
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(9), 50), 0.5, true)).empty());
  // ...and one 10 s after the event a new one.
  EXPECT_EQ(names(w.observe(with(at(kStart + seconds(11), 50), 0.5, true))),
            std::vector<std::string>{"pressure"});
  // A trigger without a pressure reading still raises it, once re-armed.
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(20), 50), 0.5, false)).empty());
  QuickObservation bare = at(kStart + seconds(30), 50);
  bare.pressure_triggers = {"full 50000 1000000"};
  const auto only_trigger = w.observe(bare);
  ASSERT_EQ(names(only_trigger), std::vector<std::string>{"pressure"});
  EXPECT_FALSE(payload_of<PressureFired>(only_trigger[0]).pressure);
  EXPECT_EQ(payload_of<PressureFired>(only_trigger[0]).trigger, "full 50000 1000000");
}

TEST(Watcher, TheAveragesCatchingUpWithATriggerAreTheSameEpisode) {
  Watcher w(WatchParams{});
  EXPECT_TRUE(w.observe(with(at(kStart, 50), 0.5, false)).empty());
  EXPECT_EQ(names(w.observe(with(at(kStart + seconds(1), 50), 0.5, true))),
            std::vector<std::string>{"pressure"});
  // The 10 s averages still low a second later, then catching up with the stall: one episode.
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(2), 50), 0.5, false)).empty());
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(3), 50), 30, false)).empty());
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(9), 50), 30, false)).empty());
  // Calm after the episode re-arms; the next rise is a new event.
  EXPECT_TRUE(w.observe(with(at(kStart + seconds(12), 50), 0.5, false)).empty());
  EXPECT_EQ(names(w.observe(with(at(kStart + seconds(14), 50), 30, false))),
            std::vector<std::string>{"pressure"});
}

TEST(Watcher, APsiTriggerWhileHighAveragesAlreadyFiredIsNotANewEvent) {
  Watcher w(WatchParams{});
  QuickObservation o = at(kStart, 50);
  o.pressure = model::Pressure{30, 0, 0, 0, 0, 0};
  EXPECT_EQ(names(w.observe(o)), std::vector<std::string>{"pressure"});
  o.at = kStart + seconds(20);
  o.pressure_triggers = {"some 100000 1000000"};
  EXPECT_TRUE(w.observe(o).empty());  // still high: not re-armed
}

TEST(Watcher, EventsRaisedOutsideAreCountedInTheSummary) {
  Watcher w(WatchParams{});
  const Event cleanup(CleanupRan{});
  w.count(cleanup);
  w.count(cleanup);
  EXPECT_EQ(w.summary().events.at("cleanup"), 2u);
}

TEST(CleanupSchedule, StartsAtTheLevelOrWorseAtMostOncePerCooldown) {
  using Clock = CleanupSchedule::Clock;
  const Clock::time_point t0{std::chrono::hours(1000)};
  CleanupSchedule schedule(Level::kSevere, seconds(300));
  EXPECT_FALSE(schedule.should_start(Level::kNormal, t0, false));
  EXPECT_FALSE(schedule.should_start(Level::kWarning, t0, false));
  EXPECT_TRUE(schedule.should_start(Level::kSevere, t0 + seconds(1), false));
  // Still severe, and danger too: within the cooldown nothing new starts.
  EXPECT_FALSE(schedule.should_start(Level::kSevere, t0 + seconds(2), false));
  EXPECT_FALSE(schedule.should_start(Level::kDanger, t0 + seconds(300), false));
  // The cooldown counts from the start: 300 s after it, another.
  EXPECT_TRUE(schedule.should_start(Level::kDanger, t0 + seconds(301), false));
  EXPECT_FALSE(schedule.should_start(Level::kDanger, t0 + seconds(302), false));
}

TEST(CleanupSchedule, NeverTwoAtOnceAndARefusalDoesNotStartTheCooldown) {
  using Clock = CleanupSchedule::Clock;
  const Clock::time_point t0{std::chrono::hours(1000)};
  CleanupSchedule schedule(Level::kWarning, seconds(10));
  // One is still running (from before a reload, say): wait for it.
  EXPECT_FALSE(schedule.should_start(Level::kDanger, t0, true));
  EXPECT_TRUE(schedule.should_start(Level::kDanger, t0 + seconds(1), false));
  EXPECT_FALSE(schedule.should_start(Level::kDanger, t0 + seconds(20), true));
  EXPECT_TRUE(schedule.should_start(Level::kWarning, t0 + seconds(21), false));
  // New settings keep the last start: a longer cooldown holds the next one back.
  schedule.set(Level::kSevere, seconds(60));
  EXPECT_FALSE(schedule.should_start(Level::kSevere, t0 + seconds(60), false));
  EXPECT_FALSE(schedule.should_start(Level::kWarning, t0 + seconds(90), false));
  EXPECT_TRUE(schedule.should_start(Level::kSevere, t0 + seconds(90), false));
}

TEST(Watcher, ForecastsTheLimitFromTheWorkingSetTrend) {
  WatchParams params;
  params.forecast.window_seconds = 120;
  params.forecast.horizon_seconds = 1800;
  Watcher w(params);
  std::vector<Event> all;
  // 0.5% of 1000 MiB per 10 s from 20%: the limit in about 26 min at the end of 2 min.
  for (int s = 0; s <= 120; s += 1) {
    for (auto& e : w.observe(at(kStart + seconds(s), 20.0 + s * 0.05))) all.push_back(e);
  }
  ASSERT_EQ(names(all), std::vector<std::string>{"oom_forecast"});
  EXPECT_GT(payload_of<OomForecast>(all[0]).seconds_to_limit, 1000);
  EXPECT_LT(payload_of<OomForecast>(all[0]).seconds_to_limit, 1800);
}

TEST(Watcher, LeakSuspectedForASteadilyGrowingProcessOnly) {
  WatchParams params;
  params.leak.window_seconds = 600;
  params.leak.min_slope_mib_per_hour = 50;
  Watcher w(params);
  (void)w.observe(at(kStart, 30));
  std::vector<Event> leaks;
  for (int minute = 0; minute <= 10; ++minute) {
    const auto when = kStart + seconds(60 * minute);
    std::vector<model::ProcessMemory> processes = {
        {10, "leaky", 0, (300 + 20 * static_cast<std::uint64_t>(minute)) * kMiB, std::nullopt,
         std::nullopt},
        {11, "steady", 0, 400 * kMiB, std::nullopt, std::nullopt},
        {12, "gc", 0, (200 + (minute % 3) * 100) * kMiB, std::nullopt, std::nullopt}};
    for (auto& e : w.observe_processes(when, processes)) leaks.push_back(e);
  }
  ASSERT_EQ(leaks.size(), 1u);
  const auto& leak = payload_of<LeakSuspicion>(leaks[0]);
  EXPECT_EQ(leak.process.pid, 10);
  EXPECT_EQ(leak.process.name, "leaky");
  EXPECT_NEAR(leak.rate_mib_per_hour, 1200, 1);
  EXPECT_NE(leaks[0].message.find("over 10 min"), std::string::npos) << leaks[0].message;
}

TEST(Watcher, AShortLeakWindowIsSaidInSeconds) {
  WatchParams params;
  params.leak.window_seconds = 30;
  params.leak.min_slope_mib_per_hour = 50;
  Watcher w(params);
  (void)w.observe(at(kStart, 30));
  std::vector<Event> leaks;
  for (int s = 0; s <= 30; s += 3) {
    std::vector<model::ProcessMemory> processes = {
        {10, "leaky", 0, (300 + static_cast<std::uint64_t>(s)) * kMiB, std::nullopt, std::nullopt}};
    for (auto& e : w.observe_processes(kStart + seconds(s), processes)) leaks.push_back(e);
  }
  ASSERT_EQ(leaks.size(), 1u);
  EXPECT_NE(leaks[0].message.find("over 30 s"), std::string::npos) << leaks[0].message;
}

TEST(Watcher, HistoryIsBoundedAndTimeAtLevelsAddsUp) {
  Watcher w(WatchParams{}, 10);
  for (int s = 0; s < 100; ++s) (void)w.observe(at(kStart + seconds(s), s < 50 ? 50 : 85));
  EXPECT_EQ(w.history().size(), 10u);
  EXPECT_EQ(w.history().back().at, kStart + seconds(99));
  const auto& summary = w.summary();
  EXPECT_EQ(summary.time_at_level[static_cast<int>(Level::kNormal)], milliseconds(50'000));
  EXPECT_EQ(summary.time_at_level[static_cast<int>(Level::kWarning)], milliseconds(49'000));
  EXPECT_EQ(summary.events.at("level_changed"), 1u);
  EXPECT_NEAR(summary.peak_used_percent, 85, 1e-9);
}

TEST(RingBuffer, KeepsTheNewestInOrder) {
  model::RingBuffer<int> ring(3);
  for (int i = 1; i <= 5; ++i) ring.push(i);
  EXPECT_EQ(ring.to_vector(), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(ring.capacity(), 3u);
}

TEST(RingBuffer, PartlyFilledThenWrappedManyTimes) {
  model::RingBuffer<int> ring(3);
  EXPECT_TRUE(ring.empty());
  ring.push(1);
  ring.push(2);
  EXPECT_EQ(ring.size(), 2u);
  EXPECT_EQ(ring.to_vector(), (std::vector<int>{1, 2}));
  EXPECT_EQ(ring.back(), 2);
  for (int i = 3; i <= 11; ++i) ring.push(i);
  EXPECT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.to_vector(), (std::vector<int>{9, 10, 11}));
  EXPECT_EQ(ring[0], 9);
  EXPECT_EQ(ring.back(), 11);
}

TEST(RingBuffer, ZeroCapacityKeepsTheNewest) {
  model::RingBuffer<int> ring(0);
  ring.push(1);
  ring.push(2);
  EXPECT_EQ(ring.to_vector(), (std::vector<int>{2}));
}

}  // namespace
}  // namespace memopt::analysis

namespace memopt::analysis {
namespace {

model::ShmLedger shm_at(std::uint64_t used_mib, std::uint64_t size_mib = 64) {
  model::ShmLedger shm;
  shm.size_bytes = size_mib * kMiB;
  shm.used_bytes = used_mib * kMiB;
  return shm;
}

TEST(WatcherShm, FillingFastFiresBeforeTheThresholdWithTheTimeToFull) {
  Watcher w(WatchParams{});  // 80% or under 60 s to full
  EXPECT_TRUE(w.observe_shm(kStart, shm_at(8)).empty());
  const auto events = w.observe_shm(kStart + seconds(10), shm_at(24));  // 1.6 MiB/s, 25 s left
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), analysis::EventKind::kShmFilling);
  ASSERT_TRUE(payload_of<ShmFilling>(events[0]).seconds_to_full.has_value());
  EXPECT_NEAR(*payload_of<ShmFilling>(events[0]).seconds_to_full, 25.0, 0.01);
  EXPECT_NEAR(*payload_of<ShmFilling>(events[0]).bytes_per_second, 1.6 * kMiB, 1.0);
  EXPECT_EQ(payload_of<ShmFilling>(events[0]).used_bytes, 24 * kMiB);
  EXPECT_EQ(payload_of<ShmFilling>(events[0]).size_bytes, 64 * kMiB);
  EXPECT_NE(events[0].message.find("--shm-size"), std::string::npos);
  // Once: still filling is no second event; a calm reading re-arms it.
  EXPECT_TRUE(w.observe_shm(kStart + seconds(20), shm_at(40)).empty());
  EXPECT_TRUE(w.observe_shm(kStart + seconds(30), shm_at(10)).empty());
  EXPECT_TRUE(w.observe_shm(kStart + seconds(40), shm_at(10)).empty());
  EXPECT_EQ(w.observe_shm(kStart + seconds(50), shm_at(30)).size(), 1u);
  EXPECT_EQ(w.summary().events.at("shm_filling"), 2u);
}

TEST(WatcherShm, SlowFillingBelowTheThresholdIsQuiet) {
  Watcher w(WatchParams{});
  EXPECT_TRUE(w.observe_shm(kStart, shm_at(8)).empty());
  EXPECT_TRUE(w.observe_shm(kStart + seconds(60), shm_at(9)).empty());  // 56 min to full
}

TEST(WatcherShm, CrossingTheThresholdFiresAtTheFirstReading) {
  WatchParams params;
  params.shm.used_percent = 50;
  params.shm.horizon_seconds = 0;  // off
  Watcher w(params);
  const auto events = w.observe_shm(kStart, shm_at(40));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(payload_of<ShmFilling>(events[0]).seconds_to_full.has_value());
  EXPECT_TRUE(Watcher(params).observe_shm(kStart, shm_at(31)).empty());
}

}  // namespace
}  // namespace memopt::analysis
