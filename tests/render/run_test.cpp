// `memopt run`'s output: the command's GPU peak on each device, beside the RAM peak.
#include "memopt/render/run.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "memopt/units.hpp"

namespace memopt::render {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

analysis::RunReport report_with_gpus(std::vector<analysis::DeviceGpuBytes> devices) {
  analysis::RunReport r;
  r.command = {"python3", "serve.py"};
  r.level_limit_bytes = 8 * kGiB;
  r.peak.working_set_bytes = 600 * kMiB;
  r.summary.peak_working_set_bytes = 600 * kMiB;
  std::uint64_t total = 0;
  for (const auto& d : devices) total += d.used_bytes;
  if (!devices.empty()) r.summary.peak_gpu_bytes = total;
  r.summary.peak_gpu_devices = std::move(devices);
  return r;
}

TEST(RenderRun, GpuPeakPerDeviceNextToRam) {
  const auto r = report_with_gpus({{0, "NVIDIA H200", 143771 * kMiB, 4 * kGiB},
                                   {1, "NVIDIA H200", 143771 * kMiB, 5 * kGiB}});
  const auto text = render_run_text(r);
  EXPECT_THAT(text, HasSubstr("working set 600 MiB"));
  EXPECT_THAT(text, HasSubstr("GPU 9.00 GiB\n"));
  EXPECT_THAT(text, HasSubstr("GPU 0 (NVIDIA H200, 140 GiB): peak 4.00 GiB\n"));
  EXPECT_THAT(text, HasSubstr("GPU 1 (NVIDIA H200, 140 GiB): peak 5.00 GiB\n"));
  const auto doc = nlohmann::json::parse(render_run_json(r));
  ASSERT_EQ(doc["peak_gpu_devices"].size(), 2u);
  EXPECT_EQ(doc["peak_gpu_devices"][1]["index"], 1);
  EXPECT_EQ(doc["peak_gpu_devices"][1]["peak_bytes"], 5 * kGiB);
  EXPECT_EQ(doc["peak_gpu_devices"][1]["total_bytes"], 143771 * kMiB);

  const auto none = report_with_gpus({});
  EXPECT_THAT(render_run_text(none), Not(HasSubstr("GPU 0")));
  EXPECT_TRUE(nlohmann::json::parse(render_run_json(none))["peak_gpu_devices"].empty());
}

}  // namespace
}  // namespace memopt::render
