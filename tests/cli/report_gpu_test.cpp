// `memopt report` with MEMOPT_NVML_LIBRARY pointing at the fake libnvidia-ml.so.1
// (tests/nvml/fake_nvml.c): the `gpus` array of the JSON report, number by number, and that
// NVML trouble never costs the rest of the report or its exit status.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::cli {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// The fixture's procfs shows pids 1 (tini), 23 (python3) and 24 (nginx). Pid 4194305 is above
// the largest pid_max Linux allows, so it is never visible.
constexpr std::string_view kScenario = "v2-max-everywhere";

constexpr std::string_view kTwoDevices = R"(count 2
driver 550.54.15
device 0 16106127360 314572800 12884901888 2906652672 GPU-aaaa-0000 Tesla T4
device 1 85899345920 536870912 1073741824 84288733184 GPU-bbbb-1111 NVIDIA A100-SXM4-80GB
process 0 compute 23 1073741824
process 0 graphics 23 536870912
process 0 compute 24 na
process 1 compute 4194305 2147483648
)";

std::string fake_library(std::string_view variant) {
  return std::string(MEMOPT_FAKE_NVML_DIR) + "/" + std::string(variant) + "/libnvidia-ml.so.1";
}

class NvmlReportTest : public ::testing::Test {
 protected:
  testing::RunResult run_report(std::string_view variant, std::string_view script,
                                std::vector<std::string> extra = {"--json"}) {
    const std::string root = testing::fixture(kScenario);
    std::vector<std::string> args{"report", "--procfs", root + "/proc", "--sysfs", root + "/sys"};
    args.insert(args.end(), extra.begin(), extra.end());
    return testing::run_memopt(args, {"MEMOPT_NVML_LIBRARY=" + fake_library(variant),
                                      "FAKE_NVML_SCRIPT=" + tree_.write("script", script),
                                      "FAKE_NVML_LOG=" + tree_.path("calls.log")});
  }

  static Json parse(const testing::RunResult& result) {
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return Json::parse(result.out);
  }

  // The advice entry `id` (notes are reported as advice), or null.
  static Json advice(const Json& report, std::string_view id) {
    for (const auto& a : report.at("advice")) {
      if (a.at("id") == id) return a;
    }
    return nullptr;
  }

  [[nodiscard]] int calls(std::string_view function) const {
    std::istringstream lines(testing::slurp(tree_.path("calls.log")));
    int count = 0;
    for (std::string line; std::getline(lines, line);) count += line == function ? 1 : 0;
    return count;
  }

  testing::TempTree tree_;
};

TEST_F(NvmlReportTest, GpusEveryNumber) {
  const Json report = parse(run_report("full", kTwoDevices));
  const Json& gpus = report.at("gpus");
  ASSERT_EQ(gpus.size(), 2u) << gpus.dump(2);

  const Json& t4 = gpus[0];
  EXPECT_EQ(t4.at("index"), 0);
  EXPECT_EQ(t4.at("name"), "Tesla T4");
  EXPECT_EQ(t4.at("uuid"), "GPU-aaaa-0000");
  EXPECT_EQ(t4.at("total_bytes"), 16106127360u);
  EXPECT_EQ(t4.at("used_bytes"), 2906652672u);
  EXPECT_EQ(t4.at("free_bytes"), 12884901888u);
  EXPECT_EQ(t4.at("reserved_bytes"), 314572800u);
  // pid 23 is in both lists: one process, the larger size.
  ASSERT_EQ(t4.at("processes").size(), 2u);
  EXPECT_EQ(t4["processes"][0], (Json{{"pid", 23},
                                      {"name", "python3"},
                                      {"used_bytes", 1073741824},
                                      {"attributed_by", "pid"},
                                      {"local_pid", 23}}));
  // NVML_VALUE_NOT_AVAILABLE is null, never 16 EiB.
  EXPECT_EQ(t4["processes"][1], (Json{{"pid", 24},
                                      {"name", "nginx"},
                                      {"used_bytes", nullptr},
                                      {"attributed_by", "pid"},
                                      {"local_pid", 24}}));

  const Json& a100 = gpus[1];
  EXPECT_EQ(a100.at("index"), 1);
  EXPECT_EQ(a100.at("name"), "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(a100.at("uuid"), "GPU-bbbb-1111");
  EXPECT_EQ(a100.at("total_bytes"), 85899345920u);
  EXPECT_EQ(a100.at("used_bytes"), 84288733184u);
  EXPECT_EQ(a100.at("free_bytes"), 1073741824u);
  EXPECT_EQ(a100.at("reserved_bytes"), 536870912u);
  ASSERT_EQ(a100.at("processes").size(), 1u);
  EXPECT_EQ(a100["processes"][0], (Json{{"pid", 4194305},
                                        {"name", nullptr},
                                        {"used_bytes", 2147483648u},
                                        {"attributed_by", nullptr},
                                        {"local_pid", nullptr}}));

  const Json hidden = advice(report, "gpu_processes_not_visible");
  ASSERT_FALSE(hidden.is_null()) << report.at("advice").dump(2);
  EXPECT_THAT(hidden.at("message").get<std::string>(), HasSubstr("2147483648 bytes"));
  // The A100 is 98% used.
  EXPECT_FALSE(advice(report, "gpu_memory_high").is_null()) << report.at("advice").dump(2);
  EXPECT_EQ(calls("nvmlInit_v2"), 1);
  EXPECT_EQ(calls("nvmlShutdown"), 1);
}

TEST_F(NvmlReportTest, OldDriverWithoutV2MemoryHasNullReserved) {
  const Json report = parse(run_report("v1_only", kTwoDevices));
  const Json& gpus = report.at("gpus");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].at("used_bytes"), 2906652672u + 314572800u);
  EXPECT_EQ(gpus[0].at("reserved_bytes"), nullptr);
  EXPECT_EQ(gpus[0]["processes"][0].at("used_bytes"), 1073741824u);
  EXPECT_EQ(gpus[1].at("reserved_bytes"), nullptr);
  EXPECT_EQ(calls("nvmlInit"), 1);
  EXPECT_EQ(calls("nvmlShutdown"), 1);
}

