// The answer to `leaks`: a leak check's report with the server's pid, or why there is none.
#include "memopt/protocol/leaks.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "memopt/error.hpp"

namespace memopt::protocol {
namespace {

using ::testing::HasSubstr;

LeaksAnswer full_answer() {
  LeaksAnswer answer;
  answer.pid = 42;
  answer.checkpoints = 8;
  answer.duration_s = 70.5;
  answer.rss_growth_bytes = 31457280;
  answer.python_growth_bytes = 1048576;
  answer.torch_cpu_growth_bytes = 29360128;
  answer.unexplained_native_growth_bytes = -1048576;
  answer.sites = {{"app.py", 17, "native", 29360128, 400, 1509949440.0, 0.99},
                  {"lib.py", 3, "python", 1024, 2, 12.5, std::nullopt}};
  return answer;
}

TEST(ProtocolLeaks, AnAnswerRoundTrips) {
  const auto answer = full_answer();
  EXPECT_EQ(decode_leaks_answer(encode_leaks_answer(answer)), answer);
  LeaksAnswer none;
  none.pid = 9;
  none.error = "no leak check is running in pid 9";
  EXPECT_EQ(decode_leaks_answer(encode_leaks_answer(none)), none);
}

TEST(ProtocolLeaks, TheServerKeepsEveryKeyOfTheReportAndAddsItsPid) {
  const auto sent = encode_leak_report(R"({"frames":1,"suspected":true,"checkpoints":3})", 5);
  const auto json = nlohmann::json::parse(sent);
  EXPECT_EQ(json.at("pid"), 5);
  EXPECT_EQ(json.at("frames"), 1);
  EXPECT_EQ(json.at("suspected"), true);
  EXPECT_EQ(decode_leaks_answer(sent).checkpoints, 3);
  EXPECT_THROW((void)encode_leak_report("[1]", 5), Error);
  EXPECT_THROW((void)encode_leak_report("Traceback", 5), Error);
}

TEST(ProtocolLeaks, FiguresOfTheWrongTypeOrTooLargeAreAbsent) {
  const auto answer = decode_leaks_answer(
      R"({"checkpoints":"8","duration_s":"x","rss_growth_bytes":1e300,"sites":[)"
      R"({"file":3,"line":"x","size_bytes":-1,"count":2.5,"r2":"high"},)"
      R"({"file":"a.py","line":1e6,"count":40.0}]})");
  EXPECT_FALSE(answer.checkpoints);
  EXPECT_FALSE(answer.duration_s);
  EXPECT_FALSE(answer.rss_growth_bytes);
  ASSERT_EQ(answer.sites.size(), 2u);
  EXPECT_EQ(answer.sites[0], LeakSiteAnswer{});  // nothing made up
  EXPECT_EQ(answer.sites[1].line, 1000000);      // a whole float is a count
  EXPECT_EQ(answer.sites[1].count, 40u);
  EXPECT_FALSE(decode_leaks_answer(R"({"sites":[{"line":1e300}]})").sites[0].line);
}

TEST(ProtocolLeaks, MalformedAnswersAreErrors) {
  for (const char* answer : {"", "Traceback (most recent", R"({"sites":[)", R"({"sites":{}})",
                             R"({"sites":[7]})", "[]"}) {
    EXPECT_THROW((void)decode_leaks_answer(answer), Error) << answer;
  }
}

}  // namespace
}  // namespace memopt::protocol
