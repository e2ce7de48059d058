// read_gpus against the fake libnvidia-ml.so.1 (tests/nvml/fake_nvml.c), scripted per test.
#include "memopt/readers/nvml.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memopt/readers/nvml_session.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::readers {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Two GPUs; memory in v2 terms (v1 reports used + reserved).
constexpr std::string_view kTwoDevices = R"(# two GPUs, three processes
count 2
driver 550.54.15
device 0 16106127360 314572800 12884901888 2906652672 GPU-aaaa-0000 Tesla T4
device 1 85899345920 536870912 80530636800 4831838208 GPU-bbbb-1111 NVIDIA A100-SXM4-80GB
process 0 compute 100 1073741824
process 0 graphics 200 536870912
process 1 compute 300 2147483648
)";

std::string fake_library(std::string_view variant) {
  return std::string(MEMOPT_FAKE_NVML_DIR) + "/" + std::string(variant) + "/libnvidia-ml.so.1";
}

class NvmlReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("FAKE_NVML_LOG", tree_.path("calls.log").c_str(), 1);
    tree_.mkdir("proc");
  }

  void TearDown() override {
    ::unsetenv("FAKE_NVML_LOG");
    ::unsetenv("FAKE_NVML_SCRIPT");
    ::unsetenv("MEMOPT_NVML_LIBRARY");
  }

  // Runs read_gpus with the fake `variant` answering from `script`.
  std::vector<model::GpuDevice> read(std::string_view variant, std::string_view script) {
    ::setenv("FAKE_NVML_SCRIPT", tree_.write("script", script).c_str(), 1);
    ::setenv("MEMOPT_NVML_LIBRARY", fake_library(variant).c_str(), 1);
    return read_gpus(roots(), notes_);
  }

  [[nodiscard]] Roots roots() const { return {tree_.path("proc"), tree_.path("sys")}; }

  // Makes `pid` visible in the test's procfs.
  void visible(int pid, std::string_view comm) const {
    tree_.write("proc/" + std::to_string(pid) + "/comm", std::string(comm) + "\n");
  }

  // How often the fake saw `function` (on record `record`, or any when negative).
  [[nodiscard]] int calls(std::string_view function, int record = -1) const {
    std::istringstream lines(read_log());
    int count = 0;
    for (std::string line; std::getline(lines, line);) {
      std::istringstream words(line);
      std::string name;
      int seen = -1;
      words >> name;
      if (!(words >> seen)) seen = -1;
      if (name == function && (record < 0 || seen == record)) ++count;
    }
    return count;
  }

  [[nodiscard]] std::string read_log() const {
    try {
      return testing::slurp(tree_.path("calls.log"));
    } catch (const std::runtime_error&) {
      return {};  // the library was never loaded, so nothing was called
    }
  }

  [[nodiscard]] const model::Note* note(std::string_view id) const {
    for (const auto& n : notes_) {
      if (n.id == id) return &n;
    }
    return nullptr;
  }

  [[nodiscard]] std::string all_notes() const {
    std::string text;
    for (const auto& n : notes_) text += n.id + ": " + n.message + "\n";
    return text;
  }

  void expect_balanced_init(int inits = 1) const {
    EXPECT_EQ(calls("nvmlInit_v2") + calls("nvmlInit"), inits) << read_log();
    EXPECT_EQ(calls("nvmlShutdown"), inits) << read_log();
  }

  testing::TempTree tree_;
  std::vector<model::Note> notes_;
};

