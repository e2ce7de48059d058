#include "engine/target.hpp"

#include <fmt/format.h>

#include <utility>
#include <vector>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"

namespace memopt::engine {

namespace {

/// Whether the cgroup directory `dir` holds a process.
bool holds_processes(const std::string& dir) {
  const auto text = sys::read_optional(dir + "/cgroup.procs");
  return text && text->find_first_of("0123456789") != std::string::npos;
}

}  // namespace

TargetTracker::TargetTracker(Roots roots, model::Target target, EngineSink& sink)
    : roots_(std::move(roots)), target_(std::move(target)), sink_(sink) {}

void TargetTracker::start() {
  watched_ = target_;
  std::vector<model::Note> notes;
  auto target = readers::locate_target(roots_, watched_, notes);
  location_ = std::move(target.location);
  unreadable_ = std::move(target.unreadable);
  presence_ = unreadable_ ? Presence::kNotFound : Presence::kFound;
}

/// Whether process `pid` runs (not exited, not a zombie, not exiting): a zombie's cgroup file
/// reads "/" on v1, and the root is never the target by fallback.
bool TargetTracker::process_runs(int pid) const {
  const std::string path = fmt::format("{}/{}/stat", roots_.procfs, pid);
  const auto text = sys::read_optional(path);
  // A captured tree may have the cgroup file without stat; a live process has both.
  if (!text) return sys::exists(fmt::format("{}/{}/cgroup", roots_.procfs, pid));
  const auto state = readers::parse_proc_stat(*text, path);
  return !state.dead() && !state.exiting();
}

/// Why the found target is gone now, or nothing while it is there. `--pid P`: once P has
/// exited the engine follows the cgroup P was in, which is gone while it holds no process
/// (a restarting model) or is removed.
std::optional<std::string> TargetTracker::why_gone() {
  if (!location_) return std::nullopt;  // host scope: never gone
  if (watched_.kind == model::Target::Kind::kPid) {
    if (process_runs(watched_.pid)) return std::nullopt;
    sink_.on_notice(fmt::format("pid {} has exited; following the cgroup it was in ({})",
                                watched_.pid, location_->dir));
    followed_pid_ = watched_.pid;
    watched_ = model::Target{model::Target::Kind::kCgroup, 0, location_->dir};
  }
  if (!sys::exists(location_->dir)) return fmt::format("cgroup {} was removed", location_->dir);
  if (followed_pid_ && !holds_processes(location_->dir)) {
    return fmt::format("pid {} has exited and its cgroup {} holds no process", *followed_pid_,
                       location_->dir);
  }
  return std::nullopt;
}

std::optional<TargetChange> TargetTracker::track() {
  if (presence_ == Presence::kFound) {
    if (auto why = why_gone()) return lose(std::move(*why));
    return std::nullopt;
  }
  std::vector<model::Note> notes;
  auto target = readers::locate_target(roots_, watched_, notes);
  if (!target.location || (followed_pid_ && !holds_processes(target.location->dir))) {
    if (target.unreadable && presence_ == Presence::kNotFound) unreadable_ = target.unreadable;
    return std::nullopt;
  }
  std::optional<std::uint64_t> limit;
  try {
    limit = readers::read_cgroup_at(*target.location, notes).limit_bytes;
  } catch (const Error& e) {
    // Malformed (said while it stays so), or gone again before it was read: not found yet.
    if (sys::exists(target.location->dir)) unreadable_ = e.what();
    return std::nullopt;
  }
  const bool was_gone = presence_ == Presence::kGone;
  location_ = std::move(target.location);
  unreadable_.reset();
  presence_ = Presence::kFound;
  limit_bytes_ = limit;
  return TargetChange{
      analysis::EventKind::kTargetFound,
      fmt::format("{} {}: {}", target_.describe(), was_gone ? "is back" : "found", location_->dir)};
}

TargetChange TargetTracker::lose(std::string why) {
  presence_ = Presence::kGone;
  location_.reset();
  unreadable_ = why;
  limit_bytes_.reset();
  return TargetChange{
      analysis::EventKind::kTargetLost,
      fmt::format("{} is gone: {}; unknown until it is back", target_.describe(), why)};
}

}  // namespace memopt::engine
