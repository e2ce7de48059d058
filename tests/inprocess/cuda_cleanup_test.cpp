// The CUDA step of cleanup() against the fake driver (tests/nvml/fake_cuda.c): it must never
// start CUDA, and trims only the devices whose primary context is already active.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "memopt/inprocess.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr unsigned long long kGiB = 1ULL << 30;

// Loads the fake libcuda.so.1 by path for the test's lifetime, as a program (torch) would;
// cleanup then finds it by its soname without loading anything.
class FakeCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memopt::reset_gpu_session();  // the in-process NVML session is kept between calls
    ::setenv("FAKE_CUDA_LOG", tree_.path("cuda.log").c_str(), 1);
    ::setenv("MEMOPT_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
    ASSERT_EQ(::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD), nullptr)
        << "a CUDA driver is already loaded in the test process";
    handle_ = ::dlopen(MEMOPT_FAKE_CUDA, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << ::dlerror();
  }

  void TearDown() override {
    memopt::reset_gpu_session();  // no fake NVML left mapped for the next test
    if (handle_ != nullptr) ::dlclose(handle_);
    for (const char* name :
         {"FAKE_CUDA_LOG", "FAKE_CUDA_DEVICES", "FAKE_CUDA_ACTIVE", "FAKE_CUDA_TRIM_FROM",
          "FAKE_CUDA_TRIM_TO", "MEMOPT_NVML_LIBRARY", "FAKE_NVML_SCRIPT"}) {
      ::unsetenv(name);
    }
  }

  // What the program itself does when it uses CUDA: cuInit, outside memopt.
  void program_initialises_cuda() {
    using CuInit = int (*)(unsigned);
    auto init = reinterpret_cast<CuInit>(::dlsym(handle_, "cuInit"));
    ASSERT_NE(init, nullptr);
    ASSERT_EQ(init(0), 0);
    ::unlink(tree_.path("cuda.log").c_str());  // the log shows memopt's calls only
  }

  [[nodiscard]] std::vector<std::string> calls() const {
    std::vector<std::string> lines;
    try {
      std::istringstream in(testing::slurp(tree_.path("cuda.log")));
      for (std::string line; std::getline(in, line);) lines.push_back(line);
    } catch (const std::runtime_error&) {
      // no call at all
    }
    return lines;
  }

  static const CleanupStep& cuda_step(const CleanupResult& result) {
    for (const auto& step : result.steps) {
      if (step.name == "cuda_mem_pools") return step;
    }
    throw std::runtime_error("no cuda_mem_pools step");
  }

  testing::TempTree tree_;
  void* handle_ = nullptr;
};

TEST_F(FakeCudaTest, LoadedButNeverInitialisedIsOnlyProbed) {
  const auto result = cleanup_gpu_memory();
  const auto& step = cuda_step(result);
  EXPECT_EQ(step.status, "skipped");
  EXPECT_THAT(step.reason, HasSubstr("not initialised"));
  EXPECT_FALSE(step.gpu_released_bytes);
  // The probe alone: no cuInit, no context, no pool, no trim.
  EXPECT_THAT(calls(), ElementsAre("cuDeviceGetCount"));
}

TEST_F(FakeCudaTest, OnlyTheDeviceWithAnActiveContextIsTrimmed) {
  ::setenv("FAKE_CUDA_DEVICES", "3", 1);
  ::setenv("FAKE_CUDA_ACTIVE", "1", 1);
  program_initialises_cuda();
  const auto result = cleanup_gpu_memory();
  const auto& step = cuda_step(result);
  EXPECT_EQ(step.status, "done") << step.reason;
  EXPECT_FALSE(step.gpu_released_bytes);  // no NVML here: unknown, not 0
  EXPECT_THAT(calls(),
              ElementsAre("cuDeviceGetCount", "cuDeviceGet 0", "cuDevicePrimaryCtxGetState 0",
                          "cuDeviceGet 1", "cuDevicePrimaryCtxGetState 1", "cuDeviceGetMemPool 1",
                          "cuDeviceGet 2", "cuDevicePrimaryCtxGetState 2", "cuMemPoolTrimTo 1"));
}

TEST_F(FakeCudaTest, NoActiveContextTouchesNoPool) {
  ::setenv("FAKE_CUDA_DEVICES", "2", 1);
  program_initialises_cuda();
  const auto result = cleanup_gpu_memory();
  const auto& step = cuda_step(result);
  EXPECT_EQ(step.status, "skipped");
  EXPECT_THAT(step.reason, HasSubstr("no device has an active CUDA context"));
  for (const auto& line : calls()) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("MemPool"))) << line;
  }
}

TEST_F(FakeCudaTest, ReleaseIsMeasuredThroughNvmlForThisPid) {
  const std::string nvml = std::string(MEMOPT_FAKE_NVML_DIR) + "/full/libnvidia-ml.so.1";
  const auto script = [](unsigned long long held) {
    return "count 1\ndevice 0 85899345920 0 " + std::to_string(85899345920ULL - held) + " " +
           std::to_string(held) + " GPU-0000 Fake H100\nprocess 0 compute " +
           std::to_string(::getpid()) + " " + std::to_string(held) + "\n";
  };
  ::setenv("MEMOPT_NVML_LIBRARY", nvml.c_str(), 1);
  ::setenv("FAKE_NVML_SCRIPT", tree_.write("nvml", script(5 * kGiB)).c_str(), 1);
  // The fake driver's trim puts the "after" script in place: 1 GiB left.
  ::setenv("FAKE_CUDA_TRIM_FROM", tree_.write("nvml-after", script(kGiB)).c_str(), 1);
  ::setenv("FAKE_CUDA_TRIM_TO", tree_.path("nvml").c_str(), 1);
  ::setenv("FAKE_CUDA_ACTIVE", "0", 1);
  program_initialises_cuda();
  const auto result = cleanup_gpu_memory();
  const auto& step = cuda_step(result);
  EXPECT_EQ(step.status, "done") << step.reason;
  EXPECT_EQ(step.gpu_released_bytes, std::optional<std::int64_t>(4 * kGiB));
}

TEST(CudaCleanup, DriverNotLoadedIsSkippedWithoutLoadingIt) {
  ASSERT_EQ(::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD), nullptr);
  const auto result = cleanup_gpu_memory();
  ASSERT_EQ(result.steps.size(), 1u);
  EXPECT_EQ(result.steps[0].status, "skipped");
  EXPECT_THAT(result.steps[0].reason, HasSubstr("libcuda.so.1"));
  EXPECT_EQ(::dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD), nullptr);
}

}  // namespace
}  // namespace memopt