TEST_F(NvmlReaderTest, TwoDevicesEveryNumber) {
  visible(100, "python3");
  visible(200, "Xorg");
  visible(300, "torchrun");
  const auto gpus = read("full", kTwoDevices);

  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_THAT(notes_, IsEmpty()) << all_notes();

  EXPECT_EQ(gpus[0].index, 0u);
  EXPECT_EQ(gpus[0].name, "Tesla T4");
  EXPECT_EQ(gpus[0].uuid, "GPU-aaaa-0000");
  EXPECT_EQ(gpus[0].total_bytes, 16106127360u);
  EXPECT_EQ(gpus[0].reserved_bytes, std::optional<std::uint64_t>(314572800));
  EXPECT_EQ(gpus[0].free_bytes, 12884901888u);
  EXPECT_EQ(gpus[0].used_bytes, 2906652672u);
  ASSERT_EQ(gpus[0].processes.size(), 2u);
  EXPECT_EQ(gpus[0].processes[0].pid, 100u);
  EXPECT_EQ(gpus[0].processes[0].name, std::optional<std::string>("python3"));
  EXPECT_EQ(gpus[0].processes[0].used_bytes, std::optional<std::uint64_t>(kGiB));
  EXPECT_EQ(gpus[0].processes[1].pid, 200u);
  EXPECT_EQ(gpus[0].processes[1].name, std::optional<std::string>("Xorg"));
  EXPECT_EQ(gpus[0].processes[1].used_bytes, std::optional<std::uint64_t>(512 * kMiB));

  EXPECT_EQ(gpus[1].index, 1u);
  EXPECT_EQ(gpus[1].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(gpus[1].uuid, "GPU-bbbb-1111");
  EXPECT_EQ(gpus[1].total_bytes, 85899345920u);
  EXPECT_EQ(gpus[1].reserved_bytes, std::optional<std::uint64_t>(536870912));
  EXPECT_EQ(gpus[1].free_bytes, 80530636800u);
  EXPECT_EQ(gpus[1].used_bytes, 4831838208u);
  ASSERT_EQ(gpus[1].processes.size(), 1u);
  EXPECT_EQ(gpus[1].processes[0].pid, 300u);
  EXPECT_EQ(gpus[1].processes[0].name, std::optional<std::string>("torchrun"));
  EXPECT_EQ(gpus[1].processes[0].used_bytes, std::optional<std::uint64_t>(2 * kGiB));

  // The newest symbols are the ones used.
  EXPECT_EQ(calls("nvmlInit_v2"), 1);
  EXPECT_EQ(calls("nvmlDeviceGetCount_v2"), 1);
  EXPECT_EQ(calls("nvmlDeviceGetHandleByIndex_v2"), 2);
  EXPECT_EQ(calls("nvmlDeviceGetMemoryInfo_v2"), 2);
  EXPECT_EQ(calls("nvmlDeviceGetMemoryInfo"), 0);
  EXPECT_GT(calls("nvmlDeviceGetComputeRunningProcesses_v3"), 0);
  EXPECT_GT(calls("nvmlDeviceGetGraphicsRunningProcesses_v3"), 0);
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses_v2"), 0);
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses"), 0);
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, ShutdownOncePerRead) {
  (void)read("full", kTwoDevices);
  (void)read_gpus(roots(), notes_);
  expect_balanced_init(2);
}

TEST_F(NvmlReaderTest, MemoryV2AbsentFallsBackToV1) {
  const auto gpus = read("no_memory_v2", kTwoDevices);
  ASSERT_EQ(gpus.size(), 2u);
  // v1 `used` includes the reserved memory, and reserved itself is unknown.
  EXPECT_EQ(gpus[0].total_bytes, 16106127360u);
  EXPECT_EQ(gpus[0].used_bytes, 2906652672u + 314572800u);
  EXPECT_EQ(gpus[0].free_bytes, 12884901888u);
  EXPECT_EQ(gpus[0].reserved_bytes, std::nullopt);
  EXPECT_EQ(gpus[1].used_bytes, 4831838208u + 536870912u);
  EXPECT_EQ(gpus[1].reserved_bytes, std::nullopt);
  EXPECT_EQ(calls("nvmlDeviceGetMemoryInfo"), 2);
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, MemoryV2RefusedFallsBackToV1) {
  // A driver older than the v2 struct answers ARGUMENT_VERSION_MISMATCH (25).
  const auto gpus =
      read("full", std::string(kTwoDevices) + "fail nvmlDeviceGetMemoryInfo_v2 -1 25\n");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].used_bytes, 2906652672u + 314572800u);
  EXPECT_EQ(gpus[0].reserved_bytes, std::nullopt);
  // A refusal that v1 covers is no news to the user.
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
}

TEST_F(NvmlReaderTest, V3AbsentUsesV2Layout) {
  visible(100, "python3");
  const auto gpus = read("no_v3", kTwoDevices);
  ASSERT_EQ(gpus.size(), 2u);
  ASSERT_EQ(gpus[0].processes.size(), 2u);
  EXPECT_EQ(gpus[0].processes[0].pid, 100u);
  EXPECT_EQ(gpus[0].processes[0].used_bytes, std::optional<std::uint64_t>(kGiB));
  EXPECT_EQ(gpus[0].processes[1].pid, 200u);
  EXPECT_EQ(gpus[0].processes[1].used_bytes, std::optional<std::uint64_t>(512 * kMiB));
  ASSERT_EQ(gpus[1].processes.size(), 1u);
  EXPECT_EQ(gpus[1].processes[0].used_bytes, std::optional<std::uint64_t>(2 * kGiB));
  EXPECT_GT(calls("nvmlDeviceGetComputeRunningProcesses_v2"), 0);
  EXPECT_GT(calls("nvmlDeviceGetGraphicsRunningProcesses_v2"), 0);
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses"), 0);
  // Memory v2 is still there in this variant.
  EXPECT_EQ(gpus[0].reserved_bytes, std::optional<std::uint64_t>(314572800));
}

