// workers_copy against a real torch DataLoader (Debian's python3-torch) in a real memory cgroup:
// forked workers that read a Python list of dicts copy it page by page; memopt monitor, from
// outside the cgroup, says so before the kernel kills. The same data as one numpy buffer
// (mmengine's serialize_data) is never copied and raises nothing.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

using Clock = std::chrono::steady_clock;
const std::vector<std::string> kNoGpu{"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"};
constexpr const char* kPython = "/usr/bin/python3";

std::string script() {
  return std::string(MEMOPT_SOURCE_DIR) + "/tests/integration/dataloader_copy.py";
}

bool have_torch() {
  if (::access(kPython, X_OK) != 0) return false;
  return run_command({kPython, "-c", "import torch"}).exit_code == 0;
}

std::uint64_t cgroup_usage(const TestCgroup& cgroup) {
  std::ifstream in(cgroup.dir() +
                   (cgroup.version() == 1 ? "/memory.usage_in_bytes" : "/memory.current"));
  std::uint64_t bytes = 0;
  in >> bytes;
  return bytes;
}

struct Job {
  std::unique_ptr<Background> process;
  nlohmann::json ready;
  std::uint64_t limit = 0;
};

/// Starts the DataLoader job in `cgroup`, waits for its infos, and sets the limit: the job's
/// usage then plus 160 MiB. 80k infos take ~75 MiB in the parent, of which a worker that reads
/// them all copies ~55 MiB (measured with torch 1.13, Python 3.11): the limit holds the parent
/// and one copy, never four.
Job start_job(const TestCgroup& cgroup, const TempTree& tree, bool numpy) {
  auto argv = cgroup.enter_command();
  argv.insert(argv.end(),
              {kPython, script(), "--items", "80000", "--workers", "4", "--batch", "16", "--sleep",
               numpy ? "0.002" : "0.02", "--epochs", numpy ? "1" : "3", "--go", tree.path("go")});
  if (numpy) argv.emplace_back("--numpy");
  Job job;
  job.process = std::make_unique<Background>(argv);
  job.ready = next_json_line(
      *job.process, [](const nlohmann::json& j) { return j.contains("ready"); }, 50'000);
  if (job.ready.is_null()) return job;
  job.limit = cgroup_usage(cgroup) + 160 * kMiB;
  cgroup.set_limit(job.limit);
  return job;
}

/// The children of `pid` (its main thread's), from procfs; empty when it has none or is gone.
std::set<int> children_of(int pid) {
  std::ifstream in(fmt::format("/proc/{}/task/{}/children", pid, pid));
  std::set<int> children;
  for (int child = 0; in >> child;) children.insert(child);
  return children;
}

/// The first of two events the monitor says (null after `timeout_ms`).
nlohmann::json first_event(Background& monitor, const std::string& one, const std::string& other,
                           int timeout_ms) {
  return next_json_line(
      monitor,
      [&](const nlohmann::json& j) {
        const auto event = j.value("event", "");
        return j.value("type", "") == "event" && (event == one || event == other);
      },
      timeout_ms);
}

TEST(WorkersCopy, ADataLoaderCopyingItsInfosIsNamedBeforeTheKernelKills) {
  if (!have_torch()) GTEST_SKIP() << kPython << " has no torch (Debian's python3-torch)";
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "workers-copy-list");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  TempTree tree;
  auto job = start_job(*cgroup, tree, false);
  ASSERT_FALSE(job.ready.is_null()) << "the DataLoader job never built its infos";

  // The monitor's default interval (60 s): the copy and the kill come between two full
  // samples, so the groups must be looked at between them.
  Background monitor({MEMOPT_BINARY, "monitor", "--json", "--cgroup", cgroup->dir()}, kNoGpu);
  ASSERT_FALSE(next_json_line(monitor, "sample", "", 10'000).is_null());
  tree.write("go", "");

  // The first of workers_copy and oom_kill must be workers_copy.
  const auto first = first_event(monitor, "workers_copy", "oom_kill", 40'000);
  ASSERT_FALSE(first.is_null()) << "neither workers_copy nor an OOM kill within 40 s";
  ASSERT_EQ(first["event"], "workers_copy") << first.dump();
  // The group line, while the workers are alive.
  const auto report = run_memopt({"report", "--cgroup", cgroup->dir()}, kNoGpu);

  EXPECT_EQ(first["pid"], job.ready["pid"]) << first.dump();
  EXPECT_EQ(first["workers"].size(), 4u) << first.dump();
  // Said once the projection passes 90% of the limit.
  EXPECT_GT(first["projected_bytes"].get<std::uint64_t>(), job.limit / 10 * 9) << first.dump();
  // Fewer than the four that do not fit (early in the copy the projection takes all a worker
  // still shares with the parent as its end, an upper bound).
  const auto max_workers = first["max_workers"].get<unsigned>();
  EXPECT_LT(max_workers, 4u) << first.dump();
  const std::string message = first["message"];
  EXPECT_NE(message.find("num_workers=" + std::to_string(max_workers)), std::string::npos)
      << message;
  EXPECT_NE(message.find("serialize_data"), std::string::npos) << message;

  EXPECT_NE(report.out.find(fmt::format("(pid {}) + 4 workers:", job.ready["pid"].get<int>())),
            std::string::npos)
      << report.out << report.err;
  // Left to run, the kernel kills (the sizes are chosen so): memopt spoke first.
  const auto oom = next_json_line(monitor, "event", "oom_kill", 40'000);
  EXPECT_FALSE(oom.is_null()) << "no OOM kill: the limit was not too small for 4 copies";
}

// Protection without hints (no prefer, no protect list): at danger it ends a worker that
// copies its parent's memory, never the parent, which holds the data every worker needs and
// is the largest process whose PSS grows too (its workers stop sharing its pages): the rules
// "largest first" and "the fastest grower among the largest" alone would end it.
TEST(WorkersCopy, ProtectionEndsACopyingWorkerNotItsParent) {
  if (!have_torch()) GTEST_SKIP() << kPython << " has no torch (Debian's python3-torch)";
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "workers-copy-protect");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  TempTree tree;
  auto job = start_job(*cgroup, tree, false);
  ASSERT_FALSE(job.ready.is_null()) << "the DataLoader job never built its infos";
  const auto config = tree.write("protect.toml",
                                 "[thresholds]\ndanger_available = \"64M\"\n"
                                 "[protect]\nenabled = true\nforecast_s = 0\ngrace_ms = 3000\n");
  Background monitor(
      {MEMOPT_BINARY, "monitor", "1", "--json", "--cgroup", cgroup->dir(), "--config", config},
      {kNoGpu[0], "MEMOPT_RUNTIME_DIR=" + tree.mkdir("run")});
  ASSERT_FALSE(next_json_line(monitor, "sample", "", 10'000).is_null());
  tree.write("go", "");
  // The persistent workers, as the kernel lists the parent's children once all four started.
  const int parent = job.ready["pid"];
  std::set<int> workers;
  for (const auto until = Clock::now() + std::chrono::seconds(20);
       workers.size() < 4 && Clock::now() < until; workers = children_of(parent)) {
    ::usleep(20'000);
  }
  ASSERT_EQ(workers.size(), 4u) << "the DataLoader did not start its 4 workers";

  // Protection may act before the group is classified copy-on-read (the copies come fast),
  // and a worker may be the fastest grower of all by then: whichever rule speaks, one of the
  // parent's workers goes, never the parent.
  const auto decisive = first_event(monitor, "kill", "oom_kill", 90'000);
  ASSERT_FALSE(decisive.is_null()) << "neither a kill nor an OOM kill within 90 s";
  ASSERT_EQ(decisive["event"], "kill") << "the kernel killed first: " << decisive.dump();
  EXPECT_TRUE(workers.contains(decisive["pid"].get<int>()))
      << "not one of the parent's workers: " << decisive.dump();
}

TEST(WorkersCopy, TheSameInfosAsANumpyBufferRaiseNothing) {
  if (!have_torch()) GTEST_SKIP() << kPython << " has no torch (Debian's python3-torch)";
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "workers-copy-numpy");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  TempTree tree;
  auto job = start_job(*cgroup, tree, true);
  ASSERT_FALSE(job.ready.is_null()) << "the DataLoader job never built its infos";

  Background monitor({MEMOPT_BINARY, "monitor", "1", "--json", "--cgroup", cgroup->dir()}, kNoGpu);
  ASSERT_FALSE(next_json_line(monitor, "sample", "", 10'000).is_null());
  tree.write("go", "");
  // One epoch over every item, then everything the monitor said meanwhile (still in its pipe):
  // no workers_copy, no kill.
  const auto done = next_json_line(
      *job.process, [](const nlohmann::json& j) { return j.contains("epoch"); }, 45'000);
  ASSERT_FALSE(done.is_null()) << "the numpy job did not finish its epoch";
  const auto said = next_json_line(
      monitor,
      [](const nlohmann::json& j) {
        return j.value("event", "") == "workers_copy" || j.value("event", "") == "oom_kill";
      },
      1'000);
  EXPECT_TRUE(said.is_null()) << said.dump();
}

}  // namespace
}  // namespace memopt::testing
