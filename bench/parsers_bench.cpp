// Parsers on realistic inputs (the seed corpora captured from a real host, fuzz/corpus/), and
// the readers that scan this machine: read_processes and the whole collect() of `memopt report`.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"

namespace {

using memopt::model::Note;
namespace readers = memopt::readers;
namespace sys = memopt::sys;

/// A captured input from fuzz/corpus/<target>/<name>.
std::string corpus(const std::string& target, const std::string& name) {
  return sys::read_required(std::string(MEMOPT_CORPUS) + "/" + target + "/" + name);
}

void BM_parse_meminfo(benchmark::State& state) {
  const std::string text = corpus("parse_meminfo", "host");
  for (auto _ : state) benchmark::DoNotOptimize(readers::parse_meminfo(text, "meminfo"));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_meminfo);

void BM_parse_smaps_rollup(benchmark::State& state) {
  const std::string text = corpus("parse_smaps_rollup", "worker_with_swap");
  for (auto _ : state) benchmark::DoNotOptimize(readers::parse_smaps_rollup(text, "smaps_rollup"));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_smaps_rollup);

void BM_parse_statm_rss(benchmark::State& state) {
  const std::string text = corpus("parse_statm_rss", "pid1");
  for (auto _ : state) benchmark::DoNotOptimize(readers::parse_statm_rss(text, 4096, "statm"));
}
BENCHMARK(BM_parse_statm_rss);

void BM_parse_cgroup_stat_v1(benchmark::State& state) {
  const std::string text = corpus("parse_cgroup_stat_v1", "container");
  for (auto _ : state) benchmark::DoNotOptimize(readers::parse_cgroup_stat(text, 1, "memory.stat"));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_cgroup_stat_v1);

void BM_parse_cgroup_stat_v2(benchmark::State& state) {
  const std::string text = corpus("parse_cgroup_stat_v2", "container");
  for (auto _ : state) benchmark::DoNotOptimize(readers::parse_cgroup_stat(text, 2, "memory.stat"));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_parse_cgroup_stat_v2);

// One read of the file the process scan reads most, to split kernel time from parse time.
void BM_read_smaps_rollup_self(benchmark::State& state) {
  std::string text;
  for (auto _ : state) {
    if (sys::read_into("/proc/self/smaps_rollup", text) != 0) state.SkipWithError("unreadable");
    benchmark::DoNotOptimize(text.data());
  }
}
BENCHMARK(BM_read_smaps_rollup_self);

// Every process on this machine: the cost of `memopt report` grows with this.
void BM_read_processes(benchmark::State& state) {
  const memopt::Roots roots = sys::default_roots();
  std::size_t processes = 0;
  for (auto _ : state) {
    std::vector<Note> notes;
    const auto list = readers::read_processes(roots, notes);
    processes = list.size();
    benchmark::DoNotOptimize(list.data());
  }
  state.counters["processes"] = static_cast<double>(processes);
  state.counters["per_process"] =
      benchmark::Counter(static_cast<double>(state.iterations() * processes),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_read_processes)->Unit(benchmark::kMillisecond);

// The whole Sample of `memopt report` (meminfo, cgroup, PSI, processes, buddyinfo, NVML).
void BM_collect(benchmark::State& state) {
  const memopt::Roots roots = sys::default_roots();
  memopt::readers::CollectOptions options;
  options.gpus = state.range(0) != 0;
  for (auto _ : state) benchmark::DoNotOptimize(memopt::readers::collect(roots, options));
}
BENCHMARK(BM_collect)->ArgName("gpus")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// The cheap sources only, as a monitor tick without the process scan reads them.
void BM_collect_without_processes(benchmark::State& state) {
  const memopt::Roots roots = sys::default_roots();
  memopt::readers::CollectOptions options;
  options.processes = false;
  options.gpus = false;
  for (auto _ : state) benchmark::DoNotOptimize(memopt::readers::collect(roots, options));
}
BENCHMARK(BM_collect_without_processes)->Unit(benchmark::kMicrosecond);

}  // namespace
