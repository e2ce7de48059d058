#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/run.hpp"
#include "support/tree.hpp"

namespace memopt::testing {
namespace {

using ::testing::HasSubstr;

TEST(Recommend, EveryRowOfTheSeedTable) {
  struct Row {
    const char* model;
    const char* minimum;
    const char* recommended;
    const char* best;
  };
  const Row rows[] = {{"maptr", "--memory=1g --memory-swap=2g", "--memory=2g --memory-swap=4g",
                       "--memory=4g --memory-swap=8g"},
                      {"petr", "--memory=1g --memory-swap=2g", "--memory=2g --memory-swap=4g",
                       "--memory=4g --memory-swap=8g"},
                      {"streampetr", "--memory=1536m --memory-swap=3g",
                       "--memory=3g --memory-swap=6g", "--memory=6g --memory-swap=12g"},
                      {"topomlp", "--memory=1g --memory-swap=2g", "--memory=2g --memory-swap=4g",
                       "--memory=4g --memory-swap=8g"},
                      {"vad", "--memory=1536m --memory-swap=3g", "--memory=3g --memory-swap=6g",
                       "--memory=6g --memory-swap=12g"}};
  for (const auto& row : rows) {
    SCOPED_TRACE(row.model);
    const auto result = run_memopt({"recommend", "--model", row.model});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_THAT(result.out, HasSubstr(std::string("minimum (")));
    EXPECT_THAT(result.out, HasSubstr(row.minimum));
    EXPECT_THAT(result.out, HasSubstr(row.recommended));
    EXPECT_THAT(result.out, HasSubstr(row.best));
    EXPECT_THAT(result.out, HasSubstr("limits:\n        memory: "));
  }
  // Without --model: the whole table.
  const auto all = run_memopt({"recommend"});
  ASSERT_EQ(all.exit_code, 0);
  for (const auto& row : rows)
    EXPECT_THAT(all.out, HasSubstr(std::string(row.model) + ": minimum"));
}

TEST(Recommend, UnknownModelListsTheKnownOnes) {
  const auto result = run_memopt({"recommend", "--model", "yolo"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("known: maptr, petr, streampetr, topomlp, vad"));
}

TEST(Recommend, FromARunResult) {
  TempTree tmp;
  const auto ok = tmp.write(
      "run.json", R"({"schema": "memopt.run/1", "oom_killed": false, "peak_bytes": 314572800})");
  const auto result = run_memopt({"recommend", "--from-run", ok});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // A result without peak_source (older memopt) is a sampled peak, and says so.
  EXPECT_THAT(result.out,
              HasSubstr("measured peak 300 MiB (sampled: a spike between samples may be "
                        "missing) -> 512 MiB"));
  EXPECT_THAT(result.out, HasSubstr("one run: low confidence"));
  EXPECT_THAT(result.out, HasSubstr("--memory=512m --memory-swap=1g"));
  EXPECT_THAT(result.out, HasSubstr("docker update --memory=512m --memory-swap=1g CONTAINER"));
  EXPECT_THAT(result.out, HasSubstr("memory: 512Mi"));
  const auto kernel = tmp.write("kernel.json", R"({"schema": "memopt.run/1", "oom_killed": false,
      "peak_bytes": 294649856, "peak_source": "kernel"})");
  EXPECT_THAT(run_memopt({"recommend", "--from-run", kernel}).out,
              HasSubstr("measured peak 281 MiB (the kernel's, spikes included) -> 512 MiB"));

  const auto oom = tmp.write(
      "oom.json", R"({"schema": "memopt.run/1", "oom_killed": true, "peak_bytes": 268435456})");
  const auto killed = run_memopt({"recommend", "--from-run", oom});
  EXPECT_EQ(killed.exit_code, 0);
  EXPECT_THAT(killed.out, HasSubstr("true peak is unknown"));

  const auto bad = tmp.write("bad.json", "{not json");
  const auto broken = run_memopt({"recommend", "--from-run", bad});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.err, HasSubstr(bad));
  const auto other = tmp.write("other.json", R"({"schema": "memopt.report/1"})");
  EXPECT_EQ(run_memopt({"recommend", "--from-run", other}).exit_code, 1);
  EXPECT_EQ(run_memopt({"recommend", "--from-run", tmp.path("missing.json")}).exit_code, 1);
}

}  // namespace
}  // namespace memopt::testing
