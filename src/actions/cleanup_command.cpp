#include <cstdint>
#include <vector>

#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/readers/gpu_attribution.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/sys/runtime_dir.hpp"
#include "memopt/sys/self.hpp"

namespace memopt::actions {

CleanupReport run_cleanup_command(const Roots& roots, Actuator& actuator, CleanupOptions options) {
  options.runtime_dirs = sys::runtime_directories_to_scan();
  // Asked before the cleanup empties it: how much of each process's GPU memory is torch's cache.
  const auto stats = ask_process_stats(roots, options.target, options.runtime_dirs,
                                       std::chrono::milliseconds(1000));
  auto report = run_cleanup(roots, actuator, options);
  for (auto& process : report.processes) {
    for (const auto& s : stats) {
      if (s.pid != process.pid || s.error) continue;
      std::uint64_t cache = 0;
      for (const auto& d : s.torch) cache += d.reserved_bytes - d.allocated_bytes;
      process.torch_cache_bytes = cache;
    }
  }
  std::vector<model::Note> notes;
  auto gpus = readers::read_gpus(roots, notes);
  if (!gpus.empty()) readers::attribute_gpu_processes(roots, gpus, stats, notes);
  note_gpu_owners(gpus, sys::self_pid(), report);
  return report;
}

}  // namespace memopt::actions
