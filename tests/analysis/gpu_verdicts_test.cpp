// The GPU verdicts on constructed samples: which process is a gpu_orphan (gone, zombie,
// reparented worker) and which a gpu_wrong_device (two GPUs, or not its LOCAL_RANK's), with
// their bytes; entries memopt cannot look up get none.
#include "memopt/analysis/gpu_verdicts.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "memopt/units.hpp"

namespace memopt::analysis {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

model::GpuProcessLife alive(int ppid = 10, int pgid = 10, int sid = 10) {
  model::GpuProcessLife life;
  life.exists = true;
  life.state = 'S';
  life.ppid = ppid;
  life.pgid = pgid;
  life.sid = sid;
  life.parent_sid = sid;
  return life;
}

model::GpuProcess entry(std::uint32_t pid, std::uint64_t bytes,
                        std::optional<model::GpuProcessLife> life) {
  model::GpuProcess p;
  p.pid = pid;
  p.name = "python3";
  p.used_bytes = bytes;
  p.life = std::move(life);
  if (p.life && p.life->exists) {
    p.attributed_by = model::GpuAttribution::kPid;
    p.local_pid = static_cast<int>(pid);
  } else {
    p.name.reset();
  }
  return p;
}

model::GpuDevice device(unsigned index, std::vector<model::GpuProcess> processes) {
  model::GpuDevice gpu;
  gpu.index = index;
  gpu.name = "GPU " + std::to_string(index);
  gpu.uuid = "GPU-" + std::to_string(index) + "abc-0000";
  gpu.minor_number = index;
  gpu.processes = std::move(processes);
  return gpu;
}

const GpuVerdict* find(const std::vector<GpuVerdict>& verdicts, std::uint32_t pid) {
  for (const auto& v : verdicts) {
    if (v.pid == pid) return &v;
  }
  return nullptr;
}

TEST(GpuVerdicts, AGoneProcessIsAnOrphanWithItsBytesAndTheDeviceFileHolders) {
  model::Sample sample;
  model::GpuProcessLife gone;  // exists = false
  sample.gpus.push_back(device(0, {entry(500, 700 * kMiB, gone), entry(20, 2048 * kMiB, alive())}));
  sample.gpus[0].file_holders = std::vector<model::GpuFileHolder>{{77, "pt_data_worker"}};
  const auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 1u);
  const auto& v = verdicts.front();
  EXPECT_EQ(v.kind, GpuVerdictKind::kOrphan);
  EXPECT_EQ(to_string(v.kind), "gpu_orphan");
  EXPECT_EQ(v.pid, 500u);
  EXPECT_EQ(v.reason, OrphanReason::kGone);
  EXPECT_EQ(v.bytes, 700 * kMiB);
  EXPECT_EQ(v.gpus, std::vector<unsigned>{0});
  ASSERT_TRUE(v.holders);
  ASSERT_EQ(v.holders->size(), 1u);
  EXPECT_EQ(v.holders->front().pid, 77);
  EXPECT_THAT(v.message, HasSubstr("/dev/nvidia0 held open by pid 77 (pt_data_worker)"));
  EXPECT_THAT(v.message, HasSubstr("700 MiB on GPU 0"));
  EXPECT_EQ(orphaned_gpu_bytes(verdicts), 700 * kMiB);
}

TEST(GpuVerdicts, NoHolderFoundAmongUnreadableProcessesIsNotSentOutsideTheNamespace) {
  model::Sample sample;
  model::GpuProcessLife gone;
  sample.gpus.push_back(device(0, {entry(500, 700 * kMiB, gone)}));
  sample.gpus[0].file_holders = std::vector<model::GpuFileHolder>{};
  sample.gpus[0].file_holders_unreadable = 3;
  auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_THAT(verdicts[0].message,
              HasSubstr("no process whose open files memopt may read holds /dev/nvidia0 open, and "
                        "those of 3 other process(es) may not be read"));
  EXPECT_THAT(verdicts[0].message, Not(HasSubstr("outside this pid namespace")));

  sample.gpus[0].file_holders_unreadable = 0;  // every process read: the holder is elsewhere
  verdicts = gpu_verdicts(sample);
  EXPECT_THAT(verdicts[0].message, HasSubstr("outside this pid namespace"));
}

TEST(GpuVerdicts, AnEntryThatCannotBeLookedUpGetsNoVerdict) {
  // Another pid namespace, not matched: "not visible", never "dead".
  model::Sample sample;
  sample.gpus.push_back(device(0, {entry(4242, 1024 * kMiB, std::nullopt)}));
  EXPECT_TRUE(gpu_verdicts(sample).empty());
}

TEST(GpuVerdicts, AZombieIsAnOrphanNamingItsParent) {
  model::Sample sample;
  auto zombie = alive(31);
  zombie.state = 'Z';
  sample.gpus.push_back(device(1, {entry(40, 300 * kMiB, zombie)}));
  const auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].reason, OrphanReason::kZombie);
  EXPECT_EQ(verdicts[0].bytes, 300 * kMiB);
  EXPECT_THAT(verdicts[0].fix, HasSubstr("pid 31"));
  EXPECT_FALSE(verdicts[0].holders);  // not read: nothing claimed about holders
}

