// The cost of process groups per full sample: grouping a parent and 64 workers (plus the
// container's other processes) and one GroupWatcher observation with its fit.
#include <benchmark/benchmark.h>

#include <chrono>

#include "memopt/analysis/process_groups.hpp"

namespace {

using memopt::analysis::group_processes;
using memopt::analysis::GroupWatcher;

std::vector<memopt::model::ProcessNode> nodes(int workers, std::uint64_t step) {
  std::vector<memopt::model::ProcessNode> out;
  auto add = [&](int pid, int ppid, std::uint64_t inode, std::uint64_t uss) {
    memopt::model::ProcessNode n;
    n.memory.pid = pid;
    n.memory.name = ppid == 1 ? "python3" : "pt_data_worker";
    n.memory.rss_bytes = uss + (300ull << 20);
    n.memory.uss_bytes = uss;
    n.memory.pss_bytes = uss + (10ull << 20);
    n.ppid = ppid;
    n.start_ticks = static_cast<std::uint64_t>(pid);
    n.exe = memopt::model::ExecutableId{2049, inode};
    if (ppid == 1) n.anon_bytes = 3ull << 30;
    out.push_back(std::move(n));
  };
  add(100, 1, 7, 3ull << 30);
  for (int i = 0; i < workers; ++i) add(200 + i, 100, 7, (20ull << 20) + step * (8ull << 20));
  for (int i = 0; i < 16; ++i) add(1000 + i, 1, 9, 5ull << 20);  // sidecars, shells
  return out;
}

void BM_GroupsPerFullSample(benchmark::State& state) {
  const int workers = static_cast<int>(state.range(0));
  std::vector<std::vector<memopt::model::ProcessNode>> samples;
  for (std::uint64_t s = 0; s < 32; ++s) samples.push_back(nodes(workers, s));
  GroupWatcher watcher;
  memopt::analysis::EffectiveMemory memory;
  memory.scope = memopt::analysis::Scope::kContainer;
  memory.limit_bytes = 64ull << 30;
  memory.used_bytes = 8ull << 30;
  auto at = std::chrono::system_clock::time_point{};
  std::size_t i = 0;
  for (auto _ : state) {
    const auto groups = group_processes(samples[i++ % samples.size()]);
    at += std::chrono::seconds(5);
    benchmark::DoNotOptimize(watcher.observe(at, groups, memory, memopt::analysis::Level::kNormal));
  }
}
BENCHMARK(BM_GroupsPerFullSample)->Arg(4)->Arg(64);

}  // namespace
