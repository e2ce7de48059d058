#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "memopt/analysis/report.hpp"
#include "memopt/analysis/sizing.hpp"
#include "memopt/sys/fs.hpp"

// `memopt run` as a library call: a command in a fresh memory cgroup, measured, sized.
namespace memopt::actions {

/// What to run and how.
struct RunRequest {
  std::vector<std::string> command;          ///< argv; argv[0] looked up in PATH
  std::optional<std::uint64_t> limit_bytes;  ///< memory limit of the sandbox cgroup
  std::optional<std::uint64_t> swap_bytes;   ///< swap allowed beyond it (needs limit_bytes)
  std::chrono::milliseconds sample_interval{100};
  /// Run even when limit_bytes exceeds the room left in the enclosing container, or cannot be
  /// applied at all (no cgroup can be made): a warning instead of the refusal.
  bool force = false;
  /// The command's standard output goes to standard error (the report owns standard output).
  bool command_stdout_to_stderr = false;
  /// After SIGTERM/SIGINT is forwarded, how long the command has to exit before the whole
  /// sandbox gets SIGKILL (docker stop's 10 s).
  std::chrono::milliseconds stop_timeout{10000};
};

/// Called with each warning as it happens (stderr, for the CLI).
using Warn = std::function<void(const std::string&)>;

/// Runs `request.command` in a fresh child memory cgroup of memopt's own (where cgroups can be
/// made; else unconstrained, and said so through `warn` — but with a limit_bytes that cannot be
/// applied only when `force`, else Error kUsage), samples it every
/// `sample_interval`, reads the kernel's usage peak between samples, forwards SIGINT, SIGTERM
/// and SIGHUP and escalates to SIGKILL after `stop_timeout`, and returns what it learned with
/// a recommendation (absent after an OOM kill, and when no peak was measured).
///
/// Before starting it removes cgroups left by earlier runs whose memopt is gone, and checks the
/// room in the enclosing container: a limit larger than the room is refused (Error kUsage,
/// saying what is available and which cgroup or the host sets it) unless `force`. During the
/// run it counts OOM kills in the enclosing container that were not the command's: the kills
/// of *other* processes the run caused (RunReport::other_oom_kills).
///
/// Throws Error kUsage for a refused request; SpawnError when the command cannot be
/// started (its shell_exit_code(): 127 not found, 126 not executable); Error otherwise.
[[nodiscard]] analysis::RunReport run_measured(const Roots& roots, const RunRequest& request,
                                               const analysis::Thresholds& thresholds,
                                               const Warn& warn);

/// What `recommend --from-run` sizes from: the figures of a `memopt run --json` result.
struct RunResult {
  std::uint64_t peak_bytes = 0;  ///< the run's peak (a run that measured none is refused)
  bool oom_killed = false;       ///< the command was OOM-killed: the true peak is higher
  std::string peak_source;       ///< "kernel" or "sampled" (absent in the file: "sampled")
};

/// Reads the `memopt run --json` result (schema memopt.run/1) in the file `path`. Throws Error
/// naming `path` when it cannot be read, is not JSON, is not such a result, or measured no peak.
[[nodiscard]] RunResult read_run_result(const std::string& path);

}  // namespace memopt::actions
