// readers::gpu_bytes_of: one rule for "the GPU memory of these pids", in and out of containers.
#include <gtest/gtest.h>
#include <unistd.h>

#include "memopt/readers/nvml.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

std::vector<model::GpuDevice> two_gpus() {
  model::GpuDevice a;
  a.processes = {{100, "python3", 300 * kMiB}, {200, "other", 50 * kMiB}, {101, "w", std::nullopt}};
  model::GpuDevice b;
  b.index = 1;
  b.processes = {{100, "python3", 20 * kMiB}, {101, "w", 5 * kMiB}};
  return {a, b};
}

// A procfs root whose self/ns/pid names `target`.
std::string procfs_in(const testing::TempTree& tree, const std::string& target) {
  tree.mkdir("proc/self/ns");
  EXPECT_EQ(::symlink(target.c_str(), tree.path("proc/self/ns/pid").c_str()), 0);
  return tree.path("proc");
}

TEST(GpuBytesOf, SumsThePidsOverEveryGpuSkippingUnavailableFigures) {
  const testing::TempTree tree;
  const auto procfs = procfs_in(tree, "pid:[4026531836]");
  EXPECT_EQ(gpu_bytes_of(two_gpus(), {100, 101}, procfs), 325 * kMiB);
}

TEST(GpuBytesOf, AHostPidEqualToAPidInAContainerIsNotThatProcess) {
  // NVML's pid 100 is the host's; pid 100 of a container's own namespace is another process.
  const testing::TempTree tree;
  EXPECT_EQ(gpu_bytes_of(two_gpus(), {100, 101}, procfs_in(tree, "pid:[4026532481]")),
            std::nullopt);
}

TEST(GpuBytesOf, NoneListedIsZeroOnTheHost) {
  const testing::TempTree tree;
  const auto procfs = procfs_in(tree, "pid:[4026531836]");
  EXPECT_EQ(gpu_bytes_of(two_gpus(), {999}, procfs), 0u);
}

TEST(GpuBytesOf, NoneListedIsUnknownInAContainersPidNamespace) {
  const testing::TempTree tree;
  EXPECT_EQ(gpu_bytes_of(two_gpus(), {999}, procfs_in(tree, "pid:[4026532481]")), std::nullopt);
  const testing::TempTree unreadable;
  unreadable.mkdir("proc/self");
  EXPECT_EQ(gpu_bytes_of(two_gpus(), {999}, unreadable.path("proc")), std::nullopt);
}

TEST(GpuBytesOf, AMatchedEntryCountsForItsLocalPid) {
  // `report` matched NVML's host pid 5001 to pid 100 here (self-report or elimination).
  const testing::TempTree tree;
  const auto procfs = procfs_in(tree, "pid:[4026532481]");
  model::GpuDevice gpu;
  gpu.processes.push_back({5001, "python3", 700 * kMiB, model::GpuAttribution::kElimination, 100});
  EXPECT_EQ(gpu_bytes_of({gpu}, {100}, procfs), 700 * kMiB);
  EXPECT_EQ(gpu_bytes_of({gpu}, {5001}, procfs), std::nullopt);  // none of ours listed
}

TEST(GpuBytesOf, NoGpusIsUnknown) { EXPECT_EQ(gpu_bytes_of({}, {100}, "/proc"), std::nullopt); }

}  // namespace
}  // namespace memopt::readers
