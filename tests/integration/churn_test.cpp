// Hundreds of processes start and exit while reports scan /proc: a vanished process must be
// skipped, never an error.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/run.hpp"

namespace memopt::testing {
namespace {

TEST(ProcessChurn, ReportsNeverFailWhileProcessesComeAndGo) {
  std::atomic<bool> stop{false};
  std::atomic<int> spawned{0};
  std::thread churn([&] {
    while (!stop) {
      // Batches of short-lived children, each touching a little memory before exiting.
      pid_t pids[50];
      for (auto& pid : pids) {
        pid = ::fork();
        if (pid == 0) {
          volatile char buffer[64 * 1024];
          for (std::size_t i = 0; i < sizeof buffer; i += 4096) buffer[i] = 1;
          ::usleep(2000);
          ::_exit(0);
        }
      }
      for (const auto pid : pids) {
        if (pid > 0) ::waitpid(pid, nullptr, 0);
      }
      spawned += 50;
    }
  });
  int reports = 0;
  while (spawned < 500 || reports < 20) {
    const auto result = run_memopt({"report", "--json", "--top", "1000"},
                                   {"MEMOPT_NVML_LIBRARY=/nonexistent/libnvidia-ml.so.1"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto report = nlohmann::json::parse(result.out);
    EXPECT_FALSE(report["processes"].empty());
    ++reports;
  }
  stop = true;
  churn.join();
  EXPECT_GE(spawned.load(), 500);
}

}  // namespace
}  // namespace memopt::testing
