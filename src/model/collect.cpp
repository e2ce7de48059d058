#include "memopt/model/collect.hpp"

#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/clock.hpp"

namespace memopt::model {

Sample collect(const sys::Roots& roots, const CollectOptions& options) {
  Sample sample;
  sample.timestamp = options.clock ? options.clock() : sys::wall_now();
  sample.host = readers::read_host_memory(roots);
  sample.host_pressure = readers::read_host_pressure(roots, sample.notes);
  sample.cgroup = readers::read_cgroup(roots, sample.notes);
  // v1 swap is memsw minus usage, two counters charged in separate per-CPU batches: with no
  // swap on the host at all, their difference is batching noise, and the truth is 0.
  if (sample.cgroup && sample.cgroup->version == 1 && sample.cgroup->swap_usage_bytes &&
      sample.host.swap_total_bytes == 0) {
    sample.cgroup->swap_usage_bytes = 0;
  }
  if (options.processes) {
    sample.processes = readers::read_processes(roots, sample.notes, options.process_cache);
  }
  if (options.fragmentation)
    sample.fragmentation = readers::read_fragmentation(roots, sample.notes);
  if (options.gpus) {
    sample.gpus = options.nvml != nullptr ? options.nvml->read(roots, sample.notes)
                                          : readers::read_gpus(roots, sample.notes);
  }
  return sample;
}

}  // namespace memopt::model
