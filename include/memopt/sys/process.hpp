#pragma once

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

// Child processes and signals: the pieces `memopt run` needs, kept in the OS layer.
namespace memopt::sys {

/// How a child ended.
struct ExitStatus {
  int exit_code = 0;          ///< the exit status, or 128 + signal when killed
  std::optional<int> signal;  ///< the signal that killed it
};

/// Options for spawn().
struct SpawnOptions {
  /// Join this cgroup (write "0" to this `cgroup.procs`) in the child before exec, so the
  /// command and everything it starts is accounted there from its first page.
  std::optional<std::string> cgroup_procs;
  /// "NAME=value" entries added to (or replacing in) the inherited environment.
  std::vector<std::string> environment;
  /// Start a new process group (the child's pid), so a timeout can kill all it started.
  bool new_process_group = false;
  /// Standard input from /dev/null instead of this process's.
  bool null_stdin = false;
  /// The child's standard output goes to this process's standard error (a hook's chatter must
  /// not corrupt JSON Lines on standard output).
  bool stdout_to_stderr = false;
};

/// Starts `argv` (argv[0] looked up in PATH) with this process's environment and standard
/// streams, all signals unblocked. Throws Error when it cannot be started (fork fails, the
/// cgroup cannot be joined, exec fails — with the errno text).
[[nodiscard]] pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

/// The child's status if it has ended (reaped), std::nullopt while it runs.
[[nodiscard]] std::optional<ExitStatus> try_wait(pid_t pid);

/// Sends `signal` to `pid`; a process that is already gone is not an error.
void send_signal(pid_t pid, int signal) noexcept;

/// Sends `signal` to every process of process group `pgid`.
void send_group_signal(pid_t pgid, int signal) noexcept;

/// Blocks SIGINT, SIGTERM, SIGHUP and SIGCHLD for as long as it lives, so they can be waited
/// for synchronously (sigtimedwait) instead of interrupting the program.
class SignalWaiter {
 public:
  SignalWaiter();
  ~SignalWaiter();
  SignalWaiter(const SignalWaiter&) = delete;
  SignalWaiter& operator=(const SignalWaiter&) = delete;

  /// A signal that arrived.
  struct Received {
    int signal = 0;
    /// Sent with kill(2) by a process; false for the terminal's Ctrl-C, which the kernel
    /// already delivered to the whole foreground process group, children included.
    bool sent_by_process = false;
  };

  /// Waits up to `timeout` for one of the signals; std::nullopt on timeout.
  [[nodiscard]] std::optional<Received> wait(std::chrono::milliseconds timeout) const;

 private:
  sigset_t set_{};
  sigset_t previous_{};
};

/// Sleeps for `duration` (nanosleep, resumed after signals): unlike SignalWaiter::wait it
/// consumes no pending signal.
void pause_for(std::chrono::milliseconds duration) noexcept;

/// The monotonic clock (steady_clock::now).
[[nodiscard]] std::chrono::steady_clock::time_point steady_now() noexcept;

}  // namespace memopt::sys