TEST_F(NvmlReaderTest, OnlyV1SymbolsUses16ByteLayout) {
  const auto gpus = read("v1_only", kTwoDevices);
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].used_bytes, 2906652672u + 314572800u);
  EXPECT_EQ(gpus[0].reserved_bytes, std::nullopt);
  ASSERT_EQ(gpus[0].processes.size(), 2u);
  EXPECT_EQ(gpus[0].processes[0].pid, 100u);
  EXPECT_EQ(gpus[0].processes[0].used_bytes, std::optional<std::uint64_t>(kGiB));
  EXPECT_EQ(gpus[0].processes[1].pid, 200u);
  EXPECT_EQ(gpus[0].processes[1].used_bytes, std::optional<std::uint64_t>(512 * kMiB));
  ASSERT_EQ(gpus[1].processes.size(), 1u);
  EXPECT_EQ(gpus[1].processes[0].pid, 300u);
  EXPECT_EQ(gpus[1].processes[0].used_bytes, std::optional<std::uint64_t>(2 * kGiB));
  EXPECT_EQ(calls("nvmlInit"), 1);
  EXPECT_EQ(calls("nvmlDeviceGetCount"), 1);
  EXPECT_EQ(calls("nvmlDeviceGetHandleByIndex"), 2);
  EXPECT_GT(calls("nvmlDeviceGetComputeRunningProcesses"), 0);
  EXPECT_GT(calls("nvmlDeviceGetGraphicsRunningProcesses"), 0);
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, ListGrowingBetweenCallsIsRetried) {
  visible(100, "python3");
  visible(101, "python3");
  // The count-0 call sees 2 processes; each INSUFFICIENT_SIZE answer then adds 5 more, twice.
  const auto gpus = read("full", R"(count 1
device 0 1000 0 600 400 GPU-x T4
process 0 compute 100 2147483648
process 0 compute 101 1073741824
grow 0 compute 5 2
)");
  ASSERT_EQ(gpus.size(), 1u);
  const auto& processes = gpus[0].processes;
  ASSERT_EQ(processes.size(), 12u);
  EXPECT_EQ(processes[0].pid, 100u);
  EXPECT_EQ(processes[0].used_bytes, std::optional<std::uint64_t>(2 * kGiB));
  EXPECT_EQ(processes[1].pid, 101u);
  for (std::size_t i = 2; i < processes.size(); ++i) {
    EXPECT_EQ(processes[i].pid, 70000u + (i - 2));
    EXPECT_EQ(processes[i].used_bytes, std::optional<std::uint64_t>(kMiB));
    EXPECT_EQ(processes[i].name, std::nullopt);
  }
  // count-0 call, two answers of INSUFFICIENT_SIZE, then the fetch that fits.
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses_v3", 0), 4);
  const auto* hidden = note("gpu_processes_not_visible");
  ASSERT_NE(hidden, nullptr) << all_notes();
  EXPECT_THAT(hidden->message, HasSubstr("10 GPU processes"));
  EXPECT_THAT(hidden->message, HasSubstr("10485760 bytes"));
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, ListThatNeverSettlesIsBounded) {
  const auto gpus = read("full", R"(count 1
device 0 1000 0 600 400 GPU-x T4
process 0 compute 100 5
process 0 graphics 200 7
grow 0 compute 50 1000
)");
  ASSERT_EQ(gpus.size(), 1u);
  // The compute list is given up with a note; the graphics list still counts.
  ASSERT_EQ(gpus[0].processes.size(), 1u);
  EXPECT_EQ(gpus[0].processes[0].pid, 200u);
  const auto* error = note("nvml_error");
  ASSERT_NE(error, nullptr) << all_notes();
  EXPECT_THAT(error->message, HasSubstr("nvmlDeviceGetComputeRunningProcesses_v3 on GPU 0"));
  EXPECT_THAT(error->message, HasSubstr("Insufficient Size (7)"));
  EXPECT_LE(calls("nvmlDeviceGetComputeRunningProcesses_v3"), 6);
  // A list still changing is not retried in an older version: it would not settle either.
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses_v2"), 0);
  EXPECT_FALSE(gpus[0].processes_known);
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, NotAvailableSentinelIsUnknown) {
  visible(100, "python3");
  visible(101, "python3");
  const auto gpus = read("full", R"(count 1
device 0 1000 0 600 400 GPU-x T4
process 0 compute 100 na
process 0 compute 101 4096
)");
  ASSERT_EQ(gpus.size(), 1u);
  ASSERT_EQ(gpus[0].processes.size(), 2u);
  // Known sizes first, the unknown one last; never 16 EiB.
  EXPECT_EQ(gpus[0].processes[0].pid, 101u);
  EXPECT_EQ(gpus[0].processes[0].used_bytes, std::optional<std::uint64_t>(4096));
  EXPECT_EQ(gpus[0].processes[1].pid, 100u);
  EXPECT_EQ(gpus[0].processes[1].used_bytes, std::nullopt);
  EXPECT_THAT(notes_, IsEmpty()) << all_notes();
}

