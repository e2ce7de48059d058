// `memopt report` and `memopt diagnose` on this machine's real /proc, with the fake NVML
// (tests/nvml/fake_nvml.c) listing real processes: a pid that has exited, a zombie, a process
// with contexts on two GPUs, one with LOCAL_RANK=1 whose context is on GPU 0, and a normal
// one. The verdicts and their bytes are in the JSON, the findings in diagnose, and no process
// is killed for them.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::cli {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

bool in_initial_pid_namespace() {
  char link[64] = {};
  const auto n = ::readlink("/proc/self/ns/pid", link, sizeof link - 1);
  return n > 0 && std::string(link, static_cast<std::size_t>(n)) == "pid:[4026531836]";
}

char state_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

// A child that has exited and is not reaped until the object goes.
class Zombie {
 public:
  Zombie() {
    pid_ = ::fork();
    if (pid_ == 0) ::_exit(0);
    for (int i = 0; i < 500 && state_of(pid_) != 'Z'; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Zombie() { ::waitpid(pid_, nullptr, 0); }
  Zombie(const Zombie&) = delete;
  Zombie& operator=(const Zombie&) = delete;
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// A pid that existed a moment ago and has been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

const Json* verdict(const Json& verdicts, std::string_view kind, pid_t pid) {
  for (const auto& v : verdicts) {
    if (v["kind"] == kind && v["pid"] == pid) return &v;
  }
  return nullptr;
}

TEST(GpuVerdictsReport, DeadZombieTwoGpusAndWrongRankGetVerdictsAndNothingIsKilled) {
  if (!in_initial_pid_namespace()) GTEST_SKIP() << "needs the host's pid namespace";
  testing::Background normal({"sleep", "300"});
  testing::Background two_gpus({"sleep", "300"});
  testing::Background rank1({"sleep", "300"}, {"LOCAL_RANK=1"});
  Zombie zombie;
  ASSERT_EQ(state_of(zombie.pid()), 'Z');
  const pid_t dead = dead_pid();

  testing::TempTree tree;
  const std::string script = fmt::format(
      "count 2\n"
      "device 0 16106127360 314572800 8589934592 7201619968 GPU-aaaa-0000 Tesla T4\n"
      "device 1 16106127360 314572800 14000000000 1791554560 GPU-bbbb-1111 Tesla T4\n"
      "minor 0 0\nminor 1 1\n"
      "process 0 compute {} {}\n"   // dead: 700 MiB
      "process 0 compute {} {}\n"   // zombie: 300 MiB
      "process 0 compute {} {}\n"   // normal: 1 GiB
      "process 0 compute {} {}\n"   // two GPUs: 2 GiB here ...
      "process 1 compute {} {}\n"   // ... and 500 MiB here
      "process 0 compute {} {}\n",  // LOCAL_RANK=1 on GPU 0: 400 MiB
      dead, 700 * kMiB, zombie.pid(), 300 * kMiB, normal.pid(), 1024 * kMiB, two_gpus.pid(),
      2048 * kMiB, two_gpus.pid(), 500 * kMiB, rank1.pid(), 400 * kMiB);
  const std::vector<std::string> env{
      "MEMOPT_NVML_LIBRARY=" + std::string(MEMOPT_FAKE_NVML_DIR) + "/full/libnvidia-ml.so.1",
      "FAKE_NVML_SCRIPT=" + tree.write("script", script)};

  const auto result = testing::run_memopt({"report", "--json"}, env);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto report = Json::parse(result.out);
  ASSERT_TRUE(report.contains("gpu_verdicts")) << result.out;
  const auto& verdicts = report["gpu_verdicts"];

  const auto* gone = verdict(verdicts, "gpu_orphan", dead);
  ASSERT_NE(gone, nullptr) << verdicts.dump(2);
  EXPECT_EQ((*gone)["reason"], "gone");
  EXPECT_EQ((*gone)["bytes"], 700 * kMiB);
  EXPECT_EQ((*gone)["gpus"], Json::array({0}));
  EXPECT_TRUE((*gone)["holders"].is_array());  // read: who holds /dev/nvidia0 (nobody here)

  const auto* zombie_verdict = verdict(verdicts, "gpu_orphan", zombie.pid());
  ASSERT_NE(zombie_verdict, nullptr) << verdicts.dump(2);
  EXPECT_EQ((*zombie_verdict)["reason"], "zombie");
  EXPECT_EQ((*zombie_verdict)["bytes"], 300 * kMiB);

  const auto* both = verdict(verdicts, "gpu_wrong_device", two_gpus.pid());
  ASSERT_NE(both, nullptr) << verdicts.dump(2);
  EXPECT_EQ((*both)["bytes"], 2548 * kMiB);
  EXPECT_EQ((*both)["gpus"], Json::array({0, 1}));
  EXPECT_THAT((*both)["fix"].get<std::string>(), HasSubstr("torch.cuda.set_device(local_rank)"));

  const auto* wrong = verdict(verdicts, "gpu_wrong_device", rank1.pid());
  ASSERT_NE(wrong, nullptr) << verdicts.dump(2);
  EXPECT_EQ((*wrong)["local_rank"], 1);
  EXPECT_EQ((*wrong)["expected_gpu"], 1);
  EXPECT_EQ((*wrong)["gpus"], Json::array({0}));
  EXPECT_EQ((*wrong)["bytes"], 400 * kMiB);

  EXPECT_EQ(verdicts.size(), 4u) << verdicts.dump(2);  // the normal process has none

  const auto diagnosed = testing::run_memopt({"diagnose", "--json"}, env);
  ASSERT_EQ(diagnosed.exit_code, 0) << diagnosed.err;
  const auto doc = Json::parse(diagnosed.out);
  int orphans = 0;
  int wrong_device = 0;
  for (const auto& f : doc["findings"]) {
    if (f["id"] == "gpu_orphan") {
      ++orphans;
    } else if (f["id"] == "gpu_wrong_device") {
      ++wrong_device;
      EXPECT_THAT(f["fix"].get<std::string>(), HasSubstr("map_location"));
    }
  }
  EXPECT_EQ(orphans, 2);
  EXPECT_EQ(wrong_device, 2);

  const auto metrics = testing::run_memopt({"report", "--format", "prometheus"}, env);
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  EXPECT_THAT(metrics.out, HasSubstr(fmt::format("memopt_gpu_orphan_bytes {}", 1000 * kMiB)));
  EXPECT_THAT(metrics.out, HasSubstr("memopt_gpu_wrong_device_processes 2"));

  // Verdicts only: every process is still there, the zombie still unreaped.
  for (const pid_t pid : {normal.pid(), two_gpus.pid(), rank1.pid()}) {
    EXPECT_EQ(::kill(pid, 0), 0) << pid;
    EXPECT_NE(state_of(pid), 'Z') << pid;
  }
  EXPECT_EQ(state_of(zombie.pid()), 'Z');
}

}  // namespace
}  // namespace memopt::cli
