// What `memopt top` keeps from the engine's output: events capped, notices among them, a
// paused frame that stays as it was, and nothing of an old target after clear().
#include "memopt/top/view_sink.hpp"

#include <gtest/gtest.h>

#include <string>

namespace memopt::top {
namespace {

analysis::Event event_at(int second) {
  analysis::Event e(analysis::LevelChange{});
  e.at = std::chrono::system_clock::time_point(std::chrono::seconds(second));
  e.level = analysis::Level::kWarning;
  e.message = "event " + std::to_string(second);
  return e;
}

analysis::Report report_used(std::uint64_t used_bytes) {
  analysis::Report report;
  report.memory.used_bytes = used_bytes;
  return report;
}

TEST(ViewSink, KeepsTheNewestEventsAndShowsNoticesAmongThem) {
  ViewSink sink;
  EXPECT_FALSE(sink.take_changed());
  for (int i = 0; i < static_cast<int>(ViewSink::kEventsKept) + 5; ++i) sink.on_event(event_at(i));
  EXPECT_TRUE(sink.take_changed());
  EXPECT_FALSE(sink.take_changed()) << "said once";
  ASSERT_EQ(sink.events().size(), ViewSink::kEventsKept);
  EXPECT_EQ(sink.events().front().message, "event 5");
  sink.on_notice("reloaded /etc/memopt.toml");
  EXPECT_EQ(sink.events().back().kind(), analysis::EventKind::kNotice);
  EXPECT_EQ(sink.events().back().level, analysis::Level::kUnknown);
  EXPECT_EQ(sink.events().back().message, "reloaded /etc/memopt.toml");
  EXPECT_EQ(sink.events().front().message, "event 6");
}

TEST(ViewSink, APausedFrameStaysAsItWasUntilResumed) {
  ViewSink sink;
  sink.on_event(event_at(1));
  const auto paused_at = report_used(100);
  sink.freeze(paused_at);
  const auto live = report_used(200);
  sink.on_event(event_at(2));
  {
    const auto frame = sink.frame(&live);
    ASSERT_NE(frame.report, nullptr);
    EXPECT_EQ(frame.report->memory.used_bytes, 100U);
    EXPECT_EQ(frame.events.size(), 1U) << "the event after the pause waits";
  }
  sink.resume();
  const auto frame = sink.frame(&live);
  EXPECT_EQ(frame.report, &live);
  EXPECT_EQ(frame.events.size(), 2U);
}

TEST(ViewSink, ClearLeavesNothingOfTheLastTargetNotEvenAPausedFrame) {
  ViewSink sink;
  sink.on_event(event_at(1));
  analysis::ProcessGroup group;
  sink.on_groups({group});
  sink.freeze(report_used(100));
  (void)sink.take_changed();
  sink.clear();
  EXPECT_TRUE(sink.take_changed());
  EXPECT_TRUE(sink.events().empty());
  EXPECT_TRUE(sink.groups().empty());
  EXPECT_EQ(sink.frame(nullptr).report, nullptr);
}

}  // namespace
}  // namespace memopt::top
