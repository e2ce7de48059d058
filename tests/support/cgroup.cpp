#include "support/cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/tree.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;

namespace memopt::testing {

namespace {

void write_file(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) throw std::runtime_error("cannot write '" + value + "' to " + path);
}

/// This process's cgroup path in the hierarchy whose /proc/self/cgroup line satisfies `match`.
std::string own_path(bool v1_memory) {
  std::istringstream lines(slurp("/proc/self/cgroup"));
  for (std::string line; std::getline(lines, line);) {
    const auto a = line.find(':');
    const auto b = line.find(':', a + 1);
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const bool is_memory = ("," + controllers + ",").find(",memory,") != std::string::npos;
    if (v1_memory ? is_memory : line.rfind("0::", 0) == 0) return line.substr(b + 1);
  }
  return {};
}

}  // namespace

std::unique_ptr<TestCgroup> TestCgroup::create(std::string* why_not, const std::string& name) {
  if (geteuid() != 0) {
    *why_not = "not root: cannot create cgroups";
    return nullptr;
  }
  std::string parent;
  int version = 0;
  if (const auto v1 = own_path(true);
      !v1.empty() && fs::exists("/sys/fs/cgroup/memory/memory.usage_in_bytes")) {
    parent = "/sys/fs/cgroup/memory" + v1;
    version = 1;
  } else if (const auto v2 = own_path(false);
             !v2.empty() && fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
    parent = "/sys/fs/cgroup" + v2;
    version = 2;
    std::ifstream subtree(parent + "/cgroup.subtree_control");
    std::string controllers((std::istreambuf_iterator<char>(subtree)), {});
    if (controllers.find("memory") == std::string::npos) {
      *why_not = "cgroup v2: memory controller not delegated to children of " + parent;
      return nullptr;
    }
  } else {
    *why_not = "no cgroup memory controller mounted";
    return nullptr;
  }
  const std::string dir =
      parent + "/memopt-" + name + "-" + std::to_string(getpid()) + "-" +
      std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::error_code ec;
  if (!fs::create_directory(dir, ec)) {
    *why_not = "cannot create " + dir + ": " + ec.message();
    return nullptr;
  }
  return std::unique_ptr<TestCgroup>(new TestCgroup(dir, version));
}

TestCgroup::~TestCgroup() {
  // Kill what is left inside, then remove the directory once the kernel lets go of it.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::ifstream procs(dir_ + "/cgroup.procs");
    bool any = false;
    for (pid_t pid = 0; procs >> pid;) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any && ::rmdir(dir_.c_str()) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::fprintf(stderr, "warning: could not remove test cgroup %s\n", dir_.c_str());
}

void TestCgroup::set_limit(std::uint64_t bytes) const {
  write_file(dir_ + (version_ == 1 ? "/memory.limit_in_bytes" : "/memory.max"),
             std::to_string(bytes));
}

void TestCgroup::add(pid_t pid) const { write_file(dir_ + "/cgroup.procs", std::to_string(pid)); }

std::vector<std::string> TestCgroup::enter_command() const {
  return {"sh", "-c", "echo $$ > '" + dir_ + "/cgroup.procs' && exec \"$@\"", "sh"};
}

Holder::Holder() {
  int down[2];
  int up[2];
  if (::pipe2(down, O_CLOEXEC) != 0 || ::pipe2(up, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    ::dup2(down[0], 0);
    ::dup2(up[1], 1);
    ::execl(MEMOPT_HOLDER, MEMOPT_HOLDER, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(down[0]);
  ::close(up[1]);
  to_child_ = down[1];
  from_child_ = up[0];
}

Holder::~Holder() {
  ::close(to_child_);
  ::close(from_child_);
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
}

bool Holder::hold(unsigned mib) {
  const std::string line = std::to_string(mib) + "\n";
  if (::write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
    return false;
  char reply[8];
  return ::read(from_child_, reply, sizeof reply) > 0;
}

}  // namespace memopt::testing
