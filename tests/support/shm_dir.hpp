#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace memopt::testing {

/// A fresh directory on the machine's /dev/shm tmpfs (same device as /dev/shm), removed with
/// its files at the end; `write` makes files with real pages.
class ShmTestDir {
 public:
  ShmTestDir() {
    std::string templ = "/dev/shm/memopt-shm-test-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp in /dev/shm";
    path_ = templ;
  }
  ~ShmTestDir() { (void)std::system(("rm -rf '" + path_ + "'").c_str()); }
  ShmTestDir(const ShmTestDir&) = delete;
  ShmTestDir& operator=(const ShmTestDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }
  void write(const std::string& name, std::size_t bytes) const {
    std::ofstream(path_ + "/" + name, std::ios::binary) << std::string(bytes, 'x');
  }

 private:
  std::string path_;
};

/// A pid that is not alive: a child that has exited and been reaped.
inline int dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

}  // namespace memopt::testing
