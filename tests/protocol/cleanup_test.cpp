// The answer to `cleanup` and `shed`: encoded by the server, decoded by the clients.
#include "memopt/protocol/cleanup.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "memopt/error.hpp"

namespace memopt::protocol {
namespace {

using ::testing::HasSubstr;

CleanupAnswer full_answer() {
  CleanupAnswer answer;
  answer.pid = 31;
  answer.rss_before_bytes = 3u << 30;
  answer.rss_after_bytes = 1u << 30;
  answer.heap_free_resident_before_bytes = 5 << 20;
  answer.heap_free_resident_after_bytes = 0;
  answer.released_bytes = std::int64_t{2} << 30;
  answer.steps = {{"hook:cache", "done", "", -4096, std::nullopt},
                  {"cuda_mem_pools", "failed", "1 of 2 devices could not be trimmed", 0, 1 << 20},
                  {"malloc_trim", "done", "", 1 << 20, std::nullopt}};
  return answer;
}

TEST(ProtocolCleanup, AnAnswerRoundTrips) {
  const auto answer = full_answer();
  EXPECT_EQ(decode_cleanup_answer(encode_cleanup_answer(answer)), answer);
  CleanupAnswer refused;
  refused.error = "refused: peer uid 5 is neither 6 nor root";
  EXPECT_EQ(decode_cleanup_answer(encode_cleanup_answer(refused)), refused);
}

TEST(ProtocolCleanup, TheWireIsWhatOlderClientsRead) {
  CleanupAnswer answer;
  answer.pid = 1;
  answer.rss_before_bytes = 10;
  answer.rss_after_bytes = 4;
  answer.heap_free_resident_before_bytes = 2;
  answer.heap_free_resident_after_bytes = 1;
  answer.released_bytes = 6;
  answer.steps = {{"malloc_trim", "done", "", 6, std::nullopt}};
  EXPECT_EQ(encode_cleanup_answer(answer),
            R"({"heap_free_resident_after_bytes":1,"heap_free_resident_before_bytes":2,)"
            R"("pid":1,"released_bytes":6,"rss_after_bytes":4,"rss_before_bytes":10,)"
            R"("steps":[{"name":"malloc_trim","rss_released_bytes":6,"status":"done"}]})");
}

TEST(ProtocolCleanup, FiguresOfTheWrongTypeOrTooLargeAreAbsent) {
  const auto answer = decode_cleanup_answer(
      R"({"released_bytes":"lots","rss_before_bytes":1e30,"rss_after_bytes":-5,)"
      R"("steps":[7,{"name":3,"gpu_released_bytes":9223372036854775808}]})");
  EXPECT_FALSE(answer.released_bytes);
  EXPECT_FALSE(answer.rss_before_bytes);
  EXPECT_FALSE(answer.rss_after_bytes);
  ASSERT_EQ(answer.steps.size(), 1u);  // 7 is no step
  EXPECT_EQ(answer.steps[0].name, "");
  EXPECT_FALSE(answer.steps[0].gpu_released_bytes);  // 2^63 does not fit
  EXPECT_FALSE(answer.steps[0].rss_released_bytes);  // missing: not 0
}

TEST(ProtocolCleanup, MalformedAnswersAreErrors) {
  EXPECT_THROW((void)decode_cleanup_answer(""), Error);
  EXPECT_THROW((void)decode_cleanup_answer(R"({"released_bytes":5,"steps":[)"), Error);
  EXPECT_THROW((void)decode_cleanup_answer(R"(["released_bytes"])"), Error);
}

TEST(ProtocolCleanup, GpuReleasesPast2To63AreNotTrue) {
  EXPECT_FALSE(gpu_released_total(CleanupAnswer{}));  // no step says: unknown, not 0
  EXPECT_EQ(gpu_released_total(full_answer()), 1 << 20);
  const auto huge = decode_cleanup_answer(
      R"({"steps":[{"gpu_released_bytes":9223372036854775807},{"gpu_released_bytes":1}]})");
  try {
    (void)gpu_released_total(huge);
    FAIL() << "a sum past 2^63 was taken";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("past 2^63"));
  }
}

}  // namespace
}  // namespace memopt::protocol