TEST_F(NvmlReaderTest, PidNotInProcfsKeepsBytesAndIsNoted) {
  visible(100, "python3");
  const auto gpus = read("full", R"(count 1
device 0 1000 0 600 400 GPU-x T4
process 0 compute 100 1024
process 0 compute 500 1073741824
process 0 compute 501 na
process 0 graphics 502 2048
)");
  ASSERT_EQ(gpus.size(), 1u);
  const auto& processes = gpus[0].processes;
  ASSERT_EQ(processes.size(), 4u);
  EXPECT_EQ(processes[0].pid, 500u);
  EXPECT_EQ(processes[0].name, std::nullopt);
  EXPECT_EQ(processes[0].used_bytes, std::optional<std::uint64_t>(kGiB));
  EXPECT_EQ(processes[1].pid, 502u);
  EXPECT_EQ(processes[1].name, std::nullopt);
  EXPECT_EQ(processes[2].pid, 100u);
  EXPECT_EQ(processes[2].name, std::optional<std::string>("python3"));
  EXPECT_EQ(processes[3].pid, 501u);
  EXPECT_EQ(processes[3].name, std::nullopt);
  EXPECT_EQ(processes[3].used_bytes, std::nullopt);
  const auto* hidden = note("gpu_processes_not_visible");
  ASSERT_NE(hidden, nullptr) << all_notes();
  EXPECT_THAT(hidden->message, HasSubstr("3 GPU processes"));
  EXPECT_THAT(hidden->message, HasSubstr(std::to_string(kGiB + 2048) + " bytes"));
  EXPECT_THAT(hidden->message, HasSubstr(tree_.path("proc")));
  EXPECT_EQ(notes_.size(), 1u) << all_notes();
}

TEST_F(NvmlReaderTest, ComputeAndGraphicsDuplicateIsOneProcess) {
  visible(100, "python3");
  visible(101, "python3");
  const auto gpus = read("full", R"(count 1
device 0 1000 0 600 400 GPU-x T4
process 0 compute 100 1073741824
process 0 graphics 100 268435456
process 0 compute 101 na
process 0 graphics 101 67108864
)");
  ASSERT_EQ(gpus.size(), 1u);
  const auto& processes = gpus[0].processes;
  ASSERT_EQ(processes.size(), 2u);
  EXPECT_EQ(processes[0].pid, 100u);
  EXPECT_EQ(processes[0].used_bytes, std::optional<std::uint64_t>(kGiB));
  EXPECT_EQ(processes[1].pid, 101u);
  EXPECT_EQ(processes[1].used_bytes, std::optional<std::uint64_t>(64 * kMiB));
}

struct InitFailure {
  int code;
  const char* text;
};

class NvmlInitFailureTest : public NvmlReaderTest,
                            public ::testing::WithParamInterface<InitFailure> {};

TEST_P(NvmlInitFailureTest, IsANoteNotAnError) {
  const auto [code, text] = GetParam();
  std::vector<model::GpuDevice> gpus;
  ASSERT_NO_THROW(gpus = read("full", std::string(kTwoDevices) + "fail nvmlInit_v2 -1 " +
                                          std::to_string(code) + "\n"));
  EXPECT_THAT(gpus, IsEmpty());
  const auto* failed = note("nvml_init_failed");
  ASSERT_NE(failed, nullptr) << all_notes();
  EXPECT_THAT(failed->message, HasSubstr(std::string("NVML: nvmlInit_v2 failed: ") + text + " (" +
                                         std::to_string(code) + ")"));
  // No successful init, so nothing to shut down.
  EXPECT_EQ(calls("nvmlInit_v2"), 1);
  EXPECT_EQ(calls("nvmlShutdown"), 0);
  EXPECT_EQ(calls("nvmlDeviceGetCount_v2"), 0);
}

INSTANTIATE_TEST_SUITE_P(
    NvmlCodes, NvmlInitFailureTest,
    ::testing::Values(InitFailure{9, "Driver Not Loaded"},
                      InitFailure{18, "RM has detected an NVML/RM version mismatch."},
                      InitFailure{4, "Insufficient Permissions"}),
    [](const auto& case_info) { return "code" + std::to_string(case_info.param.code); });

TEST_F(NvmlReaderTest, InitFailureWithoutErrorStringShowsTheCode) {
  const auto gpus = read("v1_only", "fail nvmlInit -1 9\n");
  EXPECT_THAT(gpus, IsEmpty());
  const auto* failed = note("nvml_init_failed");
  ASSERT_NE(failed, nullptr) << all_notes();
  EXPECT_THAT(failed->message, HasSubstr("NVML: nvmlInit failed: error 9"));
}

