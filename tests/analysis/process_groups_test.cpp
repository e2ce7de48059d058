#include "memopt/analysis/process_groups.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "memopt/units.hpp"
#include "support/events.hpp"

namespace memopt::analysis {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

const WorkersCopying& copying_of(const Event& e) {
  return memopt::testing::payload_of<WorkersCopying>(e);
}

constexpr std::uint64_t kPython = 77;  // inode of the python executable
constexpr std::uint64_t kBash = 88;

model::ProcessNode node(int pid, int ppid, std::uint64_t start, std::optional<std::uint64_t> exe,
                        std::string name, std::uint64_t uss, std::uint64_t rss,
                        std::optional<std::uint64_t> anon = std::nullopt) {
  model::ProcessNode n;
  n.memory.pid = pid;
  n.memory.name = std::move(name);
  n.memory.rss_bytes = rss;
  n.memory.uss_bytes = uss;
  n.memory.pss_bytes = uss + (rss - uss) / 2;
  n.anon_bytes = anon;
  n.ppid = ppid;
  n.start_ticks = start;
  if (exe) n.exe = model::ExecutableId{2049, *exe};
  return n;
}

std::vector<int> member_pids(const ProcessGroup& g) {
  std::vector<int> pids;
  for (const auto& m : g.members) pids.push_back(m.node.memory.pid);
  return pids;
}

TEST(GroupProcesses, AParentAndItsChildrenOfTheSameExecutableAreOneGroup) {
  const auto groups = group_processes({
      node(42, 1, 100, kPython, "python3", 400 * kMiB, 500 * kMiB, 420 * kMiB),
      node(43, 42, 200, kPython, "pt_data_worker", 10 * kMiB, 300 * kMiB),
      node(44, 42, 200, kPython, "pt_data_worker", 30 * kMiB, 300 * kMiB),
      node(50, 1, 50, kBash, "bash", 2 * kMiB, 4 * kMiB),
  });
  ASSERT_EQ(groups.size(), 1u);
  const auto& g = groups[0];
  EXPECT_EQ(g.kind, GroupKind::kWorkers);
  ASSERT_TRUE(g.parent);
  EXPECT_EQ(g.parent->memory.pid, 42);
  EXPECT_EQ(g.parent_anon_bytes, 420 * kMiB);
  EXPECT_THAT(member_pids(g), ElementsAre(43, 44));
  EXPECT_EQ(g.members[0].private_bytes, 10 * kMiB);
  EXPECT_EQ(g.members[0].shared_bytes, 290 * kMiB);
  // PSS sum: 450 + 155 + 165 MiB.
  EXPECT_EQ(g.total_bytes, 770 * kMiB);
  EXPECT_EQ(describe_group(g), "python3 (pid 42) + 2 workers: 770 MiB, 20.0 MiB private each");
  EXPECT_EQ(describe_group(g, GroupShape::kCopyOnRead),
            "python3 (pid 42) + 2 workers: 770 MiB, 20.0 MiB private each, copying");
  auto one = g;
  one.members.pop_back();
  EXPECT_THAT(describe_group(one), ::testing::StartsWith("python3 (pid 42) + 1 worker: "));
}

TEST(GroupProcesses, ANonPythonParentLaunchingPythonIsNoGroup) {
  EXPECT_THAT(group_processes({
                  node(10, 1, 100, kBash, "bash", 2 * kMiB, 4 * kMiB),
                  node(11, 10, 200, kPython, "python3", 100 * kMiB, 150 * kMiB),
              }),
              IsEmpty());
}

TEST(GroupProcesses, AChildWhoseParentPidWasReusedByANewerProcessIsNotItsWorker) {
  // 43's parent exited; pid 42 now belongs to a python3 started after 43.
  EXPECT_THAT(group_processes({
                  node(42, 1, 900, kPython, "python3", 100 * kMiB, 150 * kMiB),
                  node(43, 42, 200, kPython, "pt_data_worker", 10 * kMiB, 100 * kMiB),
              }),
              IsEmpty());
}

TEST(GroupProcesses, AnUnknownExecutableIsNeverGrouped) {
  EXPECT_THAT(group_processes({
                  node(42, 1, 100, std::nullopt, "python3", 100 * kMiB, 150 * kMiB),
                  node(43, 42, 200, std::nullopt, "python3", 10 * kMiB, 100 * kMiB),
              }),
              IsEmpty());
}

TEST(GroupProcesses, WorkersWhoseParentExitedMidSampleAreNotGrouped) {
  // The parent's files vanished between the memory scan and the tree read.
  EXPECT_THAT(group_processes({
                  node(43, 42, 200, kPython, "pt_data_worker", 10 * kMiB, 100 * kMiB),
                  node(44, 42, 200, kPython, "pt_data_worker", 10 * kMiB, 100 * kMiB),
              }),
              IsEmpty());
}

TEST(GroupProcesses, RanksFormTheirOwnGroupAndEachRanksWorkersTheirs) {
  auto launcher = node(10, 1, 100, kPython, "torchrun", 50 * kMiB, 80 * kMiB);
  auto rank0 = node(11, 10, 200, kPython, "python3", 900 * kMiB, 1000 * kMiB, 950 * kMiB);
  auto rank1 = node(12, 10, 200, kPython, "python3", 800 * kMiB, 900 * kMiB, 850 * kMiB);
  auto worker = node(13, 11, 300, kPython, "pt_data_worker", 40 * kMiB, 600 * kMiB);
  rank0.rank = 0, rank0.world_size = 2;
  rank1.rank = 1, rank1.world_size = 2;
  worker.rank = 0, worker.world_size = 2;  // inherited from rank 0
  const auto groups = group_processes({launcher, rank0, rank1, worker});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].kind, GroupKind::kRanks);
  EXPECT_EQ(groups[0].parent->memory.pid, 10);
  EXPECT_THAT(member_pids(groups[0]), ElementsAre(11, 12));
  EXPECT_EQ(groups[1].kind, GroupKind::kWorkers);
  EXPECT_EQ(groups[1].parent->memory.pid, 11);
  EXPECT_THAT(member_pids(groups[1]), ElementsAre(13));
}

