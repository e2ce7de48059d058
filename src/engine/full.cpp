#include "engine/full.hpp"

namespace memopt::engine {

readers::CollectOptions FullReader::options(const TargetTracker& target, const EngineClock& clock,
                                            bool containers) {
  readers::CollectOptions collect;
  collect.target = target.watched();
  collect.nvml = &nvml_;
  collect.process_cache = &process_cache_;
  collect.clock = clock.wall;
  collect.containers = containers;
  return collect;
}

model::Sample FullReader::read(const TargetTracker& target, const model::Target& as_given,
                               const EngineClock& clock, bool containers) {
  auto sample = readers::collect(roots_, options(target, clock, containers));
  sample.target = as_given;
  const auto& location = target.location();
  const bool same_cgroup = location && sample.cgroup && sample.cgroup->path == location->path;
  if (!target.found() || (location && !same_cgroup)) {
    sample.cgroup.reset();
    sample.processes.clear();
    sample.shm.reset();
    sample.cgroup_unreadable = target.unreadable().value_or(
        sample.cgroup_unreadable.value_or("the target changed while it was read"));
  }
  return sample;
}

}  // namespace memopt::engine
