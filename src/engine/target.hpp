#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "memopt/analysis/watch.hpp"
#include "memopt/engine.hpp"
#include "memopt/readers/cgroupfs.hpp"

// The target's lifecycle: found -> gone -> found again. A gone target is unknown, with no
// figures and no OOM-kill accounting, and never the host by fallback.
namespace memopt::engine {

/// What changed in the target: found (again) or lost, and the sentence that says so.
struct TargetChange {
  analysis::EventKind kind = analysis::EventKind::kTargetFound;
  std::string message;
};

class TargetTracker {
 public:
  /// The target's lifecycle: never found yet (unknown), found, gone (unknown until found again).
  enum class Presence { kNotFound, kFound, kGone };

  /// Notices (a --pid target that exited and is followed by its cgroup) go to `sink`.
  TargetTracker(Roots roots, model::Target target, EngineSink& sink);

  /// Locates the target for the first time.
  void start();
  /// Checked before each reading: the change, if any. A target found again is read for its
  /// limit first (a cgroup read without it would pass for host scope).
  [[nodiscard]] std::optional<TargetChange> track();
  /// The target went away while it was read (`why`): unknown until it is back.
  [[nodiscard]] TargetChange lose(std::string why);

  [[nodiscard]] Presence presence() const { return presence_; }
  [[nodiscard]] bool found() const { return presence_ == Presence::kFound; }
  /// What is located: the target, or after `--pid P` exited, the cgroup P was in.
  [[nodiscard]] const model::Target& watched() const { return watched_; }
  [[nodiscard]] const std::optional<readers::CgroupLocation>& location() const { return location_; }
  /// Why the target's memory cannot be read (gone, malformed), or nothing.
  [[nodiscard]] const std::optional<std::string>& unreadable() const { return unreadable_; }
  /// The target's limit as last read; absent: none, or not read (gone).
  [[nodiscard]] std::optional<std::uint64_t> limit_bytes() const { return limit_bytes_; }
  void set_limit_bytes(std::optional<std::uint64_t> limit) { limit_bytes_ = limit; }

 private:
  [[nodiscard]] bool process_runs(int pid) const;
  [[nodiscard]] std::optional<std::string> why_gone();

  Roots roots_;
  model::Target target_;
  EngineSink& sink_;
  Presence presence_ = Presence::kNotFound;
  model::Target watched_;
  std::optional<int> followed_pid_;  ///< `--pid P` after P exited
  std::optional<readers::CgroupLocation> location_;
  std::optional<std::string> unreadable_;
  std::optional<std::uint64_t> limit_bytes_;
};

}  // namespace memopt::engine
