// The /dev/shm ledger at scale: 10,000 files in a directory on the machine's /dev/shm tmpfs and
// 500 extra processes (each holding one of the files open), one full read_shm_ledger() per
// iteration: list and stat every entry, scan every process's fds and maps, judge owners.
// Run (a private 256 MiB tmpfs on /dev/shm, so the host's is not touched):
//   unshare -m --propagation private bash -c 'mount -t tmpfs -o size=256m memopt-shm-bench
//     /dev/shm && build/bench/memopt_bench --benchmark_filter=shm --benchmark_repetitions=3'
// (one line).
//
// Measured 2026-12-06 (RelWithDebInfo, 2 vCPU AMD EPYC VM, kernel 6.18, ~660 processes in all:
// the 500 holders and ~160 others; load average ~15 from other builds sharing the 2 cores):
//   one full ledger (10,000 files, every process's fds and maps): 125 ms CPU (sd 5 ms),
//   485 ms wall (sd 44 ms; the wall time is mostly waiting for the contended CPUs).
// At a monitor's default 60 s interval that is ~0.2% of one core; at `monitor 1`, ~12%.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "memopt/readers/shm.hpp"

namespace {

namespace readers = memopt::readers;

struct ShmScene {
  std::string dir;
  std::vector<pid_t> children;

  ShmScene(int files, int processes) {
    std::string templ = "/dev/shm/memopt-shm-bench-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir = templ;
    const std::string page(4096, 'x');
    for (int i = 0; i < files; ++i) {
      // Owners: a dead pid range for most, so every file is judged.
      const auto path =
          dir + "/torch_" + std::to_string(4000000 + i % 997) + "_1_" + std::to_string(i);
      const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
      if (fd < 0 || ::write(fd, page.data(), page.size()) < 0) std::abort();
      ::close(fd);
    }
    for (int p = 0; p < processes; ++p) {
      const auto held =
          dir + "/torch_" + std::to_string(4000000 + p % 997) + "_1_" + std::to_string(p);
      const pid_t pid = ::fork();
      if (pid == 0) {
        (void)::open(held.c_str(), O_RDONLY);
        ::pause();
        ::_exit(0);
      }
      children.push_back(pid);
    }
  }
  ~ShmScene() {
    for (const pid_t pid : children) ::kill(pid, SIGKILL);
    for (const pid_t pid : children) ::waitpid(pid, nullptr, 0);
    (void)std::system(("rm -rf '" + dir + "'").c_str());
  }
};

void BM_shm_ledger_10000_files_500_processes(benchmark::State& state) {
  ShmScene scene(10000, 500);
  ::usleep(200000);  // the children open their files
  std::vector<memopt::model::Note> notes;
  std::size_t files = 0;
  for (auto _ : state) {
    notes.clear();
    const auto ledger =
        readers::read_shm_ledger(memopt::sys::default_roots(), {scene.dir, {}}, notes);
    files = ledger ? ledger->file_count : 0;
    benchmark::DoNotOptimize(files);
  }
  state.counters["files"] = static_cast<double>(files);
}
BENCHMARK(BM_shm_ledger_10000_files_500_processes)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
