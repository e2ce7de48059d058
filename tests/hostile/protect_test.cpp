// Hostile tenants against `monitor --protect` (issue 31): a process with a 5 MiB command line
// and a --protect-pidfile that is a FIFO or a link to /dev/zero each made the monitor exit at
// the moment of danger (the kernel then OOM-killed); a --procfs tree that is not the live /proc
// got a live process outside the target SIGTERMed. Protection must go on and act before the
// kernel, and never signal what it cannot verify in the live kernel.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

using testing::alive;

/// A child that does nothing until killed (reaped when destroyed).
class Sleeper {
 public:
  Sleeper() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~Sleeper() {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Sleeper(const Sleeper&) = delete;
  Sleeper& operator=(const Sleeper&) = delete;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A captured tree (the v2 fixture, its container at danger) that lists a live process of this
// host, outside any target, as the container's largest: the pid means nothing on this machine.
TEST(HostileProtect, ACapturedTreeNeverGetsALiveProcessSignalled) {
  Sleeper bystander;
  testing::TempTree tree;
  tree.copy_fixture("v2-nested-parent-limit");
  const std::string ctr = "sys/fs/cgroup/kubepods/pod1/ctr/";
  tree.write(ctr + "memory.current", std::to_string(1024 * kMiB - 10 * kMiB) + "\n");
  auto stat = testing::slurp(tree.path(ctr + "memory.stat"));
  const auto at = stat.find("inactive_file ");
  ASSERT_NE(at, std::string::npos);
  stat.replace(at, stat.find('\n', at) - at, "inactive_file 0");
  tree.write(ctr + "memory.stat", stat);
  const std::string pid = std::to_string(bystander.pid());
  tree.write(ctr + "cgroup.procs", "1\n" + pid + "\n");
  const std::string dir = "proc/" + pid + "/";
  tree.write(dir + "comm", "bystander\n");
  tree.write(dir + "cmdline", std::string("bystander\0", 10));
  tree.write(dir + "cgroup", "0::/kubepods/pod1/ctr\n");
  tree.write(dir + "oom_score_adj", "0\n");
  tree.write(dir + "status", "Name:\tbystander\nNSpid:\t" + pid + "\n");
  tree.write(dir + "smaps_rollup",
             "00400000-7fff0000 ---p 00000000 00:00 0 [rollup]\nRss: 512000 kB\nPss: 512000 kB\n"
             "Private_Clean: 0 kB\nPrivate_Dirty: 512000 kB\nSwap: 0 kB\n");
  std::ifstream live_stat("/proc/" + pid + "/stat");
  std::string stat_line;
  std::getline(live_stat, stat_line);
  tree.write(dir + "stat", stat_line + "\n");  // even its start time is the live one's
  const auto r = testing::run_command(
      {"timeout", "20", MEMOPT_BINARY, "--procfs", tree.path("proc"), "--sysfs", tree.path("sys"),
       "monitor", "1", "--protect", "--json", "--duration", "2"},
      {kNoNvml});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(alive(bystander.pid())) << "a live process was signalled from a captured tree";
  EXPECT_THAT(r.err, HasSubstr("is not the live /proc")) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("\"signal\":\"SIGTERM\""))) << r.out;
}

// Levels for a 400 MiB cgroup, as in the integration suite: danger under 100 MiB available.
std::string config_file(const testing::TempTree& tree) {
  return tree.write("protect.toml",
                    "[thresholds]\nacceptable_percent = 40\nwarning_percent = 50\n"
                    "severe_percent = 60\ndanger_available = \"100M\"\n"
                    "[protect]\nenabled = true\nforecast_s = 0\ngrace_ms = 3000\n");
}

/// memopt_test_holder started with a command line of `argv_mib` MiB (many 100 KiB arguments;
/// the stack limit raised so that exec takes them), in `cgroup_dir`, idle on an open stdin.
class LongArgv {
 public:
  LongArgv(const std::string& cgroup_dir, unsigned argv_mib) {
    int to_child[2];
    EXPECT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
    std::vector<std::string> args(1, "long-argv");
    for (unsigned i = 0; i < argv_mib * 10; ++i) args.emplace_back(100 * 1024, 'a');
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      const rlimit stack{RLIM_INFINITY, RLIM_INFINITY};
      ::setrlimit(RLIMIT_STACK, &stack);
      std::ofstream(cgroup_dir + "/cgroup.procs") << ::getpid() << std::flush;
      ::execv(MEMOPT_HOLDER, argv.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    to_child_ = to_child[1];
  }
  ~LongArgv() {
    ::close(to_child_);
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  LongArgv(const LongArgv&) = delete;
  LongArgv& operator=(const LongArgv&) = delete;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
};

std::size_t cmdline_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), {}).size();
}

TEST(HostileProtect, ALongCommandLineAndFifoOrDevZeroPidFilesDoNotStopProtection) {
  std::string why_not;
  const auto cgroup = testing::TestCgroup::create(&why_not, "hostile-protect");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(400 * kMiB);
  testing::TempTree tree;
  const auto fifo = tree.path("server.pid");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);  // nobody ever writes it
  const auto zero = tree.path("zero.pid");
  ASSERT_EQ(::symlink("/dev/zero", zero.c_str()), 0);
  LongArgv long_argv(cgroup->dir(), 5);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (cmdline_bytes(long_argv.pid()) < (4u << 20) && Clock::now() < deadline) ::usleep(20'000);
  ASSERT_GT(cmdline_bytes(long_argv.pid()), 4u << 20) << "the long command line did not start";
  testing::Holder allocator;
  cgroup->add(allocator.pid());
  ASSERT_TRUE(allocator.hold(10));

  auto argv = cgroup->enter_command();
  argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", "1", "--json", "--config", config_file(tree),
                           "--protect-pidfile", fifo, "--protect-pidfile", zero});
  testing::Background monitor(argv, {kNoNvml, "MEMOPT_RUNTIME_DIR=" + tree.mkdir("run")});
  ASSERT_FALSE(testing::next_json_line(monitor, "sample", "", 10'000).is_null());
  (void)allocator.hold(320);  // danger (it may be ended before it answers)
  const auto kill = testing::next_json_line(monitor, "event", "kill", 10'000);
  ASSERT_FALSE(kill.is_null()) << "no kill: the monitor stopped or never decided";
  EXPECT_EQ(kill["pid"], allocator.pid());
  EXPECT_EQ(kill["signal"], "SIGTERM");
  const auto gone_by = Clock::now() + std::chrono::seconds(10);
  while (alive(allocator.pid()) && Clock::now() < gone_by) ::usleep(20'000);
  EXPECT_FALSE(alive(allocator.pid()));
  EXPECT_TRUE(alive(long_argv.pid()));
  EXPECT_EQ(monitor.stop(SIGTERM), 0) << "the monitor did not keep running";
}

}  // namespace
}  // namespace memopt
