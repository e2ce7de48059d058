#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "memopt/analysis/watch.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/kept_file.hpp"

// The quick reading between full samples: the host's meminfo and the target cgroup's counters
// through files kept open, and its stalls when asked. No process is read.
namespace memopt::engine {

class QuickReader {
 public:
  explicit QuickReader(const Roots& roots) : roots_(roots) {}

  /// What one reading found.
  struct Reading {
    model::Sample sample;      ///< the host's memory, and the cgroup's counters when read
    bool cgroup_gone = false;  ///< the counters failed and the cgroup's directory is gone
  };

  /// Reads the host's memory and, at `location` (whose limit is `limit_bytes`), the cgroup's
  /// counters (and its stalls, `with_pressure`) into the sample and `o` (OOM kills,
  /// pressure). `unreadable`: why the target is unknown, carried into the sample. Counters
  /// that fail in a cgroup that is still there make this reading unknown, not the target.
  [[nodiscard]] Reading read(const std::optional<readers::CgroupLocation>& location,
                             std::optional<std::uint64_t> limit_bytes,
                             const std::optional<std::string>& unreadable, bool with_pressure,
                             analysis::QuickObservation& o);

  /// The host's stalls, for a reading whose scope is the host.
  [[nodiscard]] std::optional<model::Pressure> host_pressure() const;

  /// The cgroup's usage at the last reading; absent when it was not read.
  [[nodiscard]] std::optional<std::uint64_t> usage_bytes() const { return usage_bytes_; }

  /// The target is gone: the files kept are those of a cgroup that is no more.
  void forget() {
    files_.clear();
    usage_bytes_.reset();
  }

 private:
  const Roots& roots_;
  sys::KeptFiles files_;
  std::optional<std::uint64_t> usage_bytes_;
};

}  // namespace memopt::engine
