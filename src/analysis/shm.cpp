#include "memopt/analysis/shm.hpp"

#include <algorithm>

namespace memopt::analysis {

std::optional<ShmemSplit> split_shmem(const model::Sample& sample) {
  if (!sample.shm || !sample.cgroup || !sample.cgroup->shmem_bytes) return std::nullopt;
  ShmemSplit split;
  split.shmem_bytes = *sample.cgroup->shmem_bytes;
  split.dev_shm_bytes = std::min(split.shmem_bytes, sample.shm->used_bytes);
  split.other_bytes = split.shmem_bytes - split.dev_shm_bytes;
  return split;
}

double shm_used_percent(const model::ShmLedger& shm) {
  if (shm.size_bytes == 0) return 100;
  return std::min(
      100.0, 100.0 * static_cast<double>(shm.used_bytes) / static_cast<double>(shm.size_bytes));
}

}  // namespace memopt::analysis
