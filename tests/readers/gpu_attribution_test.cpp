// Matching NVML's process entries (host pids) to processes visible here: the pure matcher
// (self-report, elimination), the /proc/PID/fd reader, and `memopt report` in a real PID
// namespace (unshare) with the fake NVML listing the outer pids of processes that hold fake
// /dev/nvidiaN files open.
#include "memopt/readers/gpu_attribution.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::readers {
namespace {

using model::GpuAttribution;
using ::testing::HasSubstr;

model::GpuDevice gpu(unsigned index, std::string uuid, std::optional<unsigned> minor,
                     std::vector<std::pair<std::uint32_t, std::uint64_t>> entries) {
  model::GpuDevice device;
  device.index = index;
  device.name = "GPU " + std::to_string(index);
  device.uuid = std::move(uuid);
  device.minor_number = minor;
  for (const auto& [pid, bytes] : entries)
    device.processes.push_back({pid, std::nullopt, bytes, GpuAttribution::kNone, std::nullopt});
  return device;
}

model::ProcessStats report(int pid, std::vector<model::TorchDeviceMemory> torch) {
  model::ProcessStats stats;
  stats.pid = pid;
  stats.torch = std::move(torch);
  return stats;
}

model::TorchDeviceMemory torch(unsigned device, std::uint64_t reserved,
                               std::optional<std::string> uuid = std::nullopt) {
  model::TorchDeviceMemory memory;
  memory.device = device;
  memory.uuid = std::move(uuid);
  memory.allocated_bytes = reserved / 2;
  memory.reserved_bytes = reserved;
  return memory;
}

TEST(NvidiaDeviceMinor, CharacterDevicesOfMajor195AndDevNvidiaPaths) {
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia0", 195u, 0u}), 0u);
  EXPECT_EQ(nvidia_device_minor({"/whatever", 195u, 3u}), 3u);  // the numbers decide
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidiactl", 195u, 255u}), std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia-modeset", 195u, 254u}), std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia-uvm", 508u, 0u}), std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia7", std::nullopt, std::nullopt}), 7u);  // a file
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia12", std::nullopt, std::nullopt}), 12u);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidiactl", std::nullopt, std::nullopt}), std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia-caps/nvidia-cap1", std::nullopt, std::nullopt}),
            std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia", std::nullopt, std::nullopt}), std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"/dev/nvidia0 (deleted)", std::nullopt, std::nullopt}),
            std::nullopt);
  EXPECT_EQ(nvidia_device_minor({"socket:[1234]", std::nullopt, std::nullopt}), std::nullopt);
}

TEST(MatchGpuProcesses, SelfReportFitsReservedPlusContext) {
  // pid 40 reports 2 GiB reserved: an entry of 2.5 GiB fits (context 512 MiB), 8 GiB does not.
  std::vector<model::GpuDevice> gpus{
      gpu(0, "GPU-a", 0, {{5001, 2 * kGiB + 512 * kMiB}, {5002, 8 * kGiB}})};
  match_gpu_processes(gpus, {report(40, {torch(0, 2 * kGiB)})}, {});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kSelfReport);
  EXPECT_EQ(gpus[0].processes[0].local_pid, 40);
  EXPECT_EQ(gpus[0].processes[1].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[0].processes[1].local_pid, std::nullopt);
}

TEST(MatchGpuProcesses, SelfReportWindowEdges) {
  // reserved 4 GiB, context 512 MiB: expected 4.5 GiB, slack 512 MiB + 5% of 4.5 GiB.
  const std::uint64_t expected = 4 * kGiB + 512 * kMiB;
  const std::uint64_t slack = 512 * kMiB + expected / 100 * 5;
  for (const auto& [bytes, fits] : std::vector<std::pair<std::uint64_t, bool>>{
           {expected + slack, true},
           {expected + slack + 1, false},
           {4 * kGiB, true},       // the context may be smaller than guessed...
           {4 * kGiB - 1, false},  // ...but NVML never shows less than the reserved bytes
       }) {
    std::vector<model::GpuDevice> gpus{gpu(0, "GPU-a", 0, {{5001, bytes}})};
    match_gpu_processes(gpus, {report(40, {torch(0, 4 * kGiB)})}, {});
    EXPECT_EQ(gpus[0].processes[0].attributed_by == GpuAttribution::kSelfReport, fits) << bytes;
  }
}

TEST(MatchGpuProcesses, SelfReportThatFitsTwoEntriesTakesNone) {
  std::vector<model::GpuDevice> gpus{
      gpu(0, "GPU-a", 0, {{5001, 2 * kGiB + 400 * kMiB}, {5002, 2 * kGiB + 600 * kMiB}})};
  match_gpu_processes(gpus, {report(40, {torch(0, 2 * kGiB)})}, {});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[0].processes[1].attributed_by, GpuAttribution::kNone);
}

