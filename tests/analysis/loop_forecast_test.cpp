// loop_forecast: a forecast said in-process travels in the `stats` answer ("forecasts"), is read
// back without trusting the server (missing keys, huge numbers, escapes, non-UTF-8), becomes one
// monitor event per forecast, and shows in the event's JSON line, hook environment and the
// post-mortem.
#include "memopt/analysis/loop_forecast.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "memopt/actions/alert_hooks.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/forecast.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/record/postmortem.hpp"
#include "memopt/render/monitor.hpp"
#include "memopt/render/prometheus.hpp"
#include "memopt/timestamp.hpp"
#include "memopt/units.hpp"

namespace memopt {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

// A stats answer with `forecasts` as its "forecasts" value.
std::string answer_with(const std::string& forecasts) {
  return R"({"pid":42,"torch":[],"models":[],"forecasts":)" + forecasts + "}";
}

constexpr const char* kGood =
    R"({"sequence":1,"at":1796000000.5,"bytes_per_item":2097152,"item":21,"limit_item":236,)"
    R"("total":400,"seconds_left":21.5,"limit_bytes":536870912,)"
    R"("message":"at +2.0 MiB/item this loop reaches the limit at item 236 of 400"})";

model::ProcessStats applied(const std::string& answer) {
  model::ProcessStats stats;
  stats.pid = 42;
  stats.name = "python3";
  actions::apply_stats_answer(answer, stats);
  return stats;
}

TEST(StatsAnswerForecasts, AWholeEntryIsReadWithEveryFigure) {
  const auto stats = applied(answer_with(std::string("[") + kGood + "]"));
  ASSERT_FALSE(stats.error) << *stats.error;
  ASSERT_EQ(stats.forecasts.size(), 1u);
  const auto& f = stats.forecasts[0];
  EXPECT_EQ(f.sequence, 1u);
  EXPECT_DOUBLE_EQ(f.at_unix_seconds, 1796000000.5);
  EXPECT_DOUBLE_EQ(f.bytes_per_item, 2.0 * kMiB);
  EXPECT_EQ(f.item, 21u);
  EXPECT_EQ(f.limit_item, 236u);
  EXPECT_EQ(f.total, 400u);
  EXPECT_EQ(f.seconds_left, 21.5);
  EXPECT_EQ(f.limit_bytes, 512 * kMiB);
  EXPECT_THAT(f.message, HasSubstr("item 236 of 400"));
  EXPECT_FALSE(stats.forecasts_note);
}

TEST(StatsAnswerForecasts, AnAnswerWithoutForecastsIsAnOlderServerNotAnError) {
  const auto stats = applied(R"({"pid":42,"torch":[],"models":[]})");
  EXPECT_FALSE(stats.error);
  EXPECT_TRUE(stats.forecasts.empty());
  EXPECT_FALSE(stats.forecasts_note);
}

TEST(StatsAnswerForecasts, EntriesThatAreNotWholeAreLeftOutAndSaidNeverMadeUp) {
  const std::string entries =
      std::string("[") + kGood +
      // missing limit_item
      R"(,{"sequence":2,"at":1,"bytes_per_item":1,"item":1,"message":"x"})"
      // item past 2^63, growth past 2^63, negative growth
      R"(,{"sequence":3,"at":1,"bytes_per_item":5,"item":18446744073709551615,)"
      R"("limit_item":18446744073709551615,"message":"x"})"
      R"(,{"sequence":4,"at":1,"bytes_per_item":1e300,"item":1,"limit_item":2,"message":"x"})"
      R"(,{"sequence":5,"at":1,"bytes_per_item":-3,"item":1,"limit_item":2,"message":"x"})"
      // a time that would overflow a clock, a fractional item
      R"(,{"sequence":6,"at":1e30,"bytes_per_item":3,"item":1,"limit_item":2,"message":"x"})"
      R"(,{"sequence":7,"at":1,"bytes_per_item":3,"item":1.5,"limit_item":2,"message":"x"})"
      // the limit before the item; a string where a figure goes
      R"(,{"sequence":8,"at":1,"bytes_per_item":3,"item":9,"limit_item":2,"message":"x"})"
      R"(,{"sequence":9,"at":1,"bytes_per_item":3,"item":1,"limit_item":2,)"
      R"("seconds_left":"soon","message":"x"})"
      R"(,"not an object",{"sequence":10,"at":1,"bytes_per_item":3,"item":1,"limit_item":2}])";
  const auto stats = applied(answer_with(entries));
  ASSERT_FALSE(stats.error) << *stats.error;
  ASSERT_EQ(stats.forecasts.size(), 1u);
  EXPECT_EQ(stats.forecasts[0].sequence, 1u);
  ASSERT_TRUE(stats.forecasts_note);
  EXPECT_THAT(*stats.forecasts_note, HasSubstr("10 of its 11 forecasts left out"));
}

TEST(StatsAnswerForecasts, ForecastsThatAreNotAListAreNotedAndTheRestOfTheAnswerStands) {
  const auto stats =
      applied(R"({"pid":42,"torch":[],"models":[{"name":"m","bytes":1}],"forecasts":{"a":1}})");
  EXPECT_FALSE(stats.error);
  EXPECT_EQ(stats.models.size(), 1u);
  EXPECT_TRUE(stats.forecasts.empty());
  ASSERT_TRUE(stats.forecasts_note);
  EXPECT_THAT(*stats.forecasts_note, HasSubstr("not a list"));
}

TEST(StatsAnswerForecasts, OnlyTheLatestSixteenOfAFloodAreRead) {
  std::string entries = "[";
  for (int i = 1; i <= 1000; ++i) {
    if (i > 1) entries += ",";
    entries += R"({"sequence":)" + std::to_string(i) +
               R"(,"at":1,"bytes_per_item":4096,"item":1,"limit_item":2,"message":"m"})";
  }
  const auto stats = applied(answer_with(entries + "]"));
  ASSERT_EQ(stats.forecasts.size(), 16u);
  EXPECT_EQ(stats.forecasts.front().sequence, 985u);
  ASSERT_TRUE(stats.forecasts_note);
  EXPECT_THAT(*stats.forecasts_note, HasSubstr("only the latest 16"));
}

TEST(StatsAnswerForecasts, EscapesAreMadePrintableAndInvalidUtf8RefusesTheAnswer) {
  const auto escaped =
      applied(answer_with(R"([{"sequence":1,"at":1,"bytes_per_item":4096,"item":1,"limit_item":2,)"
                          R"("message":"\u001b[2Jcleared"}])"));
  ASSERT_EQ(escaped.forecasts.size(), 1u);
  EXPECT_THAT(escaped.forecasts[0].message, Not(HasSubstr("\x1b")));
  EXPECT_THAT(escaped.forecasts[0].message, HasSubstr("cleared"));

  const auto broken = applied(
      answer_with("[{\"sequence\":1,\"at\":1,\"bytes_per_item\":4096,\"item\":1,\"limit_item\":2,"
                  "\"message\":\"\xff\xfe\"}]"));
  ASSERT_TRUE(broken.error);
  EXPECT_TRUE(broken.forecasts.empty());
}

TEST(StatsAnswerForecasts, AForecastSaidInThisProcessTravelsInItsStatsAnswer) {
  LoopForecastOptions options;
  options.total = 400;
  LoopForecast forecast(options, 512 * kMiB, "the limit");
  forecast.set_what("GPU memory torch reserves");
  const auto start = std::chrono::steady_clock::now();
  std::optional<LoopPrediction> said;
  for (std::uint64_t i = 1; i <= 400 && !said; ++i) {
    said = forecast.step(40 * kMiB + i * 2 * kMiB, start + i * std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(said);
  const auto kept = said_forecasts();
  ASSERT_FALSE(kept.empty());
  const auto stats = applied(stats_json());
  ASSERT_FALSE(stats.error) << *stats.error;
  ASSERT_FALSE(stats.forecasts.empty());
  const auto& f = stats.forecasts.back();
  EXPECT_EQ(f.sequence, kept.back().sequence);
  EXPECT_EQ(f.item, said->item);
  EXPECT_EQ(f.limit_item, said->limit_item);
  EXPECT_EQ(f.total, 400u);
  EXPECT_DOUBLE_EQ(f.bytes_per_item, said->bytes_per_item);
  EXPECT_EQ(f.limit_bytes, 512 * kMiB);
  EXPECT_EQ(f.message, format_loop_prediction(*said, "GPU memory torch reserves"));
  EXPECT_THAT(f.message, HasSubstr("in GPU memory torch reserves"));
}

TEST(LoopForecastWatcher, EachForecastIsOneEventAndAReusedPidIsANewProcess) {
  analysis::LoopForecastWatcher watcher;
  auto answer = applied(answer_with(std::string("[") + kGood + "]"));
  const analysis::TimePoint at{};
  const auto first = watcher.observe(at, {answer}, analysis::Level::kWarning, {});
  ASSERT_EQ(first.size(), 1u);
  const auto& e = first[0];
  EXPECT_EQ(e.kind(), analysis::EventKind::kLoopForecast);
  EXPECT_EQ(e.process()->pid, 42);
  EXPECT_EQ(e.level, analysis::Level::kWarning);
  EXPECT_THAT(e.message, HasSubstr("python3 (pid 42) forecast its loop: at +2.0 MiB/item"));
  // The process keeps it in every answer: said once.
  EXPECT_TRUE(watcher.observe(at, {answer}, analysis::Level::kWarning, {}).empty());
  // Another process under the same pid starts its sequence again, at another time.
  answer.forecasts[0].at_unix_seconds += 100;
  EXPECT_EQ(watcher.observe(at, {answer}, analysis::Level::kWarning, {}).size(), 1u);
  // An answer that failed carries nothing.
  model::ProcessStats failed;
  failed.pid = 43;
  failed.error = "timed out";
  failed.forecasts = answer.forecasts;
  EXPECT_TRUE(watcher.observe(at, {failed}, analysis::Level::kWarning, {}).empty());
}

TEST(LoopForecastEvent, ItsJsonLineHookEnvironmentAndPostmortemCarryTheFigures) {
  analysis::LoopForecastWatcher watcher;
  const auto answer = applied(answer_with(std::string("[") + kGood + "]"));
  const analysis::TimePoint at{std::chrono::seconds(1796000010)};
  const auto events = watcher.observe(at, {answer}, analysis::Level::kNormal, {});
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];

  const auto line = render::render_event(e, true);
  const auto doc = Json::parse(line);
  EXPECT_EQ(doc["event"], "loop_forecast");
  EXPECT_EQ(doc["pid"], 42);
  EXPECT_EQ(doc["name"], "python3");
  EXPECT_EQ(doc["bytes_per_item"], 2097152);
  EXPECT_EQ(doc["item"], 21);
  EXPECT_EQ(doc["limit_item"], 236);
  EXPECT_EQ(doc["total"], 400);
  EXPECT_EQ(doc["seconds_left"], 22);
  EXPECT_EQ(doc["limit_bytes"], 536870912);
  EXPECT_EQ(doc["forecast_at"],
            rfc3339(analysis::TimePoint(std::chrono::milliseconds(1796000000500))));
  EXPECT_THAT(render::render_event(e, false),
              HasSubstr("EVENT loop_forecast   python3 (pid 42) forecast its loop"));

  const auto env = actions::hook_environment(e);
  EXPECT_THAT(env, Contains("MEMOPT_EVENT=loop_forecast"));
  EXPECT_THAT(env, Contains("MEMOPT_PID=42"));
  EXPECT_THAT(env, Contains("MEMOPT_BYTES_PER_ITEM=2097152"));
  EXPECT_THAT(env, Contains("MEMOPT_ITEM=21"));
  EXPECT_THAT(env, Contains("MEMOPT_LIMIT_ITEM=236"));
  EXPECT_THAT(env, Contains("MEMOPT_TOTAL=400"));
  EXPECT_THAT(env, Contains("MEMOPT_SECONDS_LEFT=22"));

  // /metrics counts it from zero, as every other event.
  EXPECT_THAT(render::known_event_names(), Contains("loop_forecast"));

  record::PostmortemInput in;
  in.kind = "oom_kill";
  in.target = "cgroup /test";
  in.event = analysis::Event(analysis::OomKills{});
  in.event.at = at + std::chrono::seconds(30);
  in.started = in.event.at;
  in.loop_forecasts = {line, "not json", R"({"event":"pressure"})"};
  const auto pm = record::build_postmortem(in);
  const auto pm_doc = Json::parse(pm.json);
  ASSERT_EQ(pm_doc["loop_forecasts"].size(), 1u);
  EXPECT_EQ(pm_doc["loop_forecasts"][0]["pid"], 42);
  EXPECT_EQ(pm_doc["loop_forecasts"][0]["limit_item"], 236);
  EXPECT_THAT(record::render_postmortem_text(record::parse_postmortem(pm.json)),
              HasSubstr("Forecast before it, at " + rfc3339(at) +
                        ": python3 (pid 42) forecast its loop: at +2.0 MiB/item"));
}

}  // namespace
}  // namespace memopt
