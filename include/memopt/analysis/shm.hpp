#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "memopt/model/sample.hpp"

// What the /dev/shm ledger means: where the cgroup's shared memory is, and whether /dev/shm
// fills faster than workers can drain it (a DataLoader's bus error comes at 100%).
namespace memopt::analysis {

/// Words for the cgroup shmem that is not in /dev/shm files.
inline constexpr std::string_view kShmemElsewhere =
    "memfd segments, pinned host memory (pin_memory, cudaHostAlloc), SysV shared memory and "
    "other tmpfs mounts";

/// The cgroup's shmem split into the part in /dev/shm files and the rest.
struct ShmemSplit {
  std::uint64_t shmem_bytes = 0;    ///< the cgroup's shmem (memory.stat)
  std::uint64_t dev_shm_bytes = 0;  ///< min(shmem, /dev/shm used): at most what is charged
  std::uint64_t other_bytes = 0;    ///< shmem - dev_shm_bytes: kShmemElsewhere
};

/// The split, when both the cgroup's shmem and the ledger are known. /dev/shm pages are
/// charged to the cgroup that first touched them, so in a /dev/shm shared across containers
/// the /dev/shm part is an upper bound.
[[nodiscard]] std::optional<ShmemSplit> split_shmem(const model::Sample& sample);

/// /dev/shm's used share of its size, 0-100 (100 for a size of 0).
[[nodiscard]] double shm_used_percent(const model::ShmLedger& shm);
/// When shm_filling fires (config [shm]).
struct ShmFillParams {
  double used_percent = 80;     ///< /dev/shm used at or above this (0: off)
  double horizon_seconds = 60;  ///< time to full at the current rate under this (0: off)
};

}  // namespace memopt::analysis