TEST(MatchGpuProcesses, EntryThatFitsTwoReportsTakesNone) {
  std::vector<model::GpuDevice> gpus{gpu(0, "GPU-a", 0, {{5001, 2 * kGiB + 512 * kMiB}})};
  match_gpu_processes(
      gpus, {report(40, {torch(0, 2 * kGiB)}), report(41, {torch(0, 2 * kGiB + 100 * kMiB)})}, {});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kNone);
}

TEST(MatchGpuProcesses, UuidKeepsAReportOnItsOwnGpu) {
  // Equal sizes on two GPUs: without the UUID the report would fit both and take neither.
  std::vector<model::GpuDevice> gpus{gpu(0, "GPU-aaaa-0000", 0, {{5001, 3 * kGiB}}),
                                     gpu(1, "GPU-bbbb-1111", 1, {{5002, 3 * kGiB}})};
  match_gpu_processes(gpus, {report(40, {torch(0, 2 * kGiB + 512 * kMiB, "BBBB-1111")})}, {});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[1].processes[0].attributed_by, GpuAttribution::kSelfReport);
  EXPECT_EQ(gpus[1].processes[0].local_pid, 40);

  std::vector<model::GpuDevice> again{gpu(0, "GPU-aaaa-0000", 0, {{5001, 3 * kGiB}}),
                                      gpu(1, "GPU-bbbb-1111", 1, {{5002, 3 * kGiB}})};
  match_gpu_processes(again, {report(40, {torch(0, 2 * kGiB + 512 * kMiB)})}, {});
  EXPECT_EQ(again[0].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(again[1].processes[0].attributed_by, GpuAttribution::kNone);
}

TEST(MatchGpuProcesses, AFailedOrAlreadyMatchedReportIsNotUsed) {
  std::vector<model::GpuDevice> gpus{
      gpu(0, "GPU-a", 0, {{40, 1 * kGiB}, {5001, 2 * kGiB + 512 * kMiB}})};
  gpus[0].processes[0].attributed_by = GpuAttribution::kPid;
  gpus[0].processes[0].local_pid = 40;
  auto failed = report(41, {torch(0, 2 * kGiB)});
  failed.error = "no answer within 1000 ms";
  match_gpu_processes(gpus, {report(40, {torch(0, 2 * kGiB)}), failed}, {});
  EXPECT_EQ(gpus[0].processes[1].attributed_by, GpuAttribution::kNone);
}

TEST(MatchGpuProcesses, EliminationNeedsOneEntryAndOneCandidate) {
  std::vector<model::GpuDevice> gpus{gpu(0, "GPU-a", 3, {{5001, kGiB}}),
                                     gpu(1, "GPU-b", 0, {{5002, kGiB}}),
                                     gpu(2, "GPU-c", 1, {{5003, kGiB}, {5004, kGiB}})};
  // /dev/nvidia3 (NVML index 0): only pid 10. /dev/nvidia0 (index 1): pids 10 and 11.
  // /dev/nvidia1 (index 2): only pid 12, but two entries.
  const DeviceFileHolders holders{{10, {3, 0}}, {11, {0}}, {12, {1}}};
  match_gpu_processes(gpus, {}, holders);
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kElimination);
  EXPECT_EQ(gpus[0].processes[0].local_pid, 10);
  EXPECT_EQ(gpus[1].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[2].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[2].processes[1].attributed_by, GpuAttribution::kNone);
}

TEST(MatchGpuProcesses, EliminationLeavesOutProcessesMatchedOnTheDeviceAlready) {
  // pid 40 self-reported its entry on /dev/nvidia0; pid 10 is then the only candidate left.
  std::vector<model::GpuDevice> gpus{
      gpu(0, "GPU-a", 0, {{5001, 2 * kGiB + 512 * kMiB}, {5002, 300 * kMiB}})};
  match_gpu_processes(gpus, {report(40, {torch(0, 2 * kGiB)})}, {{40, {0}}, {10, {0}}});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kSelfReport);
  EXPECT_EQ(gpus[0].processes[1].attributed_by, GpuAttribution::kElimination);
  EXPECT_EQ(gpus[0].processes[1].local_pid, 10);
}

TEST(MatchGpuProcesses, NoEliminationWithoutAMinorNumberOrAFullList) {
  std::vector<model::GpuDevice> gpus{gpu(0, "GPU-a", std::nullopt, {{5001, kGiB}}),
                                     gpu(1, "GPU-b", 1, {{5002, kGiB}})};
  gpus[1].processes_known = false;
  match_gpu_processes(gpus, {}, {{10, {0}}, {11, {1}}});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[1].processes[0].attributed_by, GpuAttribution::kNone);
}

