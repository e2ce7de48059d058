// monitor_memory_usage, track(), cleanup() and serve_cleanup() in this very process.
#include "memopt/inprocess.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "memopt/sys/socket.hpp"
#include "memopt/units.hpp"
#include "support/tree.hpp"

namespace memopt {
namespace {

using ::testing::HasSubstr;

// Points the runtime directory at a temporary one for the test's lifetime.
class RuntimeDir {
 public:
  RuntimeDir() : dir_(tree_.mkdir("run")) { ::setenv("MEMOPT_RUNTIME_DIR", dir_.c_str(), 1); }
  ~RuntimeDir() { ::unsetenv("MEMOPT_RUNTIME_DIR"); }
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;
  [[nodiscard]] const std::string& dir() const { return dir_; }
  [[nodiscard]] const testing::TempTree& tree() const { return tree_; }

 private:
  testing::TempTree tree_;
  std::string dir_;
};

std::string request(const std::string& socket, const std::string& line) {
  int err = 0;
  auto connection = sys::Socket::connect(socket, err);
  if (!connection) return "connect failed: " + std::to_string(err);
  EXPECT_EQ(connection->send_all(line), 0);
  return connection->receive_line(std::chrono::seconds(30), 1 << 20).value_or("<no answer>");
}

TEST(MonitorMemoryUsage, MeasuresThisProcessAndItsDelta) {
  MonitorOptions options;
  options.gpu = false;
  options.log = false;
  const auto first = monitor_memory_usage("first", options);
  EXPECT_EQ(first.tag, "first");
  EXPECT_GT(first.rss_bytes, 1 * kMiB);
#ifndef __SANITIZE_ADDRESS__
  // glibc's heap statistics; ASan replaces malloc and mallinfo2 then reports zeros.
  EXPECT_GT(first.heap_in_use_bytes, 0u);
#endif
  std::vector<char> block(64 * kMiB, 1);  // touched: resident
  const auto second = monitor_memory_usage("second", options);
  EXPECT_GE(second.delta_rss_bytes, static_cast<std::int64_t>(60 * kMiB));
  EXPECT_EQ(second.delta_rss_bytes, static_cast<std::int64_t>(second.rss_bytes) -
                                        static_cast<std::int64_t>(first.rss_bytes));
#ifndef __SANITIZE_ADDRESS__
  EXPECT_GE(second.heap_in_use_bytes, first.heap_in_use_bytes + 60 * kMiB);
#endif
  if (second.pss_bytes) {
    EXPECT_LE(*second.pss_bytes, second.rss_bytes);
  }
  EXPECT_FALSE(second.gpu_used_bytes.has_value());
}

TEST(MonitorMemoryUsage, LogsOneLine) {
  MonitorOptions options;
  options.gpu = false;
  ::testing::internal::CaptureStderr();
  (void)monitor_memory_usage("after load", options);
  const auto text = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(text, HasSubstr("[memopt] after load: RSS "));
  EXPECT_THAT(text, HasSubstr("heap free resident"));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
}

TEST(Track, MeasuresThePeakOfTheScope) {
  auto scope = track();
  {
    std::vector<char> block(96 * kMiB, 1);
    ASSERT_EQ(block[12345], 1);
  }
  const auto result = scope.result();
  EXPECT_GT(result.start_rss_bytes, 0u);
  EXPECT_GE(result.peak_rss_bytes, result.start_rss_bytes + 90 * kMiB);
#ifndef __SANITIZE_ADDRESS__
  // ASan keeps freed blocks in its quarantine: there the RSS does not come down.
  EXPECT_LT(result.end_rss_bytes, result.peak_rss_bytes);
#endif
}

TEST(InProcessCleanup, RunsHooksInOrderThenTrimsTheHeap) {
  std::vector<std::string> order;
  register_cleanup_hook("first", [&order] { order.push_back("first"); });
  register_cleanup_hook("broken", [] { throw std::runtime_error("no device"); });
  register_cleanup_hook("second", [&order] { order.push_back("second"); });
  const auto result = cleanup();
  EXPECT_THAT(order, ::testing::ElementsAre("first", "second"));
  ASSERT_EQ(result.steps.size(), 5u);
  EXPECT_EQ(result.steps[0].name, "hook:first");
  EXPECT_EQ(result.steps[1].status, "failed");
  EXPECT_EQ(result.steps[1].reason, "no device");
  EXPECT_EQ(result.steps[3].name, "cuda_mem_pools");
  EXPECT_EQ(result.steps[3].status, "skipped");  // no CUDA driver is loaded in the tests
  EXPECT_EQ(result.steps[4].name, "malloc_trim");
  EXPECT_EQ(result.steps[4].status, "done");
  EXPECT_TRUE(unregister_cleanup_hook("first"));
  EXPECT_TRUE(unregister_cleanup_hook("broken"));
  EXPECT_TRUE(unregister_cleanup_hook("second"));
  EXPECT_FALSE(unregister_cleanup_hook("second"));
  EXPECT_EQ(cleanup_gpu_memory().steps.size(), 1u);  // the CUDA step only
}

// The free heap a cleanup reports is what is still resident: malloc_trim gives the freed
// chunks' pages back, so the figure after is smaller by about what was freed (mallinfo2's
// fordblks, the old figure, would not have changed).
TEST(InProcessCleanup, ReportsTheResidentFreeHeapBeforeAndAfterTheTrim) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan replaces malloc: no glibc arenas to measure";
#else
  // 4000-byte blocks come from the brk heap (below the mmap threshold). Every 100th is kept
  // (and the last): the freed ones lie between live blocks, where only malloc_trim can return
  // their pages.
  constexpr std::size_t kBlocks = 40'000;
  constexpr std::size_t kBlockSize = 4000;
  std::vector<void*> blocks(kBlocks);
  for (auto& block : blocks) {
    block = std::malloc(kBlockSize);
    ASSERT_NE(block, nullptr);
    std::memset(block, 1, kBlockSize);  // resident
  }
  std::vector<void*> kept;
  for (std::size_t i = 0; i < kBlocks; ++i) {
    if (i % 100 == 0 || i + 1 == kBlocks) {
      kept.push_back(blocks[i]);
    } else {
      std::free(blocks[i]);
    }
  }
  const auto result = cleanup();
  for (void* block : kept) std::free(block);
  constexpr std::uint64_t kFreed = kBlocks * kBlockSize * 99 / 100;
  EXPECT_GE(result.heap_free_resident_before_bytes, kFreed * 8 / 10);
  EXPECT_LE(result.heap_free_resident_after_bytes + kFreed * 8 / 10,
            result.heap_free_resident_before_bytes)
      << "before " << result.heap_free_resident_before_bytes << ", after "
      << result.heap_free_resident_after_bytes;
  const auto json = nlohmann::json::parse(cleanup_result_json(result));
  EXPECT_EQ(json["heap_free_resident_before_bytes"], result.heap_free_resident_before_bytes);
  EXPECT_EQ(json["heap_free_resident_after_bytes"], result.heap_free_resident_after_bytes);
#endif
}

TEST(ServeCleanup, AnswersACleanupRequestWithJson) {
  RuntimeDir runtime;
  auto server = serve_cleanup();
  EXPECT_EQ(server->socket_path(), runtime.dir() + "/" + std::to_string(::getpid()) + ".sock");
  struct stat st {};
  ASSERT_EQ(::stat(server->socket_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto answer = nlohmann::json::parse(request(server->socket_path(), "cleanup\n"));
  EXPECT_EQ(answer["pid"], ::getpid());
  EXPECT_TRUE(answer.contains("rss_before_bytes"));
  EXPECT_EQ(answer["steps"].back()["name"], "malloc_trim");
  const auto ping = nlohmann::json::parse(request(server->socket_path(), "ping\n"));
  EXPECT_GT(ping["rss_bytes"].get<std::uint64_t>(), 0u);
  const auto unknown = nlohmann::json::parse(request(server->socket_path(), "reboot\n"));
  EXPECT_TRUE(unknown.contains("error"));
  server->stop();
  EXPECT_NE(::access(server->socket_path().c_str(), F_OK), 0);  // removed on stop
}

// The other threads' blocked signals by tid, from /proc/self/task/TID/status (SigBlk, a hex
// mask).
std::map<std::string, std::uint64_t> blocked_masks_of_other_threads() {
  std::map<std::string, std::uint64_t> masks;
  const std::string self_tid = std::to_string(::gettid());
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    const std::string tid = task.path().filename();
    if (tid == self_tid) continue;
    std::ifstream in(task.path() / "status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("SigBlk:", 0) == 0) masks[tid] = std::stoull(line.substr(7), nullptr, 16);
    }
  }
  return masks;
}

TEST(ServeCleanup, ItsThreadLeavesTheProgramsSignalsToTheProgramsThreads) {
  // Python runs signal handlers on its main thread only: a SIGTERM taken by the server's
  // thread left a main thread blocked in read() uninterrupted, and `docker stop` hung.
  RuntimeDir runtime;
  // Threads of earlier tests in this binary may still be ending: the server's are the new tids.
  const auto before = blocked_masks_of_other_threads();
  auto server = serve_cleanup();
  // Answered: its thread runs with its own mask (glibc starts a thread with all blocked).
  (void)request(server->socket_path(), "ping\n");
  std::vector<std::uint64_t> masks;
  for (const auto& [tid, mask] : blocked_masks_of_other_threads()) {
    if (!before.contains(tid)) masks.push_back(mask);
  }
  ASSERT_FALSE(masks.empty()) << "no server thread seen";
  const std::uint64_t sigterm = std::uint64_t{1} << (SIGTERM - 1);
  const std::uint64_t sigint = std::uint64_t{1} << (SIGINT - 1);
  const std::uint64_t sigsegv = std::uint64_t{1} << (SIGSEGV - 1);
  for (const auto mask : masks) {
    EXPECT_NE(mask & sigterm, 0u);
    EXPECT_NE(mask & sigint, 0u);
    EXPECT_EQ(mask & sigsegv, 0u);  // a fault is still a fault
  }
  // This thread's own mask is as it was.
  sigset_t now;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
  EXPECT_EQ(::sigismember(&now, SIGTERM), 0);
}

TEST(ServeCleanup, RemovesStaleSocketsOfDeadProcesses) {
  RuntimeDir runtime;
  // A pid above pid_max's default range cannot be alive.
  runtime.tree().write("run/99999999.sock", "");
  runtime.tree().write("run/notes.txt", "");
  auto server = serve_cleanup();
  EXPECT_NE(::access((runtime.dir() + "/99999999.sock").c_str(), F_OK), 0);
  EXPECT_EQ(::access((runtime.dir() + "/notes.txt").c_str(), F_OK), 0);
}

// Connects as uid 65534 in a forked child (raw syscalls only: the parent has threads) and
// reports: 0 refused (error answer or connection closed), 1 served, 2 could not connect.
int connect_as_nobody(const std::string& path) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) ::_exit(3);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) ::_exit(2);
    const char request_line[] = "cleanup\n";
    // The server may have answered and closed already: no SIGPIPE for the late request.
    (void)::send(fd, request_line, sizeof(request_line) - 1, MSG_NOSIGNAL);
    char buffer[512] = {};
    const ssize_t n = ::read(fd, buffer, sizeof(buffer) - 1);
    if (n <= 0 || std::strstr(buffer, "refused") != nullptr) ::_exit(0);
    ::_exit(std::strstr(buffer, "steps") != nullptr ? 1 : 4);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(ServeCleanup, RefusesAPeerWithAnotherUid) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another uid";
  RuntimeDir runtime;
  auto server = serve_cleanup();
  // Mode 0600 already keeps uid 65534 out of the file...
  EXPECT_EQ(connect_as_nobody(server->socket_path()), 2);
  // ...and with the file opened up (as a careless admin might), SO_PEERCRED still refuses.
  ASSERT_EQ(::chmod(runtime.tree().root().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(runtime.dir().c_str(), 0755), 0);
  ASSERT_EQ(::chmod(server->socket_path().c_str(), 0666), 0);
  EXPECT_EQ(connect_as_nobody(server->socket_path()), 0);
  // Root is always served.
  EXPECT_THAT(request(server->socket_path(), "cleanup\n"), HasSubstr("\"steps\""));
}

}  // namespace
}  // namespace memopt