// --- GroupWatcher --------------------------------------------------------------------------

const TimePoint kT0{std::chrono::seconds(1'700'000'000)};

struct Scenario {
  std::uint64_t parent_anon = 300 * kMiB;
  std::uint64_t limit = 1024 * kMiB;
  std::uint64_t base = 350 * kMiB;  ///< everything but the workers' private memory
};

/// Workers with the given USS under a parent of `parent_anon`; with `worker_anon`, each worker's
/// smaps_rollup Anonymous (its USS plus what it still shares with the parent).
std::vector<ProcessGroup> workers(const std::vector<std::pair<int, std::uint64_t>>& privates,
                                  std::uint64_t parent_anon, std::uint64_t parent_start = 100,
                                  std::optional<std::uint64_t> worker_anon = std::nullopt) {
  std::vector<model::ProcessNode> nodes{
      node(42, 1, parent_start, kPython, "python3", 320 * kMiB, 360 * kMiB, parent_anon)};
  for (const auto& [pid, bytes] : privates) {
    nodes.push_back(node(pid, 42, parent_start + static_cast<std::uint64_t>(pid), kPython,
                         "pt_data_worker", bytes, bytes + 250 * kMiB, worker_anon));
  }
  return group_processes(nodes);
}

EffectiveMemory used(std::uint64_t bytes, std::uint64_t limit) {
  EffectiveMemory m;
  m.scope = Scope::kContainer;
  m.used_bytes = bytes;
  m.limit_bytes = limit;
  m.available_bytes = limit - std::min(limit, bytes);
  m.used_percent = used_percent(bytes, limit);
  return m;
}

TEST(GroupWatcher, WorkersCopyingTowardsTheParentRaiseWorkersCopyOnceWithTheProjection) {
  GroupWatcher watcher;
  std::vector<Event> all;
  const std::uint64_t parent_anon = 300 * kMiB;
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t each = (20 + 10 * static_cast<std::uint64_t>(i)) * kMiB;  // +10 MiB/s
    const auto groups = workers({{43, each}, {44, each}, {45, each}, {46, each}}, parent_anon);
    const auto events = watcher.observe(kT0 + std::chrono::seconds(i), groups,
                                        used(350 * kMiB + 4 * each, 1024 * kMiB), Level::kNormal);
    all.insert(all.end(), events.begin(), events.end());
  }
  ASSERT_EQ(watcher.assessments().size(), 1u);
  const auto& a = watcher.assessments()[0];
  EXPECT_EQ(a.shape, GroupShape::kCopyOnRead);
  ASSERT_TRUE(a.rate_bytes_per_second);
  EXPECT_NEAR(*a.rate_bytes_per_second, 10.0 * kMiB, 1.0);
  EXPECT_EQ(a.converged_private_bytes, parent_anon);
  // Now 350 + 4 x 60 MiB; each worker has 240 MiB left to copy: 590 + 960 MiB.
  EXPECT_EQ(a.projected_bytes, 1550 * kMiB);
  // (1024 - 590) MiB at 40 MiB/s.
  ASSERT_TRUE(a.seconds_to_limit);
  EXPECT_NEAR(*a.seconds_to_limit, 434.0 / 40.0, 0.01);
  // 90% of 1 GiB = 921.6 MiB; 350 MiB besides the workers; 300 MiB each: 1 worker fits.
  EXPECT_EQ(a.max_workers, 1u);

  ASSERT_EQ(all.size(), 1u);
  const auto& e = all[0];
  EXPECT_EQ(e.kind(), analysis::EventKind::kWorkersCopy);
  EXPECT_EQ(copying_of(e).process.pid, 42);
  EXPECT_THAT(copying_of(e).worker_pids, ElementsAre(43, 44, 45, 46));
  EXPECT_EQ(copying_of(e).projected_bytes, 1550 * kMiB);
  EXPECT_EQ(copying_of(e).max_workers, 1u);
  EXPECT_THAT(e.message, HasSubstr("python3 (pid 42) + 4 workers"));
  EXPECT_THAT(e.message, HasSubstr("num_workers=1"));
  EXPECT_THAT(e.message, HasSubstr("serialize_data"));
  EXPECT_THAT(e.message, HasSubstr("persistent_workers=True"));
}

TEST(GroupWatcher, ACopyThatBendsConvergesToTheAsymptoteNotTheWholeParent) {
  // Workers that read only part of the parent's heap: 80 - 60 x 0.5^k MiB, never 300 MiB.
  GroupWatcher watcher;
  const double curve[] = {20, 50, 65, 72.5, 76.25};
  for (int i = 0; i < 5; ++i) {
    const auto each = static_cast<std::uint64_t>(curve[i] * kMiB);
    (void)watcher.observe(kT0 + std::chrono::seconds(i),
                          workers({{43, each}, {44, each}, {45, each}, {46, each}}, 300 * kMiB),
                          used(350 * kMiB + 4 * each, 512 * kMiB), Level::kNormal);
  }
  const auto& a = watcher.assessments()[0];
  EXPECT_EQ(a.shape, GroupShape::kCopyOnRead);
  ASSERT_TRUE(a.converged_private_bytes);
  EXPECT_NEAR(static_cast<double>(*a.converged_private_bytes), 80.0 * kMiB, 1024.0);
  // 350 + 4 x 76.25 MiB now, 3.75 MiB left to copy each.
  ASSERT_TRUE(a.projected_bytes);
  EXPECT_NEAR(static_cast<double>(*a.projected_bytes), 670.0 * kMiB, 4096.0);
  EXPECT_EQ(a.max_workers, 1u);  // (460.8 - 350) / 80
}

// Four workers whose private memory follows `curve` (MiB, one sample a second) under a parent
// of 300 MiB anonymous, 350 MiB besides the workers, a 1 GiB limit: every event said.
std::vector<Event> run_curve(GroupWatcher& watcher, const std::vector<double>& curve) {
  std::vector<Event> all;
  for (std::size_t i = 0; i < curve.size(); ++i) {
    const auto each = static_cast<std::uint64_t>(curve[i] * kMiB);
    const auto events =
        watcher.observe(kT0 + std::chrono::seconds(i),
                        workers({{43, each}, {44, each}, {45, each}, {46, each}}, 300 * kMiB),
                        used(350 * kMiB + 4 * each, 1024 * kMiB), Level::kNormal);
    all.insert(all.end(), events.begin(), events.end());
  }
  return all;
}

TEST(GroupWatcher, TheSettledAsymptoteIsSaidAgainAsAnUpdateWithTheBetterMaxWorkers) {
  // Each worker copies towards 100 MiB (100 - 90 x 0.85^t), not the parent's whole 300 MiB.
  std::vector<double> curve;
  for (int t = 0; t < 30; ++t) curve.push_back(100.0 - 90.0 * std::pow(0.85, t));
  GroupWatcher watcher;
  const auto events = run_curve(watcher, curve);
  ASSERT_EQ(events.size(), 2u);
  // The first on early data: each worker counted at 300 MiB, (921.6 - 350) / 300 = 1 fits.
  EXPECT_FALSE(copying_of(events[0]).update);
  EXPECT_EQ(copying_of(events[0]).converged_private_bytes, 300 * kMiB);
  EXPECT_EQ(copying_of(events[0]).max_workers, 1u);
  EXPECT_THAT(events[0].message, HasSubstr("num_workers=1 fits"));
  // The update: the fitted 100 MiB, 350 + 4 x 100 = 750 MiB, (921.6 - 350) / 100 = 5 fit.
  const auto& u = events[1];
  EXPECT_EQ(u.kind(), analysis::EventKind::kWorkersCopy);
  EXPECT_TRUE(copying_of(u).update);
  ASSERT_TRUE(copying_of(u).converged_private_bytes);
  EXPECT_NEAR(static_cast<double>(*copying_of(u).converged_private_bytes), 100.0 * kMiB,
              0.02 * 100 * kMiB);
  ASSERT_TRUE(copying_of(u).projected_bytes);
  EXPECT_NEAR(static_cast<double>(*copying_of(u).projected_bytes), 750.0 * kMiB, 0.02 * 750 * kMiB);
  EXPECT_EQ(copying_of(u).max_workers, 5u);
  EXPECT_THAT(u.message, HasSubstr("update: "));
  EXPECT_THAT(u.message, HasSubstr("the 4 workers fit"));
  EXPECT_THAT(copying_of(u).worker_pids, ElementsAre(43, 44, 45, 46));
  // Said once two fits in a row agreed, never before the curve bent (five samples).
  EXPECT_GE(u.at - kT0, std::chrono::seconds(5));
  const auto& a = watcher.assessments()[0];
  EXPECT_TRUE(a.fitted);
}

TEST(GroupWatcher, AnUpdateOverTheLimitKeepsTheFixAndANewNumWorkers) {
  // Towards 200 MiB each: 350 + 800 MiB is still over the limit; (921.6 - 350) / 200 = 2 fit.
  std::vector<double> curve;
  for (int t = 0; t < 30; ++t) curve.push_back(200.0 - 180.0 * std::pow(0.85, t));
  GroupWatcher watcher;
  const auto events = run_curve(watcher, curve);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(copying_of(events[0]).max_workers, 1u);
  EXPECT_TRUE(copying_of(events[1]).update);
  EXPECT_EQ(copying_of(events[1]).max_workers, 2u);
  EXPECT_THAT(events[1].message, HasSubstr("num_workers=2 fits"));
  EXPECT_THAT(events[1].message, HasSubstr("serialize_data"));
}

TEST(GroupWatcher, AnAsymptoteThatKeepsMovingIsSaidABoundedNumberOfTimes) {
  // The ceiling drifts up 6 MiB a sample: every few samples the fit settles on a new
  // max_workers. Updates stop at max_updates.
  std::vector<double> curve;
  for (int t = 0; t < 200; ++t) curve.push_back(60.0 + 1.2 * t - 50.0 * std::pow(0.8, t));
  GroupWatcher watcher;
  const auto events = run_curve(watcher, curve);
  ASSERT_GE(events.size(), 2u);
  EXPECT_LE(events.size(), 1u + GroupParams{}.max_updates);
  EXPECT_FALSE(copying_of(events[0]).update);
  for (std::size_t i = 1; i < events.size(); ++i) EXPECT_TRUE(copying_of(events[i]).update);
}

TEST(GroupProcesses, AWorkersSharedAnonymousIsItsAnonymousLessItsUssAtMostItsShared) {
  const auto groups = group_processes({
      node(42, 1, 100, kPython, "python3", 400 * kMiB, 500 * kMiB, 420 * kMiB),
      node(43, 42, 200, kPython, "pt_data_worker", 60 * kMiB, 300 * kMiB, 260 * kMiB),
      node(44, 42, 200, kPython, "pt_data_worker", 30 * kMiB, 100 * kMiB, 260 * kMiB),
      node(45, 42, 200, kPython, "pt_data_worker", 30 * kMiB, 100 * kMiB),
  });
  ASSERT_EQ(groups.size(), 1u);
  const auto& m = groups[0].members;
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].shared_anon_bytes, 200 * kMiB);  // 260 - 60, under its 240 MiB shared
  EXPECT_EQ(m[1].shared_anon_bytes, 70 * kMiB);   // its shared pages, 100 - 30, are fewer
  EXPECT_FALSE(m[2].shared_anon_bytes);           // Anonymous unknown
}

