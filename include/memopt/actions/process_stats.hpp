#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/facts.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/model/target.hpp"
#include "memopt/sys/fs.hpp"

// The client side of the `stats` request: what the processes that embed memopt say they hold
// (torch's caching allocator per device, the models of their ModelCaches). Read-only.
namespace memopt::actions {

/// Reads one `stats` answer (one JSON line, see memopt::stats_json()) into `stats`. An answer
/// that is not JSON, carries an "error", or holds figures that cannot be true (allocated above
/// reserved, byte counts that are not whole numbers below 2^63) sets `stats.error` and leaves
/// the rest empty. A failing torch provider ("torch_error") is an error too.
void apply_stats_answer(std::string_view answer, model::ProcessStats& stats);

/// The "torch_version" of one `stats` answer (torch.__version__ in that process, see
/// memopt::set_torch_version); absent when the answer has none or is not a stats answer.
[[nodiscard]] std::optional<std::string> torch_version_of_stats_answer(std::string_view answer);

/// The torch version each process of `target` serving a cleanup socket in `runtime_dirs` says it
/// runs (its `stats` answer), asked all at once under one `timeout`; processes that do not
/// answer or name none are left out. Sorted by pid. `memopt diagnose` advises by it.
[[nodiscard]] std::vector<model::TorchVersion> ask_torch_versions(
    const Roots& roots, const model::Target& target, const std::vector<std::string>& runtime_dirs,
    std::chrono::milliseconds timeout);

/// Asks every process of `target` that has a cleanup socket in `runtime_dirs` (a named --pid or
/// --cgroup target: only its processes; memopt's own target: every socket there) for its
/// `stats`, all at once under one `timeout`. A process that does not answer is listed with
/// the reason in `error`. Sockets of exited processes are skipped. Sorted by pid.
[[nodiscard]] std::vector<model::ProcessStats> ask_process_stats(
    const Roots& roots, const model::Target& target, const std::vector<std::string>& runtime_dirs,
    std::chrono::milliseconds timeout);

/// `memopt report`'s in-process view: asks the target's processes for their `stats` (under
/// `timeout`; an unusable runtime directory is a note) and then matches the GPU entries NVML
/// lists under host pids to processes here (readers::attribute_gpu_processes).
void add_in_process_view(const Roots& roots, const model::Target& target, model::Sample& sample,
                         std::chrono::milliseconds timeout);

}  // namespace memopt::actions
