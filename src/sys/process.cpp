#include "memopt/sys/process.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <string_view>

#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"

extern char** environ;

namespace memopt::sys {

namespace {

/// What the child reports through the exec pipe when something before exec fails.
struct ChildFailure {
  int stage;  // 1: joining the cgroup, 2: exec
  int err;
};

[[noreturn]] void child_fail(int fd, int stage) {
  const ChildFailure failure{stage, errno};
  (void)!::write(fd, &failure, sizeof failure);
  ::_exit(127);
}

}  // namespace

pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (argv.empty()) throw Error("no command to run", Error::Kind::kUsage);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // The environment is built before fork: the child may only make async-signal-safe calls.
  std::vector<std::string> env_strings;
  std::vector<char*> env;
  if (!options.environment.empty()) {
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string_view entry = *e;
      const auto name = entry.substr(0, entry.find('=') + 1);
      const bool replaced =
          std::any_of(options.environment.begin(), options.environment.end(),
                      [&](const std::string& x) { return x.rfind(name, 0) == 0; });
      if (!replaced) env_strings.emplace_back(entry);
    }
    env_strings.insert(env_strings.end(), options.environment.begin(), options.environment.end());
    for (auto& e : env_strings) env.push_back(e.data());
    env.push_back(nullptr);
  }

  // A close-on-exec pipe: EOF means exec succeeded; a ChildFailure means it did not.
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw SpawnError(std::string("cannot start ") + argv[0] + ": fork: " + std::strerror(err), 0);
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    ::close(pipe_fds[0]);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      // The parent may have died between fork and prctl: then no signal would ever come.
      if (::getppid() != parent) ::_exit(137);
    }
    if (options.new_process_group) ::setpgid(0, 0);
    if (options.stdout_to_stderr) ::dup2(2, 1);
    if (options.null_stdin) {
      const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (null_fd >= 0) ::dup2(null_fd, 0);
    }
    if (options.cgroup_procs) {
      const int fd = ::open(options.cgroup_procs->c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0 || ::write(fd, "0", 1) != 1) child_fail(pipe_fds[1], 1);
      ::close(fd);
    }
    if (!env.empty()) environ = env.data();
    ::execvp(args[0], args.data());
    child_fail(pipe_fds[1], 2);
  }
  ::close(pipe_fds[1]);
  ChildFailure failure{};
  ssize_t n = 0;
  do {
    n = ::read(pipe_fds[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  ::close(pipe_fds[0]);
  if (n == static_cast<ssize_t>(sizeof failure)) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (failure.stage == 1) {
      throw SpawnError("cannot move the command into " + *options.cgroup_procs + ": " +
                           std::strerror(failure.err),
                       0);
    }
    throw SpawnError("cannot run " + argv[0] + ": " + std::strerror(failure.err), failure.err);
  }
  return pid;
}

std::optional<ExitStatus> try_wait(pid_t pid) {
  int status = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return std::nullopt;
  if (r < 0) throw Error(std::string("waitpid: ") + std::strerror(errno));
  if (WIFSIGNALED(status)) return ExitStatus{128 + WTERMSIG(status), WTERMSIG(status)};
  return ExitStatus{WEXITSTATUS(status), std::nullopt};
}

void send_signal(pid_t pid, int signal) noexcept { ::kill(pid, signal); }

AsyncSignalsBlocked::AsyncSignalsBlocked() noexcept {
  sigset_t all;
  ::sigfillset(&all);
  for (const int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS}) {
    ::sigdelset(&all, fault);
  }
  ::pthread_sigmask(SIG_BLOCK, &all, &previous_);
}

AsyncSignalsBlocked::~AsyncSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

bool on_fork_in_child(void (*handler)()) noexcept {
  return ::pthread_atfork(nullptr, nullptr, handler) == 0;
}

void send_group_signal(pid_t pgid, int signal) noexcept { ::kill(-pgid, signal); }

SignalWaiter::SignalWaiter() {
  sigemptyset(&set_);
  for (const int s : {SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&set_, s);
  ::sigprocmask(SIG_BLOCK, &set_, &previous_);
  fd_ = ::signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC);
}

SignalWaiter::~SignalWaiter() {
  if (fd_ >= 0) ::close(fd_);
  // Drop what is still pending (a SIGCHLD, mostly) so unblocking does not deliver it.
  const timespec zero{};
  while (::sigtimedwait(&set_, nullptr, &zero) > 0) {
  }
  ::sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

std::optional<SignalWaiter::Received> SignalWaiter::wait(std::chrono::milliseconds timeout) const {
  const auto ms = timeout.count() < 0 ? 0 : timeout.count();
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1'000'000)};
  for (;;) {
    siginfo_t info{};
    const int s = ::sigtimedwait(&set_, &info, &ts);
    // SI_USER, SI_QUEUE, SI_TKILL are <= 0; the terminal's signals come as SI_KERNEL.
    if (s > 0) return Received{s, info.si_code <= 0};
    if (errno == EAGAIN) return std::nullopt;
    if (errno != EINTR) return std::nullopt;
  }
}

void pause_for(std::chrono::milliseconds duration) noexcept {
  const auto ms = duration.count();
  timespec left{static_cast<time_t>(ms / 1000), static_cast<long>(ms % 1000) * 1'000'000L};
  while (::nanosleep(&left, &left) != 0 && errno == EINTR) {
  }
}

std::chrono::steady_clock::time_point steady_now() noexcept {
  return std::chrono::steady_clock::now();
}

}  // namespace memopt::sys