TEST(GroupWatcher, WhatTheParentAllocatedAfterTheForkIsNotCopied) {
  // The parent has 300 MiB anonymous, 100 MiB of it allocated after it forked: each worker's
  // Anonymous is 200 MiB (its USS and what it still shares). A straight climb, no bend: the
  // parent's whole 300 MiB would project 350 + 4 x 300 = 1550 MiB, 1 worker fitting; what the
  // workers still share projects 350 + 4 x 200 = 1150 MiB, 2 fitting ((921.6 - 350) / 200).
  GroupWatcher watcher;
  std::vector<Event> all;
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t each = (20 + 10 * static_cast<std::uint64_t>(i)) * kMiB;
    const auto groups =
        workers({{43, each}, {44, each}, {45, each}, {46, each}}, 300 * kMiB, 100, 200 * kMiB);
    const auto events = watcher.observe(kT0 + std::chrono::seconds(i), groups,
                                        used(350 * kMiB + 4 * each, 1024 * kMiB), Level::kNormal);
    all.insert(all.end(), events.begin(), events.end());
  }
  const auto& a = watcher.assessments()[0];
  EXPECT_EQ(a.shape, GroupShape::kCopyOnRead);
  EXPECT_FALSE(a.fitted);
  EXPECT_EQ(a.converged_private_bytes, 200 * kMiB);
  EXPECT_EQ(a.projected_bytes, 1150 * kMiB);
  EXPECT_EQ(a.max_workers, 2u);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(copying_of(all[0]).projected_bytes, 1150 * kMiB);
  EXPECT_THAT(all[0].message, HasSubstr("num_workers=2 fits"));
}