TEST_F(NvmlReaderTest, LostGpuIsLeftOutTheRestStays) {
  const auto gpus = read("full", std::string(kTwoDevices) + "lost 1\n");
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].uuid, "GPU-aaaa-0000");
  EXPECT_EQ(gpus[0].processes.size(), 2u);
  const auto* error = note("nvml_error");
  ASSERT_NE(error, nullptr) << all_notes();
  EXPECT_THAT(error->message,
              HasSubstr("nvmlDeviceGetHandleByIndex_v2 on GPU 1 failed: GPU is lost (15)"));
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, GpuLostDuringMemoryReadIsLeftOut) {
  const auto gpus = read("full", std::string(kTwoDevices) +
                                     "fail nvmlDeviceGetMemoryInfo_v2 0 15\n"
                                     "fail nvmlDeviceGetMemoryInfo 0 15\n");
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].index, 1u);
  const auto* error = note("nvml_error");
  ASSERT_NE(error, nullptr) << all_notes();
  EXPECT_THAT(error->message, HasSubstr("nvmlDeviceGetMemoryInfo on GPU 0 failed: GPU is lost "
                                        "(15); GPU 0 left out"));
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, ProcessListErrorsAreNotedNotSupportedIsQuiet) {
  // Every version of GPU 0's compute list refuses; GPU 1 has no graphics list.
  const auto gpus = read("full", std::string(kTwoDevices) +
                                     "fail nvmlDeviceGetComputeRunningProcesses_v3 0 4\n"
                                     "fail nvmlDeviceGetComputeRunningProcesses_v2 0 4\n"
                                     "fail nvmlDeviceGetComputeRunningProcesses 0 4\n"
                                     "fail nvmlDeviceGetGraphicsRunningProcesses_v3 1 3\n"
                                     "fail nvmlDeviceGetGraphicsRunningProcesses_v2 1 3\n"
                                     "fail nvmlDeviceGetGraphicsRunningProcesses 1 3\n");
  ASSERT_EQ(gpus.size(), 2u);
  ASSERT_EQ(gpus[0].processes.size(), 1u);
  EXPECT_EQ(gpus[0].processes[0].pid, 200u);
  EXPECT_FALSE(gpus[0].processes_known);
  ASSERT_EQ(gpus[1].processes.size(), 1u);
  EXPECT_EQ(gpus[1].processes[0].pid, 300u);
  EXPECT_TRUE(gpus[1].processes_known);
  ASSERT_EQ(notes_.size(), 2u) << all_notes();
  EXPECT_EQ(notes_[0].id, "nvml_error");
  EXPECT_THAT(notes_[0].message, HasSubstr("nvmlDeviceGetComputeRunningProcesses on GPU 0 "
                                           "failed: Insufficient Permissions (4)"));
  EXPECT_EQ(notes_[1].id, "gpu_processes_not_visible");
}

TEST_F(NvmlReaderTest, V3ErrorFallsBackToV2ThenV1) {
  visible(100, "python3");
  auto gpus = read(
      "full", std::string(kTwoDevices) + "fail nvmlDeviceGetComputeRunningProcesses_v3 0 999\n");
  ASSERT_EQ(gpus.size(), 2u);
  ASSERT_EQ(gpus[0].processes.size(), 2u);
  EXPECT_EQ(gpus[0].processes[0].pid, 100u);
  EXPECT_TRUE(gpus[0].processes_known);
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
  EXPECT_GT(calls("nvmlDeviceGetComputeRunningProcesses_v2", 0), 0);
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses", 0), 0);

  // _v2 failing too: the unversioned call, in its 16-byte layout, still gives the bytes.
  notes_.clear();
  gpus = read("full", std::string(kTwoDevices) +
                          "fail nvmlDeviceGetComputeRunningProcesses_v3 0 999\n"
                          "fail nvmlDeviceGetComputeRunningProcesses_v2 0 3\n");
  ASSERT_EQ(gpus[0].processes.size(), 2u);
  EXPECT_EQ(gpus[0].processes[0].pid, 100u);
  EXPECT_EQ(gpus[0].processes[0].used_bytes, std::optional<std::uint64_t>(kGiB));
  EXPECT_TRUE(gpus[0].processes_known);
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
  EXPECT_GT(calls("nvmlDeviceGetComputeRunningProcesses", 0), 0);
}

TEST_F(NvmlReaderTest, ComputeListNotSupportedMakesProcessBytesUnknown) {
  // MIG under vGPU: the instance answers NOT_SUPPORTED for its process list in every version.
  const auto gpus = read("full", std::string(kTwoDevices) +
                                     "fail nvmlDeviceGetComputeRunningProcesses_v3 1 3\n"
                                     "fail nvmlDeviceGetComputeRunningProcesses_v2 1 3\n"
                                     "fail nvmlDeviceGetComputeRunningProcesses 1 3\n");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_TRUE(gpus[0].processes_known);
  EXPECT_FALSE(gpus[1].processes_known);
  EXPECT_THAT(gpus[1].processes, IsEmpty());
  const auto* unknown = note("gpu_processes_unknown");
  ASSERT_NE(unknown, nullptr) << all_notes();
  EXPECT_THAT(unknown->message, HasSubstr("GPU 1 does not list its processes"));
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
  // Pid 100 is listed on GPU 0, but GPU 1 could hold more of it: unknown, not 1 GiB.
  EXPECT_EQ(gpu_bytes_of(gpus, {100}, tree_.path("proc")), std::nullopt);
}

