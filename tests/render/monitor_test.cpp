#include "memopt/render/monitor.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace memopt::render {
namespace {

const auto kAt = std::chrono::system_clock::from_time_t(1'800'000'000);

analysis::Event cleanup_event() {
  analysis::Event e(
      analysis::CleanupRan{.released_bytes = -4096,
                           .duration_seconds = 0.12345,
                           .steps = {{"cgroup_reclaim", "skipped"}, {"drop_caches", "done"}}},
      kAt);
  e.level = analysis::Level::kSevere;
  e.memory.scope = analysis::Scope::kContainer;
  e.memory.limit_bytes = 256u << 20;
  e.memory.used_bytes = 240u << 20;
  e.memory.available_bytes = 16u << 20;
  e.memory.used_percent = 93.75;
  e.message = "cleanup at severe: released nothing (cgroup_reclaim skipped, drop_caches done)";
  return e;
}

TEST(RenderEvent, ACleanupEventCarriesWhatItReleasedAndItsSteps) {
  const auto line = render_event(cleanup_event(), true);
  ASSERT_EQ(line.back(), '\n');
  const auto doc = nlohmann::json::parse(line);
  EXPECT_EQ(doc["type"], "event");
  EXPECT_EQ(doc["event"], "cleanup");
  EXPECT_EQ(doc["timestamp"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(doc["level"], "severe");
  EXPECT_EQ(doc["released_bytes"], -4096);
  EXPECT_DOUBLE_EQ(doc["duration_seconds"].get<double>(), 0.123);
  ASSERT_EQ(doc["steps"].size(), 2u);
  EXPECT_EQ(doc["steps"][1]["name"], "drop_caches");
  EXPECT_EQ(doc["steps"][1]["status"], "done");
  EXPECT_EQ(doc["memory"]["used_percent"], 93.75);
  EXPECT_FALSE(doc.contains("trigger"));

  EXPECT_EQ(render_event(cleanup_event(), false),
            "2027-01-15T08:00:00Z  EVENT cleanup         cleanup at severe: released nothing "
            "(cgroup_reclaim skipped, drop_caches done)\n");
}

TEST(RenderEvent, APressureEventFromATriggerNamesIt) {
  analysis::Event e(analysis::PressureFired{.trigger = "some 200000 2000000"}, kAt);
  e.message = "memory pressure: the kernel's PSI trigger \"some 200000 2000000\" fired";
  const auto doc = nlohmann::json::parse(render_event(e, true));
  EXPECT_EQ(doc["trigger"], "some 200000 2000000");
  EXPECT_FALSE(doc.contains("pressure"));  // no averages were read with it
  EXPECT_FALSE(doc.contains("steps"));
}

TEST(RenderEvent, ALeakEventCarriesTheProcesssGrowingSitesOrWhyNot) {
  analysis::Event e(analysis::LeakSuspicion{.process = {7, "python3"}}, kAt);
  auto& leak = *e.payload_if<analysis::LeakSuspicion>();
  leak.sites.push_back({"server.py", 12, "python", 3u << 20, 40, 125829120.4, 0.98765});
  e.message = "python3 (pid 7) grows steadily; growing sites: server.py:12 python 3.00 MiB";
  auto doc = nlohmann::json::parse(render_event(e, true));
  ASSERT_EQ(doc["leak_sites"].size(), 1u);
  EXPECT_EQ(doc["leak_sites"][0]["file"], "server.py");
  EXPECT_EQ(doc["leak_sites"][0]["line"], 12);
  EXPECT_EQ(doc["leak_sites"][0]["kind"], "python");
  EXPECT_EQ(doc["leak_sites"][0]["size_bytes"], 3u << 20);
  EXPECT_EQ(doc["leak_sites"][0]["growth_bytes_per_hour"], 125829120.0);
  EXPECT_EQ(doc["leak_sites"][0]["r2"], 0.988);
  EXPECT_FALSE(doc.contains("leak_sites_note"));
  EXPECT_NE(render_event(e, false).find("growing sites: server.py:12"), std::string::npos);

  leak.sites.clear();
  leak.sites_note = "pid 7 has no cleanup socket";
  doc = nlohmann::json::parse(render_event(e, true));
  EXPECT_TRUE(doc["leak_sites"].empty());
  EXPECT_EQ(doc["leak_sites_note"], "pid 7 has no cleanup socket");
}

}  // namespace
}  // namespace memopt::render
