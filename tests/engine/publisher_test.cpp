// The engine's publisher: typed snapshots of the one state, the latest events kept, at most
// one quick refresh a second, and nothing for an engine that does not publish.
#include "engine/publisher.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "support/engine_fakes.hpp"

namespace memopt::engine {
namespace {

using std::chrono::milliseconds;

struct Published final : EngineSink {
  void on_publish(const EngineSnapshot& s) override {
    ++count;
    last = s;
    kinds.clear();
    for (const auto& e : *s.events) kinds.push_back(e.kind());
    messages.clear();
    for (const auto& e : *s.events) messages.push_back(e.message);
  }
  int count = 0;
  EngineSnapshot last;
  std::vector<analysis::EventKind> kinds;
  std::vector<std::string> messages;
};

class PublisherTest : public ::testing::Test {
 protected:
  EngineClock clock() { return testing::manual_clock(now_); }
  static analysis::Event event(std::string message) {
    analysis::Event e(analysis::LevelChange{});
    e.message = std::move(message);
    return e;
  }
  std::chrono::steady_clock::time_point now_{std::chrono::seconds(1000)};
  analysis::Watcher watcher_{analysis::WatchParams{}};
  analysis::Report report_;
};

TEST_F(PublisherTest, ASnapshotCarriesTheStateTypedWithTheEventsKept) {
  Published sink;
  Publisher publisher(sink, true, clock());
  EXPECT_FALSE(publisher.dirty());
  publisher.keep(event("first"));
  EXPECT_TRUE(publisher.dirty());
  publisher.publish(&report_, watcher_, {std::uint64_t{4096}, 7, true});
  ASSERT_EQ(sink.count, 1);
  EXPECT_FALSE(publisher.dirty());
  EXPECT_EQ(sink.last.report, &report_);
  EXPECT_EQ(sink.last.summary, &watcher_.summary());
  EXPECT_EQ(sink.last.history, &watcher_.history());
  EXPECT_EQ(sink.last.events_total, 1u);
  EXPECT_EQ(sink.messages, std::vector<std::string>{"first"});
  EXPECT_EQ(sink.last.cleanup_reclaimed_bytes, 4096u);
  EXPECT_EQ(sink.last.top, 7u);
  EXPECT_TRUE(sink.last.containers);
  EXPECT_FALSE(sink.last.postmortems_written) << "the recorder's to fill";
}

TEST_F(PublisherTest, OnlyTheLatestHundredEventsAreKeptAndAllAreCounted) {
  Published sink;
  Publisher publisher(sink, true, clock());
  for (int i = 0; i < 130; ++i) publisher.keep(event(std::to_string(i)));
  publisher.publish(&report_, watcher_, {});
  EXPECT_EQ(sink.last.events_total, 130u);
  ASSERT_EQ(sink.messages.size(), kRecentEvents);
  EXPECT_EQ(sink.messages.front(), "30");
  EXPECT_EQ(sink.messages.back(), "129");
}

TEST_F(PublisherTest, NothingIsPublishedBeforeTheFirstReport) {
  Published sink;
  Publisher publisher(sink, true, clock());
  publisher.changed();
  publisher.publish(nullptr, watcher_, {});
  EXPECT_EQ(sink.count, 0);
  EXPECT_FALSE(publisher.dirty()) << "the change is not carried over";
}

TEST_F(PublisherTest, AnEngineThatDoesNotPublishKeepsNothing) {
  Published sink;
  Publisher publisher(sink, false, clock());
  publisher.keep(event("never served"));
  EXPECT_FALSE(publisher.dirty());
  publisher.changed();
  publisher.publish(&report_, watcher_, {});
  EXPECT_EQ(sink.count, 0);
}

TEST_F(PublisherTest, QuickReadingsAreDueOnceASecondAfterAPublish) {
  Published sink;
  Publisher publisher(sink, true, clock());
  EXPECT_TRUE(publisher.quick_due()) << "never published";
  publisher.publish(&report_, watcher_, {});
  EXPECT_FALSE(publisher.quick_due());
  now_ += kPublishEvery - milliseconds(1);
  EXPECT_FALSE(publisher.quick_due());
  now_ += milliseconds(1);
  EXPECT_TRUE(publisher.quick_due());
}

}  // namespace
}  // namespace memopt::engine