TEST_F(NvmlReaderTest, MpsClientsAreListedWithTheServer) {
  visible(400, "python3");
  const auto gpus = read("full", std::string(kTwoDevices) +
                                     "process 1 compute 500 33554432\n"
                                     "process 1 mps 400 3221225472\n"
                                     "process 1 mps 401 na\n");
  ASSERT_EQ(gpus.size(), 2u);
  ASSERT_EQ(gpus[1].processes.size(), 4u);
  EXPECT_EQ(gpus[1].processes[0].pid, 400u);  // largest first
  EXPECT_EQ(gpus[1].processes[0].used_bytes, std::optional<std::uint64_t>(3 * kGiB));
  EXPECT_EQ(gpus[1].processes[0].name, std::optional<std::string>("python3"));
  EXPECT_EQ(gpus[1].processes[3].pid, 401u);
  EXPECT_EQ(gpus[1].processes[3].used_bytes, std::nullopt);
  EXPECT_TRUE(gpus[1].processes_known);
  EXPECT_GT(calls("nvmlDeviceGetMPSComputeRunningProcesses_v3", 1), 0);
}

TEST_F(NvmlReaderTest, RefusedHandleIsNotOursNotAnError) {
  // The _v2 count includes the host's other GPUs; this container may open only GPU 0.
  const auto gpus =
      read("full", std::string(kTwoDevices) + "fail nvmlDeviceGetHandleByIndex_v2 1 4\n");
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].uuid, "GPU-aaaa-0000");
  const auto* ours = note("gpu_not_ours");
  ASSERT_NE(ours, nullptr) << all_notes();
  EXPECT_THAT(ours->message, HasSubstr("GPU 1 is not accessible here"));
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
}

TEST_F(NvmlReaderTest, MigParentWithoutPermissionKeepsItsInstances) {
  visible(100, "python3");
  // A container given slot 2 of an A100: the parent refuses its memory, the slice answers.
  const auto gpus = read("full", R"(count 1
device 0 42949672960 0 10737418240 32212254720 GPU-mig-parent NVIDIA A100-SXM4-40GB
mig 0 1 4
migslot 0 2 6
device 6 20401094656 0 19327352832 1073741824 MIG-aaaa-0006 ignored
process 6 compute 100 1073741824
fail nvmlDeviceGetMemoryInfo_v2 0 4
fail nvmlDeviceGetMemoryInfo 0 4
)");
  ASSERT_EQ(gpus.size(), 2u) << all_notes();
  EXPECT_EQ(gpus[0].uuid, "GPU-mig-parent");
  EXPECT_FALSE(gpus[0].memory_known);
  EXPECT_EQ(gpus[1].name, "NVIDIA A100-SXM4-40GB MIG 2");
  EXPECT_TRUE(gpus[1].memory_known);
  EXPECT_EQ(gpus[1].total_bytes, 20401094656u);
  ASSERT_EQ(gpus[1].processes.size(), 1u);
  EXPECT_EQ(gpus[1].processes[0].pid, 100u);
  const auto* hidden = note("gpu_memory_not_visible");
  ASSERT_NE(hidden, nullptr) << all_notes();
  EXPECT_THAT(hidden->message, HasSubstr("its memory is unknown, its 1 MIG instance is listed"));
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, MinorNumberIsTheDeviceFilesNotTheIndex) {
  auto gpus = read("full", std::string(kTwoDevices) + "minor 0 3\nminor 1 0\n");
  ASSERT_EQ(gpus.size(), 2u) << all_notes();
  EXPECT_EQ(gpus[0].minor_number, 3u);
  EXPECT_EQ(gpus[1].minor_number, 0u);
  // Without an answer (NOT_SUPPORTED) it is unknown, and no note: elimination says so later.
  gpus = read("full", kTwoDevices);
  EXPECT_EQ(gpus[0].minor_number, std::nullopt);
  EXPECT_EQ(note("nvml_error"), nullptr) << all_notes();
  // A MIG slice's processes open its parent's /dev/nvidiaN.
  gpus = read("full", R"(count 1
device 0 42949672960 0 10737418240 32212254720 GPU-mig-parent NVIDIA A100-SXM4-40GB
minor 0 2
mig 0 1 4
migslot 0 1 6
device 6 20401094656 0 19327352832 1073741824 MIG-aaaa-0006 ignored
)");
  ASSERT_EQ(gpus.size(), 2u) << all_notes();
  EXPECT_EQ(gpus[1].minor_number, 2u);
}