TEST(GroupWatcher, WorkersStartingUpDoNotBendTheFitAboveTheAsymptote) {
  // Workers idle 3 s (starting up) before they copy towards 100 MiB: 100 - 90 x 0.8^t. A fit
  // through the first, middle and last samples (Aitken's delta-squared) crosses the start-up
  // and overshoots (159, 204, 119 MiB after 12-14 samples); the rate over the level since the
  // fastest rate finds 100 MiB from the seventh sample on.
  std::vector<double> curve{10, 10, 10};
  for (int t = 0; t < 20; ++t) curve.push_back(100.0 - 90.0 * std::pow(0.8, t));
  GroupWatcher watcher;
  for (std::size_t i = 0; i < curve.size(); ++i) {
    const auto each = static_cast<std::uint64_t>(curve[i] * kMiB);
    (void)watcher.observe(kT0 + std::chrono::seconds(i),
                          workers({{43, each}, {44, each}, {45, each}, {46, each}}, 300 * kMiB),
                          used(350 * kMiB + 4 * each, 1024 * kMiB), Level::kNormal);
    const auto& a = watcher.assessments()[0];
    if (i < 6) {
      EXPECT_FALSE(a.fitted) << "sample " << i;
      continue;
    }
    EXPECT_TRUE(a.fitted) << "sample " << i;
    ASSERT_TRUE(a.converged_private_bytes);
    EXPECT_NEAR(static_cast<double>(*a.converged_private_bytes), 100.0 * kMiB, 0.01 * 100 * kMiB)
        << "sample " << i;
  }
}

