#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "memopt/model/process_tree.hpp"
#include "memopt/sys/fs.hpp"

// The target's process tree: parents, start times, executables and torch.distributed ranks.
namespace memopt::readers {

/// RANK, LOCAL_RANK and WORLD_SIZE of NUL-separated `<procfs>/PID/environ` text; a variable
/// that is absent or not a small non-negative number is absent. Nothing else is kept.
struct RankEnvironment {
  std::optional<int> rank;
  std::optional<int> local_rank;
  std::optional<int> world_size;
};
[[nodiscard]] RankEnvironment parse_rank_environment(std::string_view environ);

/// The Anonymous line of `<procfs>/PID/smaps_rollup` text, in bytes; absent when the line is
/// missing (kernels before 4.14 have no smaps_rollup) or malformed.
[[nodiscard]] std::optional<std::uint64_t> parse_rollup_anonymous(std::string_view smaps_rollup);

/// The nodes of `processes` (one sample's, already read): each one's stat and executable, and
/// for processes that share their executable with their parent or a child (the only ones that
/// can be workers or ranks), fresh smaps_rollup figures (a cached figure can hide a worker
/// copying its parent's pages: its RSS does not move), the rank variables of their environment,
/// and for a parent of such children, its anonymous memory. A process that exits
/// while it is read is left out; one whose exe link cannot be followed (another user's) has
/// no executable and is never grouped.
[[nodiscard]] std::vector<model::ProcessNode> read_process_nodes(
    const sys::Roots& roots, const std::vector<model::ProcessMemory>& processes);

}  // namespace memopt::readers