TEST_F(NvmlReaderTest, PidsAreMatchedDirectlyOnlyInTheHostsPidNamespace) {
  visible(100, "python3");
  tree_.mkdir("proc/self/ns");
  std::filesystem::create_symlink("pid:[4026531836]", tree_.path("proc/self/ns/pid"));
  auto gpus = read("full", kTwoDevices);
  ASSERT_EQ(gpus.size(), 2u) << all_notes();
  EXPECT_EQ(gpus[0].processes[0].pid, 100u);
  EXPECT_EQ(gpus[0].processes[0].attributed_by, model::GpuAttribution::kPid);
  EXPECT_EQ(gpus[0].processes[0].local_pid, 100);
  EXPECT_EQ(gpus[0].processes[0].name, "python3");
  // A container's own pid namespace: its pid 100 is not NVML's (the host's) pid 100.
  tree_.remove("proc/self/ns/pid");
  std::filesystem::create_symlink("pid:[4026532999]", tree_.path("proc/self/ns/pid"));
  notes_.clear();
  gpus = read("full", kTwoDevices);
  EXPECT_EQ(gpus[0].processes[0].attributed_by, model::GpuAttribution::kNone);
  EXPECT_EQ(gpus[0].processes[0].local_pid, std::nullopt);
  EXPECT_EQ(gpus[0].processes[0].name, std::nullopt);
  const auto* hidden = note("gpu_processes_not_visible");
  ASSERT_NE(hidden, nullptr) << all_notes();
  EXPECT_THAT(hidden->message, HasSubstr("3 GPU processes (NVML pids 100, 200, 300)"));
}

TEST_F(NvmlReaderTest, DeviceCountFailureIsANote) {
  const auto gpus = read("full", std::string(kTwoDevices) + "fail nvmlDeviceGetCount_v2 -1 999\n");
  EXPECT_THAT(gpus, IsEmpty());
  const auto* error = note("nvml_error");
  ASSERT_NE(error, nullptr) << all_notes();
  EXPECT_THAT(error->message, HasSubstr("nvmlDeviceGetCount_v2"));
  EXPECT_THAT(error->message, HasSubstr("(999)"));
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, NoGpuIsEmptyWithANote) {
  const auto gpus = read("full", "count 0\ndriver 550.54.15\n");
  EXPECT_THAT(gpus, IsEmpty());
  const auto* none = note("no_gpu");
  ASSERT_NE(none, nullptr) << all_notes();
  EXPECT_THAT(none->message, HasSubstr("550.54.15"));
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, MissingLibraryIsEmptyWithANote) {
  ::setenv("MEMOPT_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  std::vector<model::GpuDevice> gpus;
  ASSERT_NO_THROW(gpus = read_gpus(roots(), notes_));
  EXPECT_THAT(gpus, IsEmpty());
  const auto* missing = note("no_nvml");
  ASSERT_NE(missing, nullptr) << all_notes();
  EXPECT_THAT(missing->message, HasSubstr("/nonexistent/libnvidia-ml.so.1"));
}

TEST_F(NvmlReaderTest, LibraryWithoutNvmlSymbolsIsEmptyWithANote) {
  // Any loadable library that is not NVML: the C math library.
  ::setenv("MEMOPT_NVML_LIBRARY", "libm.so.6", 1);
  const auto gpus = read_gpus(roots(), notes_);
  EXPECT_THAT(gpus, IsEmpty());
  const auto* missing = note("no_nvml");
  ASSERT_NE(missing, nullptr) << all_notes();
  EXPECT_THAT(missing->message, HasSubstr("libm.so.6 lacks"));
}

TEST_F(NvmlReaderTest, MigInstancesAreDevicesOfTheirOwn) {
  visible(100, "python3");
  visible(101, "python3");
  // GPU 0 has MIG on with instances in slots 0 and 2 (records 5 and 6); GPU 1 has it off.
  const auto gpus = read("full", R"(count 2
device 0 42949672960 0 10737418240 32212254720 GPU-mig-parent NVIDIA A100-SXM4-40GB
mig 0 1 4
migslot 0 0 5
migslot 0 2 6
device 5 10200547328 0 9126805504 1073741824 MIG-aaaa-0005 ignored
device 6 20401094656 0 19327352832 1073741824 MIG-aaaa-0006 ignored
process 0 compute 100 1073741824
process 5 compute 100 1073741824
process 6 compute 101 1073741824
device 1 16106127360 0 16106127360 0 GPU-plain T4
mig 1 0 0
)");
  ASSERT_EQ(gpus.size(), 4u) << all_notes();
  EXPECT_EQ(gpus[0].uuid, "GPU-mig-parent");
  EXPECT_EQ(gpus[0].total_bytes, 42949672960u);
  // Processes are listed under their instance, not twice.
  EXPECT_THAT(gpus[0].processes, IsEmpty());
  EXPECT_EQ(gpus[1].index, 0u);
  EXPECT_EQ(gpus[1].name, "NVIDIA A100-SXM4-40GB MIG 0");
  EXPECT_EQ(gpus[1].uuid, "MIG-aaaa-0005");
  EXPECT_EQ(gpus[1].total_bytes, 10200547328u);
  EXPECT_EQ(gpus[1].free_bytes, 9126805504u);
  EXPECT_EQ(gpus[1].used_bytes, kGiB);
  ASSERT_EQ(gpus[1].processes.size(), 1u);
  EXPECT_EQ(gpus[1].processes[0].pid, 100u);
  EXPECT_EQ(gpus[2].index, 0u);
  EXPECT_EQ(gpus[2].name, "NVIDIA A100-SXM4-40GB MIG 2");
  EXPECT_EQ(gpus[2].uuid, "MIG-aaaa-0006");
  EXPECT_EQ(gpus[2].total_bytes, 20401094656u);
  ASSERT_EQ(gpus[2].processes.size(), 1u);
  EXPECT_EQ(gpus[2].processes[0].pid, 101u);
  EXPECT_EQ(gpus[3].index, 1u);
  EXPECT_EQ(gpus[3].name, "T4");
  EXPECT_THAT(notes_, IsEmpty()) << all_notes();
  EXPECT_EQ(calls("nvmlDeviceGetComputeRunningProcesses_v3", 0), 0);
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, MigEnumerationFailureKeepsTheParent) {
  const auto gpus = read("full", std::string(kTwoDevices) +
                                     "mig 0 1 2\n"
                                     "fail nvmlDeviceGetMaxMigDeviceCount 0 4\n");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].processes.size(), 2u);
  const auto* error = note("nvml_error");
  ASSERT_NE(error, nullptr) << all_notes();
  EXPECT_THAT(error->message, HasSubstr("nvmlDeviceGetMaxMigDeviceCount on GPU 0"));
}

