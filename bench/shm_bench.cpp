// The /dev/shm ledger at scale: 10,000 files in a directory on the machine's /dev/shm tmpfs and
// 500 extra processes (each holding one of the files open), one full read_shm_ledger() per
// iteration: list and stat every entry, scan every process's fds and maps, judge owners.
// Run: build/bench/memopt_bench --benchmark_filter=shm

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
