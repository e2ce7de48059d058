#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "memopt/actions/alert_hooks.hpp"
#include "memopt/actions/cleanup.hpp"
#include "memopt/actions/protect.hpp"
#include "memopt/analysis/process_groups.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/engine.hpp"

// What the engine does as memory runs out, in order: the cleanup (--auto-cleanup, on a thread
// of its own), then protection (--protect: ask cooperating processes to shed, then end one
// process before the kernel's OOM killer does); and the --on-alert hooks on every event. It
// acts and returns the events its actions raised; the engine emits them.
namespace memopt::engine {

/// Auto-cleanup: how long one cooperating process may take to answer. Shorter than `memopt
/// cleanup`'s 30 s: an engine asked to stop waits for a running cleanup.
inline constexpr std::chrono::milliseconds kAutoCleanupRequestTimeout{5000};

/// --protect: the workers of every worker group, chosen before their parent (copying ones
/// first, see actions::choose_victim).
[[nodiscard]] std::vector<actions::GroupWorker> group_workers(
    const std::vector<analysis::GroupAssessment>& groups);

class Escalation {
 public:
  /// `options` is the engine's own (a reload changes its configuration); notices go to `sink`.
  Escalation(const EngineOptions& options, EngineSink& sink, EngineClock clock);
  ~Escalation();
  Escalation(const Escalation&) = delete;
  Escalation& operator=(const Escalation&) = delete;

  /// Takes the configuration's [cleanup] schedule and --on-alert hooks (at start, on reload).
  void configure();

  /// --protect: made at start (host scope without allow_host refuses: Error(kUsage)), remade
  /// or dropped on reload (then a refusal is a notice and protection stays off).
  void start_protect(bool at_start, const std::optional<readers::CgroupLocation>& location,
                     std::optional<std::uint64_t> limit_bytes);

  /// Auto-cleanup: starts `memopt cleanup` on its own thread when the schedule says so at
  /// `level`; the engine goes on and hears of it from finish_cleanup().
  void start_cleanup(const analysis::QuickObservation& o, analysis::Level level);
  /// The `cleanup` event of a finished cleanup; `wait`: waits for a running one.
  [[nodiscard]] std::optional<analysis::Event> finish_cleanup(bool wait);
  /// memopt_cleanup_reclaimed_bytes_total; absent without --auto-cleanup.
  [[nodiscard]] std::optional<std::uint64_t> cleanup_reclaimed_bytes() const;

  /// The escalation past cleanup on the reading just taken (`taken`: before it was read):
  /// shed and kill events. Notices go to the sink.
  [[nodiscard]] std::vector<analysis::Event> protect_step(
      const analysis::QuickObservation& o, analysis::Level reading_level,
      std::chrono::steady_clock::time_point taken);
  /// What protection needs of a full sample: the target's cgroup, its worker groups, who grows.
  void protect_location(const std::optional<readers::CgroupLocation>& location);
  void protect_groups(const std::vector<analysis::GroupAssessment>& groups);
  void protect_observe(const std::vector<model::ProcessMemory>& processes);
  /// At the end: protection's last events (a kill waited for).
  [[nodiscard]] std::vector<analysis::Event> finish_protect();

  /// Starts the --on-alert hook for `event` (never for a hook_failed one); returns why it
  /// could not run, or "" (also without hooks).
  [[nodiscard]] std::string start_hook(const analysis::Event& event);
  /// Why hooks that ended failed (all are ended at shutdown).
  [[nodiscard]] std::vector<std::string> reap_hooks(bool shutdown);

  /// Whether a cleanup or a hook is under way (the engine must come back to finish it).
  [[nodiscard]] bool busy() const;

 private:
  struct RunningCleanup {
    std::future<actions::CleanupReport> result;
    analysis::Event event{analysis::CleanupRan{}};  ///< the level and memory that started it
    std::chrono::steady_clock::time_point started;
  };

  [[nodiscard]] actions::AlertHooks::Options hook_options() const;

  const EngineOptions& options_;
  EngineSink& sink_;
  EngineClock clock_;
  std::optional<analysis::CleanupSchedule> schedule_;
  std::optional<RunningCleanup> cleanup_;
  std::uint64_t cleanup_reclaimed_total_ = 0;
  std::unique_ptr<actions::AlertHooks> hooks_;
  actions::Signaller* signaller_ = nullptr;  ///< options' or own_signaller_
  std::unique_ptr<actions::Signaller> own_signaller_;
  std::unique_ptr<actions::Protector> protector_;  ///< --protect
};

}  // namespace memopt::engine
