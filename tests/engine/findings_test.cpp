// Events from a full sample's findings: each GPU verdict raised once while it holds.
#include "engine/findings.hpp"

#include <gtest/gtest.h>

namespace memopt::engine {
namespace {

analysis::Report with_gpu(std::vector<analysis::GpuVerdict> verdicts) {
  analysis::Report r;
  r.sample.gpus.resize(1);
  r.gpu_verdicts = std::move(verdicts);
  return r;
}

analysis::GpuVerdict orphan(std::uint32_t pid) {
  analysis::GpuVerdict v;
  v.kind = analysis::GpuVerdictKind::kOrphan;
  v.pid = pid;
  v.message = "pid " + std::to_string(pid) + " holds GPU memory";
  v.fix = "end it";
  return v;
}

TEST(GpuVerdictEvents, EachVerdictIsRaisedOnceWhileItHolds) {
  GpuVerdictEvents verdicts;
  auto first = verdicts.observe(with_gpu({orphan(7)}), analysis::Level::kWarning);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].kind(), analysis::EventKind::kGpuOrphan);
  EXPECT_EQ(first[0].level, analysis::Level::kWarning);
  EXPECT_EQ(first[0].process()->pid, 7);
  EXPECT_EQ(first[0].message, "pid 7 holds GPU memory; fix: end it");
  EXPECT_TRUE(verdicts.observe(with_gpu({orphan(7)}), analysis::Level::kWarning).empty());
  EXPECT_EQ(verdicts.observe(with_gpu({orphan(7), orphan(8)}), analysis::Level::kWarning).size(),
            1u);
}

TEST(GpuVerdictEvents, ASampleWithoutGpusForgetsNoneAndAVerdictThatEndedIsRaisedAgain) {
  GpuVerdictEvents verdicts;
  ASSERT_EQ(verdicts.observe(with_gpu({orphan(7)}), analysis::Level::kNormal).size(), 1u);
  EXPECT_TRUE(verdicts.observe(analysis::Report{}, analysis::Level::kNormal).empty());
  EXPECT_TRUE(verdicts.observe(with_gpu({orphan(7)}), analysis::Level::kNormal).empty())
      << "NVML failing for a sample is not the verdict ending";
  EXPECT_TRUE(verdicts.observe(with_gpu({}), analysis::Level::kNormal).empty());
  EXPECT_EQ(verdicts.observe(with_gpu({orphan(7)}), analysis::Level::kNormal).size(), 1u);
}

}  // namespace
}  // namespace memopt::engine
