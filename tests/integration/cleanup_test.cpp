// `memopt cleanup` against real processes and a real child cgroup:
// - a process holding freed-but-retained heap gives it back when asked (and keeps it if not);
// - clean page cache charged to a cgroup goes away; --dry-run leaves it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "memopt/units.hpp"
#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

const std::string kNoNvml = "MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1";

std::uint64_t rss_of(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  std::uint64_t size = 0;
  std::uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

// memopt_test_retainer as a child: started, read up to "ready", ended on destruction.
class Retainer {
 public:
  // `cgroup_dir`: the child joins it before it allocates, so its memory is charged there.
  Retainer(unsigned mib, bool serve, const std::string& runtime_dir,
           const std::string& cgroup_dir = "", bool slow = false) {
    int to_child[2];
    int from_child[2];
    EXPECT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(from_child, O_CLOEXEC), 0);
    const std::string mib_text = std::to_string(mib);
    const std::string env = "MEMOPT_RUNTIME_DIR=" + runtime_dir;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::putenv(const_cast<char*>(env.c_str()));
      if (!cgroup_dir.empty()) {
        std::ofstream(cgroup_dir + "/cgroup.procs") << ::getpid() << std::flush;
      }
      ::execl(MEMOPT_RETAINER, MEMOPT_RETAINER, mib_text.c_str(), serve ? "serve" : "keep",
              slow ? "slow" : static_cast<char*>(nullptr), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_child_ = to_child[1];
    FILE* out = ::fdopen(from_child[0], "r");
    unsigned long long free_bytes = 0;
    ready_ = out != nullptr && std::fscanf(out, "ready %llu", &free_bytes) == 1;
    retained_bytes_ = free_bytes;
    if (out != nullptr) std::fclose(out);
  }
  ~Retainer() {
    ::close(to_child_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Retainer(const Retainer&) = delete;
  Retainer& operator=(const Retainer&) = delete;

  [[nodiscard]] bool ready() const { return ready_; }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::uint64_t retained_bytes() const { return retained_bytes_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  bool ready_ = false;
  std::uint64_t retained_bytes_ = 0;
};

TEST(CleanupRetainedHeap, ACooperatingProcessGivesItsRetainedHeapBack) {
  TempTree tree;
  const auto runtime_dir = tree.mkdir("run");
  Retainer retainer(256, true, runtime_dir);
  ASSERT_TRUE(retainer.ready());
  ASSERT_GE(retainer.retained_bytes(), 240 * kMiB);
  const auto before = rss_of(retainer.pid());
  ASSERT_GE(before, 240 * kMiB);

  const auto result =
      run_memopt({"cleanup", "--json"}, {"MEMOPT_RUNTIME_DIR=" + runtime_dir, kNoNvml});
  ASSERT_EQ(result.exit_code, 0) << result.err << result.out;
  const auto after = rss_of(retainer.pid());
  EXPECT_GE(before - after, retainer.retained_bytes() * 8 / 10)
      << "RSS " << before / kMiB << " MiB -> " << after / kMiB << " MiB";

  const auto report = nlohmann::json::parse(result.out);
  EXPECT_EQ(report["steps"][0]["name"], "cooperative");
  EXPECT_EQ(report["steps"][0]["status"], "done");
  ASSERT_EQ(report["processes"].size(), 1u);
  EXPECT_EQ(report["processes"][0]["pid"], retainer.pid());
  EXPECT_GE(report["processes"][0]["released_bytes"].get<std::int64_t>(),
            static_cast<std::int64_t>(retainer.retained_bytes() * 8 / 10));
}

TEST(CleanupRetainedHeap, WithoutACleanupRequestTheHeapStaysRetained) {
  TempTree tree;
  const auto runtime_dir = tree.mkdir("run");
  Retainer retainer(256, false, runtime_dir);
  ASSERT_TRUE(retainer.ready());
  const auto before = rss_of(retainer.pid());
  const auto result =
      run_memopt({"cleanup", "--json"}, {"MEMOPT_RUNTIME_DIR=" + runtime_dir, kNoNvml});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto after = rss_of(retainer.pid());
  EXPECT_LE(before - std::min(before, after), 8 * kMiB);
  EXPECT_EQ(nlohmann::json::parse(result.out)["steps"][0]["status"], "skipped");
}

std::uint64_t cgroup_usage(const TestCgroup& cgroup) {
  const auto file =
      cgroup.dir() + (cgroup.version() == 2 ? "/memory.current" : "/memory.usage_in_bytes");
  return std::stoull(slurp(file));
}

RunResult inside(const TestCgroup& cgroup, std::vector<std::string> command,
                 const std::string& runtime_dir) {
  auto argv = cgroup.enter_command();
  argv.insert(argv.end(), command.begin(), command.end());
  return run_command(argv, {"MEMOPT_RUNTIME_DIR=" + runtime_dir, kNoNvml});
}

TEST(CleanupPageCache, DropsTheCleanCacheChargedToTheCgroupButNotOnDryRun) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not);
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  if (::access("/proc/sys/vm/drop_caches", W_OK) != 0)
    GTEST_SKIP() << "drop_caches is not writable";
  TempTree tree;
  const auto runtime_dir = tree.mkdir("run");
  const auto file = tree.path("cache.bin");
  {
    std::vector<char> chunk(kMiB, 'x');
    std::ofstream out(file, std::ios::binary);
    for (int i = 0; i < 200; ++i)
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
  ASSERT_EQ(run_command({"sync"}).exit_code, 0);
  {
    std::ofstream drop("/proc/sys/vm/drop_caches");
    drop << "1";
  }
  const auto empty = cgroup_usage(*cgroup);
  ASSERT_EQ(inside(*cgroup, {"dd", "if=" + file, "of=/dev/null", "bs=1M"}, runtime_dir).exit_code,
            0);
  const auto cached = cgroup_usage(*cgroup);
  ASSERT_GE(cached, empty + 180 * kMiB) << "the read was not charged to the cgroup";

  const auto dry = inside(*cgroup, {MEMOPT_BINARY, "cleanup", "--dry-run", "--json"}, runtime_dir);
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  const auto after_dry = cgroup_usage(*cgroup);
  EXPECT_GE(after_dry + 16 * kMiB, cached) << "--dry-run lowered usage";
  EXPECT_EQ(nlohmann::json::parse(dry.out)["steps"][2]["status"], "planned");

  const auto real = inside(*cgroup, {MEMOPT_BINARY, "cleanup", "--json"}, runtime_dir);
  ASSERT_EQ(real.exit_code, 0) << real.err << real.out;
  const auto after = cgroup_usage(*cgroup);
  EXPECT_GE(after_dry - std::min(after_dry, after), 160 * kMiB)
      << "usage " << after_dry / kMiB << " MiB -> " << after / kMiB << " MiB";
  const auto report = nlohmann::json::parse(real.out);
  EXPECT_EQ(report["steps"][2]["name"], "drop_caches");
  EXPECT_EQ(report["steps"][2]["status"], "done");
  EXPECT_GE(report["reclaimed_bytes"].get<std::int64_t>(), static_cast<std::int64_t>(150 * kMiB));
}

// The cgroup's working set, as memopt and the kubelet count it: usage - inactive file.
std::uint64_t cgroup_working_set(const TestCgroup& cgroup) {
  const auto usage = cgroup_usage(cgroup);
  std::istringstream stat(slurp(cgroup.dir() + "/memory.stat"));
  const std::string key = cgroup.version() == 2 ? "inactive_file" : "total_inactive_file";
  std::string name;
  std::uint64_t value = 0;
  while (stat >> name >> value) {
    if (name == key) return usage - std::min(usage, value);
  }
  return usage;
}

// One ledger: with --protect and --auto-cleanup severe, a cleanup and a shed run at the same
// time (the process takes 500 ms to answer each), and the process frees its retained heap
// once. The `shed` and `cleanup` events' released_bytes add up to the working set the cgroup
// lost (within 5%): no step claims bytes another step freed (before: both claimed them).
TEST(CleanupLedger, ShedAndCleanupReleasesSumToTheWorkingSetChange) {
  std::string why_not;
  const auto cgroup = TestCgroup::create(&why_not, "ledger");
  if (!cgroup) GTEST_SKIP() << "cannot create a memory cgroup here: " << why_not;
  cgroup->set_limit(1024 * kMiB);
  TempTree tree;
  const auto runtime_dir = tree.mkdir("run");
  Retainer retainer(256, true, runtime_dir, cgroup->dir(), true);
  ASSERT_TRUE(retainer.ready());
  ASSERT_GE(retainer.retained_bytes(), 240 * kMiB);

  // Severe above 50%: at 1 GiB (~26%) nothing happens; lowered to 400 MiB (~66%, read at the
  // next full sample, each second) the cleanup starts, and the shed at the next quick reading.
  const auto config = tree.write(
      "ledger.toml",
      "[thresholds]\nacceptable_percent = 30\nwarning_percent = 40\nsevere_percent = 50\n"
      "danger_available = \"20M\"\n[protect]\nenabled = true\nforecast_s = 0\n"
      "shed_level = \"severe\"\n[cleanup]\ncooldown_s = 300\n");
  auto argv = cgroup->enter_command();
  argv.insert(argv.end(), {MEMOPT_BINARY, "monitor", "1", "--json", "--config", config, "--protect",
                           "--auto-cleanup", "severe"});
  Background monitor(argv, {"MEMOPT_RUNTIME_DIR=" + runtime_dir, kNoNvml});
  ASSERT_FALSE(next_json_line(monitor, "sample", "", 10'000).is_null());
  const auto before = cgroup_working_set(*cgroup);

  cgroup->set_limit(400 * kMiB);
  std::optional<std::int64_t> shed;
  std::optional<std::int64_t> cleaned;
  const auto wanted = [](const nlohmann::json& j) {
    return j.value("type", "") == "event" &&
           (j.value("event", "") == "shed" || j.value("event", "") == "cleanup");
  };
  for (int i = 0; i < 2; ++i) {
    const auto event = next_json_line(monitor, wanted, 20'000);
    ASSERT_FALSE(event.is_null()) << "no shed and cleanup events at severe";
    ASSERT_TRUE(event["released_bytes"].is_number_integer()) << event;
    (event["event"] == "shed" ? shed : cleaned) = event["released_bytes"].get<std::int64_t>();
  }
  ASSERT_TRUE(shed && cleaned);
  const auto after = cgroup_working_set(*cgroup);
  const auto measured = static_cast<std::int64_t>(before) - static_cast<std::int64_t>(after);
  const auto mib = [](std::int64_t bytes) { return bytes / static_cast<std::int64_t>(kMiB); };
  ASSERT_GE(measured, static_cast<std::int64_t>(200 * kMiB))
      << "the retained heap did not come back: " << mib(before) << " -> " << mib(after) << " MiB";
  const auto sum = *shed + *cleaned;
  EXPECT_LE(std::abs(sum - measured), measured / 20)
      << "shed " << mib(*shed) << " MiB + cleanup " << mib(*cleaned) << " MiB vs the working set's "
      << mib(measured) << " MiB";
  EXPECT_EQ(monitor.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace memopt::testing
