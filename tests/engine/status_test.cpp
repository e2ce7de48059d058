// The status every output shows and the report between full samples, as the engine makes them.
#include "engine/status.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "memopt/units.hpp"

namespace memopt::engine {
namespace {

using ::testing::HasSubstr;

analysis::EffectiveMemory container(std::uint64_t used_mib) {
  analysis::EffectiveMemory m;
  m.scope = analysis::Scope::kContainer;
  m.limit_bytes = 1000 * kMiB;
  m.used_bytes = used_mib * kMiB;
  m.available_bytes = m.limit_bytes - m.used_bytes;
  m.used_percent = static_cast<double>(used_mib) / 10.0;
  return m;
}

TEST(EngineStatus, ALevelHeldByHysteresisSaysSo) {
  EngineOptions options;
  analysis::Watcher watcher(options.config.watch);
  analysis::QuickObservation o;
  o.memory = container(850);
  (void)watcher.observe(o);
  ASSERT_EQ(watcher.level(), analysis::Level::kWarning);

  const auto status = engine_status(container(790), options, watcher, std::nullopt);
  EXPECT_EQ(status.level, analysis::Level::kWarning) << "the watcher's level, not the reading's";
  ASSERT_FALSE(status.reasons.empty());
  EXPECT_THAT(status.reasons.back(), HasSubstr("held at warning until used falls 2 points"));
}

TEST(EngineStatus, ALevelThatAgreesAddsNoReason) {
  EngineOptions options;
  analysis::Watcher watcher(options.config.watch);
  analysis::QuickObservation o;
  o.memory = container(500);
  (void)watcher.observe(o);
  const auto status = engine_status(container(500), options, watcher, std::nullopt);
  EXPECT_EQ(status.level, analysis::Level::kNormal);
  for (const auto& reason : status.reasons) EXPECT_THAT(reason, ::testing::Not(HasSubstr("held")));
}

TEST(EngineStatus, AnUnknownTargetSaysWhy) {
  EngineOptions options;
  analysis::Watcher watcher(options.config.watch);
  analysis::EffectiveMemory unknown;
  unknown.scope = analysis::Scope::kUnknown;
  analysis::QuickObservation o;
  o.memory = unknown;
  (void)watcher.observe(o);
  const auto status =
      engine_status(unknown, options, watcher, std::string("cgroup /ctr was removed"));
  ASSERT_FALSE(status.reasons.empty());
  EXPECT_EQ(status.reasons.back(),
            "memory of memopt's own cgroup unknown: cgroup /ctr was removed");
}

TEST(RefreshReport, QuickReadingsReplaceTheOldOnesAndKeepTheProcesses) {
  analysis::Report report;
  report.sample.cgroup = model::CgroupMemory{};
  report.sample.cgroup->usage_bytes = 100 * kMiB;
  report.sample.cgroup->working_set_bytes = 100 * kMiB;
  report.sample.processes.resize(2);
  model::Sample quick;
  quick.cgroup = model::CgroupMemory{};
  quick.cgroup->usage_bytes = 700 * kMiB;
  quick.cgroup->working_set_bytes = 650 * kMiB;
  analysis::QuickObservation o;
  o.at = std::chrono::system_clock::time_point{std::chrono::seconds(1'800'000'000)};
  o.memory = container(650);
  o.oom_kills = 3;
  analysis::Status status;
  status.level = analysis::Level::kSevere;
  const analysis::Advice note{"pressure_trigger", "info", "pressure: PSI trigger(s) ..."};

  refresh_report(report, o, quick, status, {}, note);
  EXPECT_EQ(report.sample.timestamp, o.at);
  EXPECT_EQ(report.sample.cgroup->usage_bytes, 700 * kMiB);
  EXPECT_EQ(report.sample.cgroup->working_set_bytes, 650 * kMiB);
  EXPECT_EQ(report.sample.cgroup->oom_kill_events, 3u);
  EXPECT_EQ(report.sample.processes.size(), 2u) << "processes are the full sample's";
  EXPECT_EQ(report.memory.used_bytes, 650 * kMiB);
  EXPECT_EQ(report.status.level, analysis::Level::kSevere);
  ASSERT_FALSE(report.advice.empty());
  EXPECT_EQ(report.advice.back().id, "pressure_trigger") << "how pressure is watched stays said";
}

TEST(RefreshReport, AGoneTargetKeepsNoFigureOfBefore) {
  analysis::Report report;
  report.sample.cgroup = model::CgroupMemory{};
  report.sample.processes.resize(2);
  model::Sample quick;
  quick.cgroup_unreadable = "cgroup /ctr was removed";
  analysis::QuickObservation o;
  o.memory.scope = analysis::Scope::kUnknown;
  refresh_report(report, o, quick, {}, {}, std::nullopt);
  EXPECT_FALSE(report.sample.cgroup);
  EXPECT_TRUE(report.sample.processes.empty());
  EXPECT_EQ(report.sample.cgroup_unreadable, "cgroup /ctr was removed");
}

}  // namespace
}  // namespace memopt::engine