TEST(MatchGpuProcesses, MigSlicesShareTheirParentsDeviceFile) {
  // Two slices of /dev/nvidia0 with one entry each: two entries for one file, no answer; with
  // one of them self-reported, the other is the only one left.
  std::vector<model::GpuDevice> gpus{gpu(0, "MIG-a", 0, {{5001, 3 * kGiB}}),
                                     gpu(0, "MIG-b", 0, {{5002, kGiB}})};
  match_gpu_processes(gpus, {}, {{10, {0}}});
  EXPECT_EQ(gpus[0].processes[0].attributed_by, GpuAttribution::kNone);
  EXPECT_EQ(gpus[1].processes[0].attributed_by, GpuAttribution::kNone);
  match_gpu_processes(gpus, {report(20, {torch(0, 2 * kGiB + 512 * kMiB)})},
                      {{10, {0}}, {20, {0}}});
  EXPECT_EQ(gpus[0].processes[0].local_pid, 20);
  EXPECT_EQ(gpus[1].processes[0].attributed_by, GpuAttribution::kElimination);
  EXPECT_EQ(gpus[1].processes[0].local_pid, 10);
}

TEST(NvidiaDeviceHolders, ReadsFdLinksAndLeavesOutTheExcludedPid) {
  testing::TempTree tree;
  tree.mkdir("proc/10/fd");
  tree.mkdir("proc/11/fd");
  tree.mkdir("proc/12/fd");
  tree.mkdir("proc/13");  // exited meanwhile: no fd directory
  const auto link = [&](const std::string& fd, const char* target) {
    std::filesystem::create_symlink(target, tree.path(fd));
  };
  link("proc/10/fd/3", "/dev/nvidia0");
  link("proc/10/fd/4", "/dev/nvidiactl");
  link("proc/10/fd/5", "/dev/nvidia2");
  link("proc/11/fd/3", "/dev/nvidia0");  // memopt itself (its NVML session)
  link("proc/12/fd/0", "/dev/null");
  Roots roots;
  roots.procfs = tree.path("proc");
  const auto holders = read_nvidia_device_holders(roots, 11);
  EXPECT_EQ(holders, (DeviceFileHolders{{10, {0, 2}}}));
}

// Issue 28: a process whose fds memopt may not read (another user's, memopt not root) was
// taken for one that holds nothing, and the verdict sent the user to look outside the pid
// namespace. As a second uid here: root's processes are counted as unreadable.
TEST(NvidiaDeviceHolders, AnotherUsersProcessesAreCountedAsUnreadable) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (to become another uid in a child)";
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) {
      ::_exit(10);
    }
    try {  // never back into the test runner from this child
      if (sys::open_files("/proc", parent)) ::_exit(11);  // root's: may not be read
      std::size_t unreadable = 0;
      (void)read_nvidia_device_holders(sys::default_roots(), ::getpid(), &unreadable);
      ::_exit(unreadable > 0 ? 0 : 12);
    } catch (...) {
      ::_exit(13);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "10: no second uid; 11: root's fds were read; 12: none counted; 13: it threw";
  // As root, its own fds are read.
  const auto own = sys::open_files("/proc", parent);
  ASSERT_TRUE(own.has_value());
  EXPECT_FALSE(own->empty());
}

// ---- in a real PID namespace ------------------------------------------------------------

// Why the namespace test cannot run here, or "" when it can.
std::string namespace_test_unavailable() {
  if (::geteuid() != 0) return "needs root (unshare --pid --mount, mount a tmpfs on /dev)";
  if (testing::run_command({"unshare", "--pid", "--fork", "--mount-proc", "true"}).exit_code != 0)
    return "unshare --pid --fork --mount-proc fails here";
  return "";
}

// The pid in the outer namespace of the process that is `inner` in the namespace `ns` (the
// text of its /proc/PID/ns/pid link), from the NSpid lines the outer /proc shows.
int outer_pid(const std::string& ns, int inner) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code ec;
    if (std::filesystem::read_symlink(entry.path() / "ns/pid", ec).string() != ns) continue;
    std::ifstream status(entry.path() / "status");
    for (std::string line; std::getline(status, line);) {
      if (!line.starts_with("NSpid:")) continue;
      std::istringstream fields(line.substr(6));
      std::vector<int> pids;
      for (int pid = 0; fields >> pid;) pids.push_back(pid);
      if (pids.size() >= 2 && pids.back() == inner) return pids.front();
    }
  }
  return -1;
}

