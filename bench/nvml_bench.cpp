// GPU reads through NVML on this machine (or the library named by MEMOPT_NVML_LIBRARY):
// a one-shot read_gpus (dlopen + nvmlInit + read + nvmlShutdown) against a read on a session
// kept open, as monitor and run would use. The "devices" counter lets per-device cost be
// derived (the target is under 2 ms per device per session read). Without NVML both measure
// the no-library path. Fixed iteration counts: scripts/gpu-check.sh times exactly 100 reads.

#include <benchmark/benchmark.h>

#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/sys/fs.hpp"

namespace {

namespace readers = memopt::readers;
using memopt::model::Note;

void BM_nvml_read_gpus(benchmark::State& state) {
  const auto roots = memopt::sys::default_roots();
  std::size_t devices = 0;
  for (auto _ : state) {
    std::vector<Note> notes;
    const auto gpus = readers::read_gpus(roots, notes);
    devices = gpus.size();
    benchmark::DoNotOptimize(gpus.data());
  }
  state.counters["devices"] = static_cast<double>(devices);
}
// nvmlInit can take a second on a GPU without persistence mode.
BENCHMARK(BM_nvml_read_gpus)->Iterations(5)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_nvml_session_read(benchmark::State& state) {
  const auto roots = memopt::sys::default_roots();
  readers::NvmlSession session;
  std::size_t devices = 0;
  for (auto _ : state) {
    std::vector<Note> notes;
    const auto gpus = session.read(roots, notes);
    devices = gpus.size();
    benchmark::DoNotOptimize(gpus.data());
  }
  state.counters["devices"] = static_cast<double>(devices);
}
BENCHMARK(BM_nvml_session_read)->Iterations(100)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