TEST(GpuVerdicts, AWorkerHandedToInitAfterItsStarterDiedIsReparented) {
  model::Sample sample;
  // pid 60 was forked by pid 50 (group 50, gone) and now has pid 1 for parent.
  auto worker = alive(1, 50, 50);
  worker.group_leader_gone = true;
  worker.parent_is_init = true;
  worker.parent_sid = 1;
  // pid 61: same group gone, but handed to a subreaper in another session.
  auto subreaped = alive(900, 50, 50);
  subreaped.group_leader_gone = true;
  subreaped.parent_sid = 900;
  sample.gpus.push_back(
      device(0, {entry(60, 512 * kMiB, worker), entry(61, 256 * kMiB, subreaped)}));
  const auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 2u);
  EXPECT_EQ(find(verdicts, 60)->reason, OrphanReason::kReparented);
  EXPECT_EQ(find(verdicts, 61)->reason, OrphanReason::kReparented);
  EXPECT_THAT(find(verdicts, 60)->message, HasSubstr("(pid 50) is gone"));
  EXPECT_EQ(orphaned_gpu_bytes(verdicts), 768 * kMiB);
}

TEST(GpuVerdicts, AContainersMainProcessAndAPipelineTailAreNotOrphans) {
  model::Sample sample;
  // The main process, started by tini (pid 1): it leads its own group.
  auto main = alive(1, 7, 1);
  main.parent_is_init = true;
  main.parent_sid = 1;
  // `cat x | python3 infer.py`: cat led the group and exited; the shell (same session) is the
  // parent. Not a leftover.
  auto tail = alive(300, 301, 300);
  tail.group_leader_gone = true;
  tail.parent_sid = 300;
  sample.gpus.push_back(device(0, {entry(7, 4096 * kMiB, main), entry(302, 1024 * kMiB, tail)}));
  EXPECT_TRUE(gpu_verdicts(sample).empty());
}

TEST(GpuVerdicts, ContextsOnTwoGpusAreTheWrongDeviceWithTheFix) {
  model::Sample sample;
  auto rank0 = alive();
  rank0.local_rank = 0;
  sample.gpus.push_back(device(0, {entry(70, 3000 * kMiB, rank0)}));
  sample.gpus.push_back(device(1, {entry(70, 400 * kMiB, rank0)}));
  const auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 1u);
  const auto& v = verdicts[0];
  EXPECT_EQ(v.kind, GpuVerdictKind::kWrongDevice);
  EXPECT_EQ(to_string(v.kind), "gpu_wrong_device");
  EXPECT_EQ(v.bytes, 3400 * kMiB);
  EXPECT_EQ(v.gpus, (std::vector<unsigned>{0, 1}));
  EXPECT_EQ(v.expected_gpu, 0u);
  EXPECT_THAT(v.fix, HasSubstr("torch.cuda.set_device(local_rank)"));
  EXPECT_THAT(v.fix, HasSubstr("map_location"));
  EXPECT_EQ(orphaned_gpu_bytes(verdicts), 0u);
}

TEST(GpuVerdicts, ARankOnAnotherGpuThanItsLocalRanksIsTheWrongDevice) {
  model::Sample sample;
  auto rank1 = alive();
  rank1.local_rank = 1;
  auto rank0 = alive();
  rank0.local_rank = 0;
  sample.gpus.push_back(device(0, {entry(80, 500 * kMiB, rank1), entry(81, 2000 * kMiB, rank0)}));
  sample.gpus.push_back(device(1, {}));
  const auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].pid, 80u);
  EXPECT_EQ(verdicts[0].local_rank, 1);
  EXPECT_EQ(verdicts[0].expected_gpu, 1u);
  EXPECT_THAT(verdicts[0].message, HasSubstr("LOCAL_RANK=1 (GPU 1) but contexts on GPU 0"));
}

TEST(GpuVerdicts, CudaVisibleDevicesMapsTheRankToAGpu) {
  model::Sample sample;
  // CUDA_VISIBLE_DEVICES=1,0: rank 0 is GPU 1, rank 1 GPU 0. Both are where they belong.
  auto rank0 = alive();
  rank0.local_rank = 0;
  rank0.cuda_visible_devices = std::vector<std::string>{"1", "0"};
  auto rank1 = alive();
  rank1.local_rank = 1;
  rank1.cuda_visible_devices = std::vector<std::string>{"GPU-1abc", "GPU-0abc"};
  // One visible device: whatever LOCAL_RANK says, cuda:0 is that device.
  auto alone = alive();
  alone.local_rank = 3;
  alone.cuda_visible_devices = std::vector<std::string>{"1"};
  sample.gpus.push_back(device(0, {entry(91, 100 * kMiB, rank1)}));
  sample.gpus.push_back(device(1, {entry(90, 100 * kMiB, rank0), entry(92, 100 * kMiB, alone)}));
  EXPECT_TRUE(gpu_verdicts(sample).empty());

  // The same rank 1 on GPU 1 is on its neighbour's device.
  sample.gpus[0].processes.clear();
  sample.gpus[1].processes.push_back(entry(91, 100 * kMiB, rank1));
  const auto verdicts = gpu_verdicts(sample);
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0].pid, 91u);
  EXPECT_EQ(verdicts[0].expected_gpu, 0u);
}

TEST(GpuVerdicts, OneProcessOnOneGpuWithoutARankIsFine) {
  model::Sample sample;
  sample.gpus.push_back(device(0, {entry(5, 1000 * kMiB, alive()), entry(5, 10 * kMiB, alive())}));
  EXPECT_TRUE(gpu_verdicts(sample).empty());
}

}  // namespace
}  // namespace memopt::analysis
