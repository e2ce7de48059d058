#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/fs.hpp"

// `memopt run`'s local stand-in for `docker run --memory`: a fresh child memory cgroup.
namespace memopt::actions {

/// A child memory cgroup of this process's own cgroup, made for one command and removed
/// (after killing whatever is left in it) when destroyed.
class Sandbox {
 public:
  /// Creates `memopt-run-<pid>` under this process's memory cgroup (v1 or hybrid: the memory
  /// hierarchy; v2: needs the memory controller delegated to children) and applies `limit`
  /// (memory.limit_in_bytes / memory.max) and `swap` (v1 memsw = limit + swap; v2
  /// memory.swap.max). Throws Error saying why when that is not possible here.
  static std::unique_ptr<Sandbox> create(const sys::Roots& roots,
                                         std::optional<std::uint64_t> limit,
                                         std::optional<std::uint64_t> swap);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  /// Where the cgroup is, for readers::read_cgroup_at.
  [[nodiscard]] const readers::CgroupLocation& location() const { return location_; }
  /// Its `cgroup.procs`, for sys::SpawnOptions::cgroup_procs.
  [[nodiscard]] std::string procs_file() const { return location_.dir + "/cgroup.procs"; }
  /// The processes in it now.
  [[nodiscard]] std::vector<int> pids() const;
  /// Kills every process left in it and removes the directory; true when it is gone.
  bool remove();

 private:
  explicit Sandbox(readers::CgroupLocation location) : location_(std::move(location)) {}
  readers::CgroupLocation location_;
  bool removed_ = false;
};

}  // namespace memopt::actions