TEST_F(NvmlReportTest, InitFailureIsAdviceAndExitZero) {
  const Json report =
      parse(run_report("full", std::string(kTwoDevices) + "fail nvmlInit_v2 -1 18\n"));
  EXPECT_EQ(report.at("gpus"), Json::array());
  const Json failed = advice(report, "nvml_init_failed");
  ASSERT_FALSE(failed.is_null()) << report.at("advice").dump(2);
  EXPECT_THAT(failed.at("message").get<std::string>(),
              HasSubstr("RM has detected an NVML/RM version mismatch. (18)"));
  // The rest of the report is there.
  EXPECT_GT(report.at("host").at("total_bytes").get<std::uint64_t>(), 0u);
  EXPECT_EQ(calls("nvmlShutdown"), 0);
}

TEST_F(NvmlReportTest, MissingLibraryIsEmptyAndExitZero) {
  const std::string root = testing::fixture(kScenario);
  const auto result = testing::run_memopt(
      {"report", "--json", "--procfs", root + "/proc", "--sysfs", root + "/sys"},
      {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
  const Json report = parse(result);
  EXPECT_EQ(report.at("gpus"), Json::array());
  EXPECT_FALSE(advice(report, "no_nvml").is_null()) << report.at("advice").dump(2);
}

TEST_F(NvmlReportTest, TextReportShowsTheGpus) {
  const auto result = run_report("full", kTwoDevices, {});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("Tesla T4"));
  EXPECT_THAT(result.out, HasSubstr("NVIDIA A100-SXM4-80GB"));
  EXPECT_THAT(result.out, HasSubstr("python3"));
}

// A container given one MIG slice: the parent's memory is refused, the slice's process list
// is not supported. Unknown stays unknown in every output, and the slice is still reported.
constexpr std::string_view kMigSliceInAContainer = R"(count 1
device 0 42949672960 0 10737418240 32212254720 GPU-mig-parent NVIDIA A100-SXM4-40GB
mig 0 1 4
migslot 0 2 6
device 6 20401094656 0 19327352832 1073741824 MIG-aaaa-0006 ignored
fail nvmlDeviceGetMemoryInfo_v2 0 4
fail nvmlDeviceGetMemoryInfo 0 4
fail nvmlDeviceGetComputeRunningProcesses_v3 6 3
fail nvmlDeviceGetComputeRunningProcesses_v2 6 3
fail nvmlDeviceGetComputeRunningProcesses 6 3
)";

TEST_F(NvmlReportTest, MigSliceInAContainerIsReportedWithUnknownsAsNull) {
  const Json report = parse(run_report("full", kMigSliceInAContainer));
  const Json& gpus = report.at("gpus");
  ASSERT_EQ(gpus.size(), 2u) << gpus.dump(2);
  EXPECT_TRUE(gpus[0].at("total_bytes").is_null());
  EXPECT_TRUE(gpus[0].at("used_bytes").is_null());
  EXPECT_TRUE(gpus[0].at("free_bytes").is_null());
  EXPECT_EQ(gpus[0].at("processes_known"), true);  // its processes are under the slice
  EXPECT_EQ(gpus[1].at("total_bytes"), 20401094656u);
  EXPECT_EQ(gpus[1].at("processes_known"), false);
  EXPECT_FALSE(advice(report, "gpu_memory_not_visible").is_null()) << report.at("advice").dump(2);
  EXPECT_FALSE(advice(report, "gpu_processes_unknown").is_null()) << report.at("advice").dump(2);

  const auto text = run_report("full", kMigSliceInAContainer, {});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_THAT(text.out, HasSubstr("memory unknown"));
  EXPECT_THAT(text.out, HasSubstr("MIG 2"));
  EXPECT_THAT(text.out, HasSubstr("processes unknown"));

  const auto metrics = run_report("full", kMigSliceInAContainer, {"--format", "prometheus"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  // No series for the parent rather than zeros; the slice has its own.
  EXPECT_THAT(metrics.out, ::testing::Not(HasSubstr(R"(uuid="GPU-mig-parent")")));
  EXPECT_THAT(metrics.out, HasSubstr(R"(uuid="MIG-aaaa-0006")"));
}

}  // namespace
}  // namespace memopt::cli
