// The cleanup socket's requests and the reading every answer starts with.
#include "memopt/protocol/wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "memopt/error.hpp"

namespace memopt::protocol {
namespace {

using ::testing::HasSubstr;

TEST(ProtocolRequests, EachRequestRoundTripsThroughItsName) {
  for (const auto request :
       {Request::kCleanup, Request::kShed, Request::kPing, Request::kLeaks, Request::kStats}) {
    EXPECT_EQ(parse_request(request_name(request)), request);
  }
  // The names are the wire: older clients send exactly these.
  EXPECT_EQ(request_name(Request::kCleanup), "cleanup");
  EXPECT_EQ(request_name(Request::kStats), "stats");
  EXPECT_FALSE(parse_request("Stats"));
  EXPECT_FALSE(parse_request("stats "));
  EXPECT_FALSE(parse_request(""));
}

TEST(ProtocolAnswers, AnythingButOneJsonObjectIsNoAnswer) {
  EXPECT_EQ(parse_answer("not json").error, "the answer is not JSON");
  EXPECT_EQ(parse_answer("[1]").error, "the answer is not JSON");
  EXPECT_EQ(parse_answer(R"({"pid":1)").error, "the answer is not JSON");  // truncated
  EXPECT_THAT(parse_answer(std::string(100, '[')).error, HasSubstr("nests deeper than 64"));
  EXPECT_TRUE(parse_answer(R"({"pid":1})").error.empty());
}

TEST(ProtocolAnswers, EveryStringIsMadePrintableKeysToo) {
  const auto parsed = parse_answer("{\"na\\u001bme\":\"a\\u001b[31mb\"}");
  ASSERT_TRUE(parsed.error.empty());
  ASSERT_EQ(parsed.json.size(), 1u);
  const auto entry = parsed.json.begin();
  EXPECT_EQ(entry.key(), "na\\x1bme");
  EXPECT_EQ(entry.value(), "a\\x1b[31mb");
}

TEST(ProtocolAnswers, AnErrorAnswerRoundTripsWithItsPid) {
  const auto answer = parse_answer(encode_error_answer("busy: too many clients at once", 7));
  EXPECT_EQ(error_of(answer.json), "busy: too many clients at once");
  EXPECT_EQ(answer.json.at(key::kPid), 7);
  // Byte for byte what servers have always sent.
  EXPECT_EQ(encode_error_answer("busy: too many clients at once"),
            R"({"error":"busy: too many clients at once"})");
  EXPECT_EQ(error_of(parse_answer(R"({"error":3})").json), "error");
  EXPECT_FALSE(error_of(parse_answer(R"({"pid":3})").json));
}

TEST(ProtocolPing, RoundTrips) {
  const PingAnswer ping{4242, 123456789, std::nullopt};
  EXPECT_EQ(decode_ping_answer(encode_ping_answer(ping)), ping);
  EXPECT_EQ(encode_ping_answer(ping), R"({"pid":4242,"rss_bytes":123456789})");
}

TEST(ProtocolPing, HostileFiguresAreAbsentNotMadeUp) {
  const auto odd = decode_ping_answer(R"({"pid":"x","rss_bytes":18446744073709551615})");
  EXPECT_FALSE(odd.pid);
  EXPECT_FALSE(odd.rss_bytes);  // above 2^63: not a figure
  EXPECT_FALSE(decode_ping_answer(R"({"rss_bytes":-1})").rss_bytes);
  EXPECT_FALSE(decode_ping_answer(R"({"rss_bytes":1.5})").rss_bytes);
  EXPECT_THROW((void)decode_ping_answer(R"({"pid":)"), Error);
}

}  // namespace
}  // namespace memopt::protocol
