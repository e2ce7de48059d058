// The answer to `stats`: torch's figures, the models held, the loop forecasts said.
#include "memopt/protocol/stats.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "memopt/error.hpp"

namespace memopt::protocol {
namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;

model::LoopForecastReport forecast(std::uint64_t sequence) {
  model::LoopForecastReport f;
  f.sequence = sequence;
  f.at_unix_seconds = 1765000000.25;
  f.bytes_per_item = 1048576.5;
  f.item = 10;
  f.limit_item = 400;
  f.total = 1000;
  f.seconds_left = 3600.5;
  f.limit_bytes = 16 * kGiB;
  f.message = "the loop reaches the limit at item 400";
  return f;
}

StatsAnswer full_answer() {
  StatsAnswer answer;
  answer.pid = 77;
  answer.torch = {{0, "GPU-1234", kGiB, 2 * kGiB, 3 * kGiB / 2, 300 << 20},
                  {1, std::nullopt, 0, 0, std::nullopt, std::nullopt}};
  answer.torch_version = "2.3.1+cu121";
  answer.models = {{"llama", 7 * kGiB, 12.5}, {"encoder", 300 << 20, std::nullopt}};
  answer.forecasts = {forecast(1), forecast(2)};
  answer.forecasts[1].total.reset();
  answer.forecasts[1].seconds_left.reset();
  answer.forecasts[1].limit_bytes.reset();
  return answer;
}

TEST(ProtocolStats, AnAnswerRoundTrips) {
  const auto answer = full_answer();
  EXPECT_EQ(decode_stats_answer(encode_stats_answer(answer)), answer);
  StatsAnswer empty;
  empty.pid = 1;
  EXPECT_EQ(decode_stats_answer(encode_stats_answer(empty)), empty);
  StatsAnswer refused;
  refused.error = "refused: peer credentials unknown";
  EXPECT_EQ(decode_stats_answer(encode_stats_answer(refused)), refused);
  StatsAnswer broken;
  broken.pid = 2;
  broken.torch_error = "the torch figures failed: torch broke";
  broken.torch_version = "2.1.0";
  EXPECT_EQ(decode_stats_answer(encode_stats_answer(broken)), broken);
}

TEST(ProtocolStats, AbsentFiguresAreNullOnTheWire) {
  StatsAnswer answer;
  answer.models = {{"encoder", std::nullopt, std::nullopt}};
  answer.forecasts = {forecast(1)};
  answer.forecasts[0].total.reset();
  const auto text = encode_stats_answer(answer);
  EXPECT_THAT(text, HasSubstr(R"({"bytes":null,"idle_seconds":null,"name":"encoder"})"));
  EXPECT_THAT(text, HasSubstr(R"("total":null)"));
  EXPECT_THAT(text, HasSubstr(R"("torch":[])"));
}

TEST(ProtocolStats, TheProvidersArrayIsReadByTheClientsRules) {
  const auto devices =
      decode_torch_devices(R"([{"device":1,"allocated_bytes":2,"reserved_bytes":3,"uuid":"u"}])");
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].device, 1u);
  EXPECT_EQ(devices[0].uuid, "u");
  EXPECT_FALSE(devices[0].peak_allocated_bytes);
  EXPECT_THROW((void)decode_torch_devices(R"({"device":0})"), Error);
  EXPECT_THROW((void)decode_torch_devices("[1"), Error);
  EXPECT_THROW(
      (void)decode_torch_devices(R"([{"device":0,"allocated_bytes":5,"reserved_bytes":4}])"),
      Error);
}

// Each hostile answer, and the words its Error must carry.
struct Hostile {
  const char* answer;
  const char* why;
};

TEST(ProtocolStats, HostileAnswersAreErrorsThatSayWhy) {
  for (const auto& [answer, why] : std::initializer_list<Hostile>{
           {"", "not JSON"},
           {R"({"torch":[],"models":[)", "not JSON"},  // truncated
           {R"({"torch":{},"models":[]})", "not a stats answer"},
           {R"({"torch":[]})", "not a stats answer"},
           {R"({"torch":[7],"models":[]})", "not a JSON object"},
           {R"({"torch":[{"device":0,"allocated_bytes":"1","reserved_bytes":2}],"models":[]})",
            "lacks a whole"},
           {R"({"torch":[{"device":0,"allocated_bytes":1.5,"reserved_bytes":2}],"models":[]})",
            "lacks a whole"},
           {R"({"torch":[{"device":0,"allocated_bytes":1,"reserved_bytes":)"
            R"(18446744073709551615}],"models":[]})",
            "lacks a whole"},
           {R"({"torch":[{"device":4294967296,"allocated_bytes":1,"reserved_bytes":2}],)"
            R"("models":[]})",
            "lacks a whole"},
           {R"({"torch":[{"device":3,"allocated_bytes":3,"reserved_bytes":2}],"models":[]})",
            "allocated more than it reserved on cuda:3"},
           {R"({"torch":[],"models":[{"bytes":1}]})", "lacks its \"name\""},
       }) {
    try {
      (void)decode_stats_answer(answer);
      ADD_FAILURE() << "taken: " << answer;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(why)) << answer;
    }
  }
}

TEST(ProtocolStats, ABadForecastIsLeftOutAndNotedNotFatal) {
  const auto answer = decode_stats_answer(
      R"({"torch":[],"models":[],"forecasts":[)"
      R"({"sequence":1,"at":1,"bytes_per_item":1,"item":5,"limit_item":4,"message":"m"},)"
      R"({"sequence":2,"at":1,"bytes_per_item":1,"item":5,"limit_item":9,"message":"m",)"
      R"("total":null,"seconds_left":null,"limit_bytes":null}]})");
  ASSERT_EQ(answer.forecasts.size(), 1u);
  EXPECT_EQ(answer.forecasts[0].sequence, 2u);
  EXPECT_FALSE(answer.forecasts[0].total);  // null: unknown, not 0
  EXPECT_THAT(answer.forecasts_note.value_or(""), HasSubstr("1 of its 2 forecasts left out"));
  EXPECT_THAT(
      decode_stats_answer(R"({"torch":[],"models":[],"forecasts":{}})").forecasts_note.value_or(""),
      HasSubstr("not a list"));
  const auto later = decode_stats_answer(
      R"({"torch":[],"models":[],"forecasts":[{"sequence":1,"at":8e9,"bytes_per_item":1,)"
      R"("item":5,"limit_item":9,"message":"m"}]})");
  EXPECT_TRUE(later.forecasts.empty());
  EXPECT_THAT(later.forecasts_note.value_or(""), HasSubstr("not a time"));
}

TEST(ProtocolStats, OnlyTheLatestForecastsAreRead) {
  StatsAnswer many;
  for (std::uint64_t i = 1; i <= kMaxForecasts + 4; ++i) many.forecasts.push_back(forecast(i));
  const auto answer = decode_stats_answer(encode_stats_answer(many));
  ASSERT_EQ(answer.forecasts.size(), kMaxForecasts);
  EXPECT_EQ(answer.forecasts.front().sequence, 5u);
  EXPECT_THAT(answer.forecasts_note.value_or(""), HasSubstr("only the latest 16"));
}

TEST(ProtocolStats, TheTorchVersionIsReadLeniently) {
  EXPECT_EQ(torch_version_of(R"({"torch_version":"2.0"})"), "2.0");
  EXPECT_FALSE(torch_version_of(R"({"torch_version":""})"));
  EXPECT_FALSE(torch_version_of(R"({"torch_version":3})"));
  EXPECT_FALSE(torch_version_of("not json"));
}

}  // namespace
}  // namespace memopt::protocol
