// `memopt cleanup` against real processes and a real child cgroup:
// - a process holding freed-but-retained heap gives it back when asked (and keeps it if not);
// - clean page cache charged to a cgroup goes away; --dry-run leaves it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/cgroup.hpp"
#include "support/run.hpp"
#include "support/tree.hpp"
#include "test_paths.hpp"

namespace memopt::testing {
namespace {

constexpr std::uint64_t kMiB = 1 << 20;
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
  Retainer(unsigned mib, bool serve, const std::string& runtime_dir) {
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
      ::execl(MEMOPT_RETAINER, MEMOPT_RETAINER, mib_text.c_str(), serve ? "serve" : "keep",
              static_cast<char*>(nullptr));
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

}  // namespace
}  // namespace memopt::testing