TEST(GpuAttributionInAPidNamespace, EliminationMatchesOuterPidsAndNothingElseIsGuessed) {
  if (const auto why = namespace_test_unavailable(); !why.empty()) GTEST_SKIP() << why;
  testing::TempTree tree;
  const auto dir = tree.root();
  // Inside: a tmpfs on /dev (this mount namespace only) with plain files named like the device
  // files, held open by three sleepers: A holds nvidia0 (and nvidiactl), B and C nvidia1.
  const std::string script = R"(set -e
mount -t tmpfs memopt-gpu-attr /dev
mknod -m 666 /dev/null c 1 3
: > /dev/nvidia0; : > /dev/nvidia1; : > /dev/nvidiactl
sleep 300 3</dev/nvidia0 4</dev/nvidiactl & A=$!
sleep 300 3</dev/nvidia1 & B=$!
sleep 300 3</dev/nvidia1 & C=$!
echo "$(readlink /proc/self/ns/pid) $A $B $C"
while [ ! -e "$DIR/go" ]; do sleep 0.05; done
"$MEMOPT" report --json > "$DIR/report.json" 2> "$DIR/report.err" || echo "exit $?" > "$DIR/exit"
kill $A $B $C
echo done
)";
  testing::Background inside(
      {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "bash", "-c", script},
      {"DIR=" + dir, "MEMOPT=" + std::string(MEMOPT_BINARY),
       "MEMOPT_NVML_LIBRARY=" + std::string(MEMOPT_FAKE_NVML_DIR) + "/full/libnvidia-ml.so.1",
       "FAKE_NVML_SCRIPT=" + tree.path("nvml"), "MEMOPT_RUNTIME_DIR=" + tree.path("no-run")});
  const auto line = inside.read_line(10000);
  ASSERT_TRUE(line.has_value()) << "the namespace did not start";
  std::istringstream fields(*line);
  std::string ns;
  int a = 0, b = 0, c = 0;
  ASSERT_TRUE(fields >> ns >> a >> b >> c) << *line;
  const int outer_a = outer_pid(ns, a), outer_b = outer_pid(ns, b), outer_c = outer_pid(ns, c);
  ASSERT_GT(outer_a, 0);
  ASSERT_GT(outer_b, 0);
  ASSERT_GT(outer_c, 0);
  ASSERT_NE(outer_a, a) << "the sleepers should have other pids outside";
  // NVML lists the outer pids, and pid 1 (here the namespace's bash: not the same process).
  // nvidia0 is NVML's GPU 1 and nvidia1 its GPU 0: the minor number is not the index.
  const std::string nvml =
      "count 2\n"
      "device 0 85899345920 536870912 70000000000 15000000000 GPU-bbbb A100\n"
      "minor 0 1\n"
      "device 1 16106127360 314572800 12000000000 3500000000 GPU-aaaa T4\n"
      "minor 1 0\n"
      "process 1 compute " +
      std::to_string(outer_a) +
      " 3221225472\n"
      "process 0 compute " +
      std::to_string(outer_b) +
      " 1073741824\n"
      "process 0 compute " +
      std::to_string(outer_c) +
      " 2147483648\n"
      "process 0 compute 1 536870912\n";
  (void)tree.write("nvml", nvml);  // read at memopt's nvmlInit, after "go"
  (void)tree.write("go", "");
  const auto done = inside.read_line(20000);
  ASSERT_EQ(done, "done");
  ASSERT_FALSE(std::filesystem::exists(tree.path("exit")))
      << testing::slurp(tree.path("report.err"));
  const auto report = nlohmann::json::parse(testing::slurp(tree.path("report.json")));
  const auto& gpus = report.at("gpus");
  ASSERT_EQ(gpus.size(), 2u) << report.dump(2);
  std::map<int, nlohmann::json> by_pid;
  for (const auto& g : gpus)
    for (const auto& p : g.at("processes")) by_pid[p.at("pid").get<int>()] = p;
  EXPECT_EQ(by_pid.at(outer_a).at("attributed_by"), "elimination");
  EXPECT_EQ(by_pid.at(outer_a).at("local_pid"), a);
  EXPECT_EQ(by_pid.at(outer_a).at("name"), "sleep");
  for (const int pid : {outer_b, outer_c, 1}) {
    EXPECT_TRUE(by_pid.at(pid).at("attributed_by").is_null()) << pid;
    EXPECT_TRUE(by_pid.at(pid).at("local_pid").is_null()) << pid;
    EXPECT_TRUE(by_pid.at(pid).at("name").is_null()) << pid;
  }
  std::string note;
  for (const auto& advice : report.at("advice"))
    if (advice.at("id") == "gpu_processes_not_visible") note = advice.at("message");
  EXPECT_THAT(note, HasSubstr("3 GPU processes"));
  EXPECT_THAT(note, HasSubstr(std::to_string(outer_b)));
  EXPECT_THAT(note, HasSubstr(std::to_string(outer_c)));
  EXPECT_THAT(note, HasSubstr("3758096384 bytes"));
}

}  // namespace
}  // namespace memopt::readers
