#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "memopt/analysis/watch.hpp"

// `monitor --on-alert CMD`: a command run on each event, with the event's facts in its
// environment (never in its command line), bounded in number and time.
namespace memopt::actions {

/// The MEMOPT_* variables a hook gets for `event` ("NAME=value" entries): MEMOPT_EVENT,
/// MEMOPT_LEVEL, MEMOPT_PREVIOUS_LEVEL, MEMOPT_USED_PERCENT, MEMOPT_USED_BYTES,
/// MEMOPT_LIMIT_BYTES, MEMOPT_AVAILABLE_BYTES, MEMOPT_SCOPE, MEMOPT_TIMESTAMP, MEMOPT_MESSAGE.
/// Memory figures are empty when the target's memory is unknown.
[[nodiscard]] std::vector<std::string> hook_environment(const analysis::Event& event);

/// Runs the hook command with /bin/sh -c in its own process group, standard input from
/// /dev/null and standard output sent to standard error.
class AlertHooks {
 public:
  struct Options {
    std::string command;
    std::chrono::seconds timeout{10};  ///< a hook running longer is killed with its group
    std::size_t max_running = 4;       ///< more at once are skipped
  };

  explicit AlertHooks(Options options) : options_(std::move(options)) {}
  AlertHooks(const AlertHooks&) = delete;
  AlertHooks& operator=(const AlertHooks&) = delete;
  /// Kills and reaps whatever still runs.
  ~AlertHooks();

  /// New settings (SIGHUP); running hooks keep running under the new timeout.
  void set_options(Options options) { options_ = std::move(options); }

  /// Starts the hook for `event`; returns why it did not start, empty when it did.
  [[nodiscard]] std::string start(const analysis::Event& event,
                                  std::chrono::steady_clock::time_point now);

  /// Reaps hooks that ended and kills those past the timeout (or all, at shutdown). Returns a
  /// sentence for each hook that failed: exited non-zero, was killed by a signal, ran past its
  /// timeout, or was stopped by the shutdown.
  [[nodiscard]] std::vector<std::string> reap(std::chrono::steady_clock::time_point now,
                                              bool shutdown);

  [[nodiscard]] std::size_t running() const { return running_.size(); }

 private:
  struct Running {
    pid_t pid;
    std::string event;
    std::chrono::steady_clock::time_point started;
  };
  Options options_;
  std::vector<Running> running_;
};

}  // namespace memopt::actions
