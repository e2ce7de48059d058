#include "engine/quick.hpp"

#include <utility>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"

namespace memopt::engine {

QuickReader::Reading QuickReader::read(const std::optional<readers::CgroupLocation>& location,
                                       std::optional<std::uint64_t> limit_bytes,
                                       const std::optional<std::string>& unreadable,
                                       bool with_pressure, analysis::QuickObservation& o) {
  Reading reading;
  auto& sample = reading.sample;
  sample.cgroup_unreadable = unreadable;
  sample.host = readers::read_host_memory(roots_, &files_);
  usage_bytes_.reset();
  if (!location) return reading;
  try {
    const auto counters = readers::read_cgroup_counters(*location, &files_);
    usage_bytes_ = counters.usage_bytes;
    model::CgroupMemory cg;
    cg.limit_bytes = limit_bytes;
    cg.usage_bytes = counters.usage_bytes;
    cg.working_set_bytes = counters.working_set_bytes;
    sample.cgroup = cg;
    o.oom_kills = counters.oom_kill_events;
  } catch (const Error& e) {
    // Malformed, not gone: this reading is unknown, the next one reads again. Gone (a
    // sidecar's model restarting): the engine loses the target until it is back.
    reading.cgroup_gone = !sys::exists(location->dir);
    sample.cgroup_unreadable = e.what();
    return reading;
  }
  if (with_pressure && location->pressure_dir) {
    const std::string path = *location->pressure_dir + "/memory.pressure";
    if (const auto text = sys::read_optional(path)) {
      std::vector<model::Note> ignored;  // the full sample gives the notes
      o.pressure = readers::pressure_or_note(*text, path, ignored);
    }
  }
  return reading;
}

std::optional<model::Pressure> QuickReader::host_pressure() const {
  std::vector<model::Note> ignored;  // the full sample gives the notes
  return readers::read_host_pressure(roots_, ignored);
}

}  // namespace memopt::engine
