#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "memopt/error.hpp"

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
  /// The child's standard output goes to this process's standard error (so a report printed
  /// on standard output is not mixed with the command's own output).
  bool stdout_to_stderr = false;
  /// The child gets SIGKILL when this process dies, even by SIGKILL (PR_SET_PDEATHSIG).
  bool die_with_parent = false;
};

/// Starts `argv` (argv[0] looked up in PATH) with this process's environment and standard
/// streams, all signals unblocked. Throws SpawnError when it cannot be started (fork fails, the
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

  /// A descriptor (signalfd) that polls readable while one of the signals is pending, so a
  /// long wait on other descriptors can end at a signal; wait() takes the signal. -1 when the
  /// kernel gave none (then only wait() sees signals).
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  sigset_t set_{};
  sigset_t previous_{};
  int fd_ = -1;
};

/// Sleeps for `duration` (nanosleep, resumed after signals): unlike SignalWaiter::wait it
/// consumes no pending signal.
void pause_for(std::chrono::milliseconds duration) noexcept;

/// The monotonic clock (steady_clock::now).
[[nodiscard]] std::chrono::steady_clock::time_point steady_now() noexcept;

/// While alive, the calling thread blocks every asynchronous signal (SIGTERM, SIGINT, SIGHUP,
/// ...; faults such as SIGSEGV stay deliverable); a thread started meanwhile inherits the mask
/// and keeps it. memopt's threads inside a user's process are started so: a process-directed
/// signal then reaches the program's own threads. (Python runs its handlers only on the main
/// thread, and a signal taken by a memopt thread would leave the main thread's blocking read
/// uninterrupted: `docker stop` hung a process that served cleanup.)
class AsyncSignalsBlocked {
 public:
  AsyncSignalsBlocked() noexcept;
  ~AsyncSignalsBlocked();
  AsyncSignalsBlocked(const AsyncSignalsBlocked&) = delete;
  AsyncSignalsBlocked& operator=(const AsyncSignalsBlocked&) = delete;

 private:
  sigset_t previous_{};
};

/// Runs `handler` in the child of every fork(2) of this process, before fork returns there
/// (pthread_atfork). Only the forking thread exists in the child: a handler resets what the
/// other threads held (locks) so that the child does not wait for them forever. True when
/// registered.
bool on_fork_in_child(void (*handler)()) noexcept;

}  // namespace memopt::sys
