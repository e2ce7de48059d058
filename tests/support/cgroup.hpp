#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace memopt::testing {

/// A child memory cgroup of this test process's own cgroup, created for one test and removed
/// (after killing what is left inside) when destroyed. Works on v1/hybrid (the memory
/// hierarchy) and on v2 where the parent delegates the memory controller.
class TestCgroup {
 public:
  /// Creates the cgroup, or returns nullptr and sets `why_not` (not root, no controller, ...).
  /// Its name is "memopt-<name>-<pid>-<time>".
  static std::unique_ptr<TestCgroup> create(std::string* why_not, const std::string& name = "test");
  ~TestCgroup();
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  /// Sets the memory limit (v1 memory.limit_in_bytes, v2 memory.max).
  void set_limit(std::uint64_t bytes) const;
  /// Moves `pid` into the cgroup.
  void add(pid_t pid) const;
  /// A shell prefix that moves the shell into this cgroup, then execs the rest:
  /// {"sh", "-c", "echo $$ > DIR/cgroup.procs && exec \"$@\"", "sh"}.
  [[nodiscard]] std::vector<std::string> enter_command() const;

  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] int version() const { return version_; }

 private:
  TestCgroup(std::string dir, int version) : dir_(std::move(dir)), version_(version) {}
  std::string dir_;
  int version_;
};

/// A child process that holds a given amount of touched anonymous memory, on request.
/// It runs `memopt_test_holder`, built with the tests.
class Holder {
 public:
  Holder();
  ~Holder();
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;

  /// Makes the holder hold exactly `mib` MiB of touched memory; returns when done.
  /// Returns false when the holder died (e.g. OOM-killed).
  bool hold(unsigned mib);
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
};

}  // namespace memopt::testing
