#pragma once

#include <cstdint>
#include <optional>

#include "memopt/model/sample.hpp"

namespace memopt::model {

/// The identity of an executable file (device and inode of `<procfs>/PID/exe`): the same for
/// every process running that file, whatever its name or comm.
struct ExecutableId {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  friend bool operator==(const ExecutableId&, const ExecutableId&) = default;
};

/// One process of the target with what grouping needs: its memory, its parent, when it
/// started (pids are reused; a start time tells two processes of one pid apart) and which
/// executable it runs. Only the torch.distributed variables are read from its environment.
struct ProcessNode {
  ProcessMemory memory;             ///< pid, comm, RSS, PSS, USS (one sample's)
  int ppid = 0;                     ///< `<procfs>/PID/stat` field 4
  std::uint64_t start_ticks = 0;    ///< `<procfs>/PID/stat` field 22 (clock ticks after boot)
  std::optional<ExecutableId> exe;  ///< absent when `<procfs>/PID/exe` cannot be followed
  /// smaps_rollup Anonymous (private and copy-on-write shared anonymous pages); read only for
  /// a parent of workers or a worker (a process sharing its executable with a child or its
  /// parent). For a worker, Anonymous minus its USS is what it still shares with its parent
  /// and may yet copy.
  std::optional<std::uint64_t> anon_bytes;
  std::optional<int> rank;        ///< RANK from `<procfs>/PID/environ`
  std::optional<int> local_rank;  ///< LOCAL_RANK
  std::optional<int> world_size;  ///< WORLD_SIZE
};

}  // namespace memopt::model
