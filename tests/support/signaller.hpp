#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "memopt/actions/protect.hpp"

// A fake of protection's signals for unit tests: records what would be sent.
namespace memopt::testing {

/// Records each signal; a process "exits" when exit_on() says so for the signal it got. The
/// "live kernel" it inspects is a tree (set_procfs), which a test may change when a process is
/// held (on_hold): a pid reused between the choice and the signal.
class RecordingSignaller final : public actions::Signaller {
 public:
  struct Sent {
    int pid;
    int signal;
  };
  int hold(int pid) override;
  /// Reads <procfs>/<pid>/{stat,cgroup,exe} of the tree given to set_procfs (ESRCH without).
  int inspect(int pid, sys::LiveProcess& out) override;
  bool reaches(const std::string& /*procfs*/) override { return reaches_; }
  int send(int pid, int signal) override;
  bool exited(int pid) override;
  void release(int /*pid*/) override {}
  /// The signal that ends a process (0: none does).
  void set_exit_on(int signal) { exit_on_ = signal; }
  [[nodiscard]] const std::vector<Sent>& sent() const { return sent_; }
  /// The tree inspect() reads as the live kernel's.
  void set_procfs(std::string procfs) { procfs_ = std::move(procfs); }
  /// What reaches() answers (default true).
  void set_reaches(bool reaches) { reaches_ = reaches; }
  /// Called by hold() before it answers.
  std::function<void(int pid)> on_hold;
  /// pids that are gone: hold() answers ESRCH.
  std::vector<int> gone;

 private:
  std::vector<Sent> sent_;
  std::string procfs_;
  bool reaches_ = true;
  std::map<int, bool> ended_;
  int exit_on_ = 0;
};

}  // namespace memopt::testing
