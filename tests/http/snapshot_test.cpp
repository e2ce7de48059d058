// The documents `monitor --listen` serves, rendered from the engine's typed snapshot: each
// event rendered once, the latest kept, the recorder's counter only while it records.
#include "memopt/http/snapshot.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "memopt/render/monitor.hpp"

namespace memopt::http {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

class SnapshotRendererTest : public ::testing::Test {
 protected:
  EngineSnapshot snapshot() {
    EngineSnapshot s;
    s.report = &report_;
    s.summary = &watcher_.summary();
    s.history = &watcher_.history();
    s.events = &events_;
    s.events_total = total_;
    return s;
  }
  void add(std::string message) {
    analysis::Event e(analysis::LevelChange{});
    e.level = analysis::Level::kWarning;
    e.message = std::move(message);
    events_.push_back(std::move(e));
    ++total_;
    if (events_.size() > 3) events_.pop_front();  // the engine keeps a hundred; three here
  }
  static std::vector<std::string> messages(const std::string& events_json) {
    std::vector<std::string> out;
    for (const auto& e : Json::parse(events_json)) out.push_back(e["message"]);
    return out;
  }

  analysis::Report report_;
  analysis::Watcher watcher_{analysis::WatchParams{}};
  std::deque<analysis::Event> events_;
  std::uint64_t total_ = 0;
};

TEST_F(SnapshotRendererTest, EveryDocumentIsRenderedFromTheSnapshot) {
  report_.status.level = analysis::Level::kSevere;
  add("up to warning");
  SnapshotRenderer renderer;
  auto s = snapshot();
  s.cleanup_reclaimed_bytes = 4096;
  const auto served = renderer.render(s);
  EXPECT_EQ(Json::parse(served.report_json)["status"]["level"], "severe");
  EXPECT_THAT(served.report_json, Not(HasSubstr("\n  "))) << "compact";
  EXPECT_THAT(served.metrics, HasSubstr("memopt_status_level 3\n"));
  EXPECT_THAT(served.metrics, HasSubstr("memopt_cleanup_reclaimed_bytes_total 4096\n"));
  EXPECT_THAT(served.metrics, Not(HasSubstr("memopt_postmortems_total")));
  EXPECT_TRUE(Json::parse(served.history_json).is_array());
  auto line = render::render_event(events_.back(), true);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  EXPECT_EQ(served.events_json, "[" + line + "]");
  EXPECT_TRUE(served.postmortems_json.empty());
  EXPECT_FALSE(served.postmortems);
}

TEST_F(SnapshotRendererTest, EventsKeepTheirOrderAcrossSnapshotsAndOnlyTheLatestAreServed) {
  SnapshotRenderer renderer;
  EXPECT_EQ(renderer.render(snapshot()).events_json, "[]");
  add("a");
  add("b");
  EXPECT_EQ(messages(renderer.render(snapshot()).events_json),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(messages(renderer.render(snapshot()).events_json), (std::vector<std::string>{"a", "b"}))
      << "a snapshot without new events serves the same ones";
  add("c");
  add("d");
  add("e");
  EXPECT_EQ(messages(renderer.render(snapshot()).events_json),
            (std::vector<std::string>{"c", "d", "e"}));
  for (int i = 0; i < 5; ++i) add("f" + std::to_string(i));  // more new ones than are kept
  EXPECT_EQ(messages(renderer.render(snapshot()).events_json),
            (std::vector<std::string>{"f2", "f3", "f4"}));
}

TEST_F(SnapshotRendererTest, TheRecordersPostmortemsAndTheirCounterAreServedWhileItRecords) {
  SnapshotRenderer renderer;
  auto s = snapshot();
  s.postmortems_json = R"([{"id":1,"kind":"oom_kill"}])";
  s.postmortems = std::make_shared<const std::map<std::int64_t, std::string>>(
      std::map<std::int64_t, std::string>{{1, "{}"}});
  s.postmortems_written = 1;
  const auto served = renderer.render(s);
  EXPECT_THAT(served.metrics, HasSubstr("\n# TYPE memopt_postmortems_total counter\n"
                                        "memopt_postmortems_total 1\n"));
  EXPECT_EQ(served.postmortems_json, s.postmortems_json);
  ASSERT_TRUE(served.postmortems);
  EXPECT_EQ(served.postmortems->at(1), "{}");
}

}  // namespace
}  // namespace memopt::http