TEST(GroupWatcher, AFitSaysWhichShareOfWhatWorkersStillShareTheyCopy) {
  // Each worker's Anonymous is 250 MiB; the curve converges to 100 MiB: three fifths of what
  // they still share is never read. Workers of unequal USS converge unequally, each copying the
  // same share of its own shared part.
  std::vector<double> curve;
  for (int t = 0; t < 12; ++t) curve.push_back(100.0 - 90.0 * std::pow(0.8, t));
  GroupWatcher watcher;
  for (std::size_t i = 0; i < curve.size(); ++i) {
    const auto low = static_cast<std::uint64_t>((curve[i] - 10) * kMiB);
    const auto high = static_cast<std::uint64_t>((curve[i] + 10) * kMiB);
    (void)watcher.observe(kT0 + std::chrono::seconds(i),
                          workers({{43, low}, {44, high}}, 300 * kMiB, 100, 250 * kMiB),
                          used(350 * kMiB + low + high, 1024 * kMiB), Level::kNormal);
  }
  const auto& a = watcher.assessments()[0];
  ASSERT_TRUE(a.fitted);
  ASSERT_TRUE(a.converged_private_bytes && a.projected_bytes);
  EXPECT_NEAR(static_cast<double>(*a.converged_private_bytes), 100.0 * kMiB, 0.01 * 100 * kMiB);
  // 350 MiB besides the workers and 2 x 100 MiB when they have converged.
  EXPECT_NEAR(static_cast<double>(*a.projected_bytes), 550.0 * kMiB, 0.01 * 550 * kMiB);
}

