// What the GPU verdicts read of a GPU process: stat's ids, the parent's innermost NSpid,
// LOCAL_RANK and CUDA_VISIBLE_DEVICES (nothing else of the environment), and the holders of
// /dev/nvidiaN, on small procfs trees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/readers/gpu_attribution.hpp"
#include "memopt/readers/procfs.hpp"
#include "support/tree.hpp"

namespace memopt::readers {
namespace {

using namespace std::string_view_literals;

TEST(ParseProcStat, ReadsStatePpidGroupAndSessionAfterTheLastParenthesis) {
  const auto ids = parse_proc_stat("42 (py (x) 1) Z 7 40 30 0 -1 4194560 0\n", "stat");
  EXPECT_EQ(ids.state, 'Z');
  EXPECT_EQ(ids.ppid, 7);
  EXPECT_EQ(ids.pgrp, 40);
  EXPECT_EQ(ids.session, 30);
  EXPECT_FALSE(ids.start_ticks);
  EXPECT_FALSE(parse_proc_stat("42 (python) S 7", "stat").pgrp);
  EXPECT_THROW((void)parse_proc_stat("garbage", "stat"), Error);
  EXPECT_THROW((void)parse_proc_stat("42 (python) S -1 40 30", "stat"), Error);
  EXPECT_THROW((void)parse_proc_stat(std::string_view("42 (x) \0 7 40 30", 16), "stat"), Error);
}

TEST(ParseInnermostNspid, TakesTheLastPidOfTheNSpidLine) {
  EXPECT_EQ(parse_innermost_nspid("Name:\ttini\nNSpid:\t12345\t1\nNSgid:\t1\n"), 1);
  EXPECT_EQ(parse_innermost_nspid("NSpid:\t812\n"), 812);
  EXPECT_EQ(parse_innermost_nspid("Name:\told kernel\n"), std::nullopt);
}

TEST(ParseLocalRank, ANumberOrNothing) {
  EXPECT_EQ(parse_local_rank("PATH=/bin\0LOCAL_RANK=3\0"sv), 3);
  EXPECT_EQ(parse_local_rank("LOCAL_RANK_X=3\0"sv), std::nullopt);
  EXPECT_EQ(parse_local_rank("LOCAL_RANK=abc\0"sv), std::nullopt);
  EXPECT_EQ(parse_local_rank("LOCAL_RANK=-1\0"sv), std::nullopt);
}

TEST(ParseCudaVisibleDevices, SplitsAtCommas) {
  EXPECT_EQ(parse_cuda_visible_devices("CUDA_VISIBLE_DEVICES=2, 0,GPU-ab\0"sv),
            (std::vector<std::string>{"2", "0", "GPU-ab"}));
  EXPECT_EQ(parse_cuda_visible_devices("CUDA_VISIBLE_DEVICES=\0"sv), std::vector<std::string>{});
  EXPECT_EQ(parse_cuda_visible_devices("PATH=/bin\0"sv), std::nullopt);
}

model::GpuProcess nvml_entry(std::uint32_t pid, std::uint64_t bytes) {
  model::GpuProcess p;
  p.pid = pid;
  p.used_bytes = bytes;
  return p;
}

TEST(ReadGpuProcessLives, HostNamespaceTreeGivesGoneZombieReparentedAndHolders) {
  testing::TempTree tree;
  tree.mkdir("proc/self/ns");
  std::filesystem::create_symlink("pid:[4026531836]", tree.path("proc/self/ns/pid"));
  tree.write("proc/1/stat", "1 (init) S 0 1 1 0 -1 0\n");
  tree.write("proc/1/status", "Name:\tinit\nNSpid:\t1\n");
  tree.write("proc/600/stat", "600 (python3) Z 300 300 300 0 -1 0\n");  // a zombie
  tree.write("proc/300/stat", "300 (bash) S 1 300 300 0 -1 0\n");
  tree.write("proc/700/stat", "700 (python3) S 1 650 650 0 -1 0\n");  // group 650 is gone
  tree.write("proc/700/environ", "SECRET=hunter2\0LOCAL_RANK=1\0CUDA_VISIBLE_DEVICES=1,0\0"sv);
  tree.write("proc/77/comm", "pt_data_worker\n");
  tree.mkdir("proc/77/fd");
  std::filesystem::create_symlink("/dev/nvidia0", tree.path("proc/77/fd/9"));

  std::vector<model::GpuDevice> gpus(2);
  gpus[0].index = 0;
  gpus[0].minor_number = 0;
  gpus[0].processes = {nvml_entry(500, 1u << 30), nvml_entry(600, 2u << 20)};
  gpus[1].index = 1;
  gpus[1].minor_number = 1;
  gpus[1].processes = {nvml_entry(700, 3u << 20)};
  Roots roots;
  roots.procfs = tree.path("proc");
  read_gpu_process_lives(roots, gpus);

  const auto& gone = gpus[0].processes[0].life;
  ASSERT_TRUE(gone);
  EXPECT_FALSE(gone->exists);
  const auto& zombie = gpus[0].processes[1].life;
  ASSERT_TRUE(zombie);
  EXPECT_EQ(zombie->state, 'Z');
  EXPECT_EQ(zombie->ppid, 300);
  EXPECT_FALSE(zombie->group_leader_gone);
  const auto& worker = gpus[1].processes[0].life;
  ASSERT_TRUE(worker);
  EXPECT_TRUE(worker->group_leader_gone);
  EXPECT_TRUE(worker->parent_is_init);
  EXPECT_EQ(worker->parent_sid, 1);
  EXPECT_EQ(worker->local_rank, 1);
  EXPECT_EQ(worker->cuda_visible_devices, (std::vector<std::string>{"1", "0"}));

  // Both GPUs have an entry that looks orphaned: their holders are read.
  ASSERT_TRUE(gpus[0].file_holders);
  ASSERT_EQ(gpus[0].file_holders->size(), 1u);
  EXPECT_EQ(gpus[0].file_holders->front().pid, 77);
  EXPECT_EQ(gpus[0].file_holders->front().name, "pt_data_worker");
  ASSERT_TRUE(gpus[1].file_holders);
  EXPECT_TRUE(gpus[1].file_holders->empty());
}

TEST(ReadGpuProcessLives, AnotherNamespacesPidIsNotLookedUp) {
  testing::TempTree tree;
  tree.mkdir("proc/self/ns");
  std::filesystem::create_symlink("pid:[4026532999]", tree.path("proc/self/ns/pid"));
  std::vector<model::GpuDevice> gpus(1);
  gpus[0].minor_number = 0;
  gpus[0].processes = {nvml_entry(500, 1u << 30)};  // no proc/500 here: still not "gone"
  Roots roots;
  roots.procfs = tree.path("proc");
  read_gpu_process_lives(roots, gpus);
  EXPECT_FALSE(gpus[0].processes[0].life);
  EXPECT_FALSE(gpus[0].file_holders);
}

}  // namespace
}  // namespace memopt::readers