// The library is mapped only while it is in use: dlclose follows every read, failed or not.
bool fake_is_mapped() {
  return testing::slurp("/proc/self/maps").find(MEMOPT_FAKE_NVML_DIR) != std::string::npos;
}

TEST_F(NvmlReaderTest, LibraryIsUnloadedAfterEveryRead) {
  (void)read("full", kTwoDevices);
  EXPECT_FALSE(fake_is_mapped());
  (void)read("full", "fail nvmlInit_v2 -1 18\n");
  EXPECT_FALSE(fake_is_mapped());
  (void)tree_.write("script", kTwoDevices);
  {
    NvmlSession session;
    EXPECT_TRUE(fake_is_mapped());
  }
  EXPECT_FALSE(fake_is_mapped());
  // Three inits, the second failed: two shutdowns.
  EXPECT_EQ(calls("nvmlInit_v2"), 3);
  EXPECT_EQ(calls("nvmlShutdown"), 2);
}

TEST_F(NvmlReaderTest, SessionInitsOnceAndShutsDownAtTheEnd) {
  ::setenv("FAKE_NVML_SCRIPT", tree_.write("script", kTwoDevices).c_str(), 1);
  ::setenv("MEMOPT_NVML_LIBRARY", fake_library("full").c_str(), 1);
  {
    NvmlSession session;
    ASSERT_TRUE(session.ready());
    for (int i = 0; i < 3; ++i) {
      const auto gpus = session.read(roots(), notes_);
      ASSERT_EQ(gpus.size(), 2u);
      EXPECT_EQ(gpus[1].used_bytes, 4831838208u);
    }
    NvmlSession moved = std::move(session);
    EXPECT_TRUE(moved.ready());
    EXPECT_EQ(moved.read(roots(), notes_).size(), 2u);
    EXPECT_EQ(calls("nvmlInit_v2"), 1);
    EXPECT_EQ(calls("nvmlShutdown"), 0);
    EXPECT_EQ(calls("nvmlDeviceGetCount_v2"), 4);
  }
  expect_balanced_init();
}

TEST_F(NvmlReaderTest, SessionThatFailedRepeatsItsNoteOnEveryRead) {
  ::setenv("FAKE_NVML_SCRIPT", tree_.write("script", "fail nvmlInit_v2 -1 9\n").c_str(), 1);
  ::setenv("MEMOPT_NVML_LIBRARY", fake_library("full").c_str(), 1);
  NvmlSession session;
  EXPECT_FALSE(session.ready());
  EXPECT_THAT(session.read(roots(), notes_), IsEmpty());
  EXPECT_THAT(session.read(roots(), notes_), IsEmpty());
  ASSERT_EQ(notes_.size(), 2u);
  EXPECT_EQ(notes_[0].id, "nvml_init_failed");
  EXPECT_EQ(notes_[1].message, notes_[0].message);
  EXPECT_EQ(calls("nvmlInit_v2"), 1);
  EXPECT_EQ(calls("nvmlShutdown"), 0);
}

}  // namespace
}  // namespace memopt::readers