TEST(GroupWatcher, ACurveThatStoppedConvergesWhereItIs) {
  // The copy is over: the rate fell to nothing. What the workers still share stays shared.
  std::vector<double> curve;
  for (int t = 0; t < 10; ++t) curve.push_back(100.0 - 90.0 * std::pow(0.5, t));
  for (int t = 0; t < 10; ++t) curve.push_back(curve.back());
  GroupWatcher watcher;
  (void)run_curve(watcher, curve);
  const auto& a = watcher.assessments()[0];
  EXPECT_EQ(a.shape, GroupShape::kCopyOnRead);
  ASSERT_TRUE(a.fitted);
  ASSERT_TRUE(a.converged_private_bytes);
  EXPECT_NEAR(static_cast<double>(*a.converged_private_bytes), 100.0 * kMiB, 0.01 * 100 * kMiB);
}

TEST(GroupWatcher, AStraightClimbIsNotUpdated) {
  // No bend, no fitted asymptote: the first event stands.
  std::vector<double> curve;
  for (int t = 0; t < 25; ++t) curve.push_back(20.0 + 10.0 * t);
  GroupWatcher watcher;
  const auto events = run_curve(watcher, curve);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(copying_of(events[0]).update);
}

TEST(GroupWatcher, ACopyWhoseEndFitsUnderTheLimitRaisesNothing) {
  GroupWatcher watcher;
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t each = (20 + 10 * static_cast<std::uint64_t>(i)) * kMiB;
    const auto groups = workers({{43, each}, {44, each}}, 300 * kMiB);
    EXPECT_THAT(watcher.observe(kT0 + std::chrono::seconds(i), groups,
                                used(350 * kMiB + 2 * each, 4096 * kMiB), Level::kNormal),
                IsEmpty());
  }
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kCopyOnRead);
  EXPECT_EQ(watcher.assessments()[0].max_workers, 11u);  // (3686.4 - 350) / 300
}

