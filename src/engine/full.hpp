#pragma once

#include "engine/target.hpp"
#include "memopt/engine.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"

// The full sample: the host, the target cgroup, its processes (through a cache: idle ones are
// not walked again each interval), the GPUs (one NVML session across samples) and /dev/shm.
namespace memopt::engine {

class FullReader {
 public:
  explicit FullReader(const Roots& roots) : roots_(roots) {}

  /// What collect() is told for the watched target, stamped by `clock`; `containers`: every
  /// limited container under it too.
  [[nodiscard]] readers::CollectOptions options(const TargetTracker& target,
                                                const EngineClock& clock, bool containers);

  /// The sample of `target` (reported as `as_given`), or without figures while the target is
  /// gone (or was gone while it was read): never those of another cgroup (the root, where a
  /// zombie's cgroup file points).
  [[nodiscard]] model::Sample read(const TargetTracker& target, const model::Target& as_given,
                                   const EngineClock& clock, bool containers);

 private:
  const Roots& roots_;
  readers::ProcessCache process_cache_;
  readers::NvmlSession nvml_;
};

}  // namespace memopt::engine