TEST(GroupWatcher, WorkersThatDoNotGrowAreStable) {
  GroupWatcher watcher;
  for (int i = 0; i < 6; ++i) {
    const auto groups = workers({{43, 25 * kMiB}, {44, 26 * kMiB}}, 300 * kMiB);
    EXPECT_THAT(watcher.observe(kT0 + std::chrono::seconds(i), groups, used(400 * kMiB, 512 * kMiB),
                                Level::kWarning),
                IsEmpty());
  }
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kStable);
}

TEST(GroupWatcher, GrowthPastTheParentsSizeIsALeakNotACopy) {
  GroupWatcher watcher;
  for (int i = 0; i < 5; ++i) {
    const std::uint64_t each = (300 + 100 * static_cast<std::uint64_t>(i)) * kMiB;
    const auto groups = workers({{43, each}}, 200 * kMiB);
    EXPECT_THAT(watcher.observe(kT0 + std::chrono::seconds(i), groups,
                                used(300 * kMiB + each, 1024 * kMiB), Level::kNormal),
                IsEmpty());
  }
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kLeak);
}

TEST(GroupWatcher, WorkersReplacedByNewPidsAreASawtooth) {
  GroupWatcher watcher;
  int t = 0;
  for (int epoch = 0; epoch < 3; ++epoch) {
    const int pid = 43 + epoch;  // each epoch forks a fresh worker
    for (int i = 0; i < 2; ++i, ++t) {
      (void)watcher.observe(
          kT0 + std::chrono::seconds(t),
          workers({{pid, (20 + 100 * static_cast<std::uint64_t>(i)) * kMiB}}, 300 * kMiB),
          used(500 * kMiB, 4096 * kMiB), Level::kNormal);
    }
  }
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kSawtooth);
}

TEST(GroupWatcher, AWorkerExitingMidSampleRestartsTheWindowWithoutAWrongShape) {
  GroupWatcher watcher;
  std::vector<Event> all;
  for (int i = 0; i < 4; ++i) {
    const std::uint64_t each = (20 + 40 * static_cast<std::uint64_t>(i)) * kMiB;
    // At the third sample worker 44 is gone (it exited while the tree was read).
    std::vector<std::pair<int, std::uint64_t>> members{{43, each}};
    if (i != 2) members.emplace_back(44, each);
    auto events = watcher.observe(kT0 + std::chrono::seconds(i), workers(members, 300 * kMiB),
                                  used(350 * kMiB + 2 * each, 600 * kMiB), Level::kNormal);
    all.insert(all.end(), events.begin(), events.end());
  }
  // One sample since the set changed back: not yet enough for a shape, and no event.
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kUnknown);
  EXPECT_THAT(all, IsEmpty());
}

TEST(GroupWatcher, AParentPidReusedByANewProcessStartsANewSeries) {
  GroupWatcher watcher;
  for (int i = 0; i < 3; ++i) {
    (void)watcher.observe(
        kT0 + std::chrono::seconds(i),
        workers({{43, (20 + 50 * static_cast<std::uint64_t>(i)) * kMiB}}, 300 * kMiB, 100),
        used(500 * kMiB, 4096 * kMiB), Level::kNormal);
  }
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kCopyOnRead);
  // Same pids, a parent started later: another process, no history.
  (void)watcher.observe(kT0 + std::chrono::seconds(3),
                        workers({{43, 170 * kMiB}}, 300 * kMiB, 5000),
                        used(500 * kMiB, 4096 * kMiB), Level::kNormal);
  EXPECT_EQ(watcher.assessments()[0].shape, GroupShape::kUnknown);
}

}  // namespace
}  // namespace memopt::analysis
