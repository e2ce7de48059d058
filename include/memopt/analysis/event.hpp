#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "memopt/analysis/gpu_verdicts.hpp"
#include "memopt/analysis/report.hpp"
#include "memopt/model/facts.hpp"
#include "memopt/model/sample.hpp"

// An event: something the monitor saw or did. What every event has (when, the level, the
// memory, a sentence) sits on Event; what only some kinds say sits in one typed payload per
// kind family, and the kind is read from the payload, so the two never disagree.
namespace memopt::analysis {

using TimePoint = std::chrono::system_clock::time_point;

/// What an event says. Its name (to_string) is the "event" of JSON, MEMOPT_EVENT of hooks and
/// the label of memopt_events_total; docs/report-schema.md describes each one's fields.
enum class EventKind {
  kLevelChanged,     ///< the level changed (hysteresis applied)
  kOomKill,          ///< the kernel's OOM killer ended a process of the target
  kPressure,         ///< a PSI trigger fired or the configured stall share was crossed
  kLeakSuspected,    ///< a process grows in a straight line
  kOomForecast,      ///< the target's growth reaches the limit within the horizon
  kCleanup,          ///< an automatic cleanup ran (steps, bytes released)
  kShed,             ///< protection asked cooperating processes to shed
  kKill,             ///< protection chose (and signalled, unless a dry run) a victim
  kTargetLost,       ///< the watched process or cgroup went away
  kTargetFound,      ///< it is back
  kWorkersCopy,      ///< a parent's forked workers copy its memory page by page
  kGpuOrphan,        ///< GPU memory held by a process that is gone or leaves it idle
  kGpuWrongDevice,   ///< GPU memory on a device the process was not meant to use
  kShmFilling,       ///< the target's /dev/shm fills towards its size
  kShmSweep,         ///< protection removed a victim's orphaned /dev/shm files
  kLoopForecast,     ///< a cooperating process forecast that its loop reaches the limit
  kHookFailed,       ///< an --on-alert hook could not run
  kRecordingFailed,  ///< the flight recorder could not write
  kPostmortem,       ///< the flight recorder wrote a post-mortem
  kMonitorStopped,   ///< the monitor stopped during a danger episode (ends the recorder's)
  kNotice,           ///< a viewer's line for a notice (top's event pane); never in JSON
};

/// "level_changed", "oom_kill", ... (snake_case, stable: part of every document's schema).
[[nodiscard]] const char* to_string(EventKind kind) noexcept;

/// The kind whose to_string() is `name`; absent for any other text.
[[nodiscard]] std::optional<EventKind> parse_event_kind(std::string_view name) noexcept;

/// One step of a cleanup, as `memopt cleanup` reports it.
struct CleanupStepOutcome {
  std::string name;    ///< "cooperative", "cgroup_reclaim", "drop_caches", "compact_memory"
  std::string status;  ///< "done", "skipped", "failed"
};

/// An allocation site whose memory grows steadily, as the leaking process's own leak check
/// (memopt.leak_check()) reports it through its cleanup socket.
struct LeakSite {
  std::string file;
  int line = 0;
  std::string kind;                  ///< "python" (tracemalloc) or "native" (torch CPU tensors)
  std::uint64_t size_bytes = 0;      ///< held at the process's last checkpoint
  std::uint64_t count = 0;           ///< allocations (python) or tensors (native) held
  double growth_bytes_per_hour = 0;  ///< over the process's leak check
  double r2 = 0;                     ///< fit of the size against the checkpoint number
};

/// The process an event is about (JSON "pid" and "name").
struct ProcessRef {
  int pid = 0;
  std::optional<std::string> name{};  ///< comm; absent where it was not known
};

// --- payloads: one per kind family ------------------------------------------------------------
// Each names its kind in kKind (GpuFinding's verdict says which of its two it is). Those that
// are about one process hold it as `process`, which Event::process() reads for any kind. Every
// member has an initializer, so that a designated initializer may name only some of them
// (-Wmissing-field-initializers).

/// level_changed
struct LevelChange {
  static constexpr EventKind kKind = EventKind::kLevelChanged;
  std::optional<Level> previous{};  ///< absent for the first level said
  bool initial = false;             ///< the first observation was above normal (no previous level)
};

/// oom_kill
struct OomKills {
  static constexpr EventKind kKind = EventKind::kOomKill;
  std::optional<std::uint64_t> count{};   ///< new kills on the cgroup's oom_kill counter
  std::vector<model::OomKill> victims{};  ///< from the kernel log, if readable
};

/// pressure
struct PressureFired {
  static constexpr EventKind kKind = EventKind::kPressure;
  std::optional<model::Pressure> pressure{};  ///< the PSI averages, where read
  std::optional<std::string> trigger{};       ///< the PSI trigger that fired, if one did
};

/// leak_suspected
struct LeakSuspicion {
  static constexpr EventKind kKind = EventKind::kLeakSuspected;
  ProcessRef process{};
  double rate_mib_per_hour = 0;  ///< the fitted growth
  double r2 = 0;                 ///< the fit's r2
  /// The top growing sites, asked from the process (empty: see sites_note).
  std::vector<LeakSite> sites{};
  /// Why there are no sites, and how to get them (serve_cleanup, leak_check).
  std::optional<std::string> sites_note{};
};

/// oom_forecast
struct OomForecast {
  static constexpr EventKind kKind = EventKind::kOomForecast;
  double seconds_to_limit = 0;                ///< at the working set's trend
  std::optional<double> rate_mib_per_hour{};  ///< the trend's slope, where a line fits
};

/// cleanup (an automatic one, --auto-cleanup)
struct CleanupRan {
  static constexpr EventKind kKind = EventKind::kCleanup;
  std::optional<std::int64_t> released_bytes{};  ///< before - after, negative if it grew
  std::optional<double> duration_seconds{};      ///< how long it ran
  std::vector<CleanupStepOutcome> steps{};
};

/// shed (protection's request to cooperating processes)
struct ShedRan {
  static constexpr EventKind kKind = EventKind::kShed;
  std::optional<std::int64_t> released_bytes{};  ///< absent for a dry run or a failed request
  std::vector<CleanupStepOutcome> steps{};
};

/// kill
struct KillChosen {
  static constexpr EventKind kKind = EventKind::kKill;
  ProcessRef process{};                      ///< the victim
  std::optional<std::uint64_t> pss_bytes{};  ///< the victim's PSS when chosen
  std::optional<std::string> reason{};       ///< why this victim
  std::vector<std::string> alternatives{};   ///< the other eligible processes
  std::optional<std::string> signal{};       ///< SIGTERM or SIGKILL (absent: none could be sent)
  std::optional<bool> dry_run{};             ///< decided only, nothing sent
};

/// workers_copy
struct WorkersCopying {
  static constexpr EventKind kKind = EventKind::kWorkersCopy;
  ProcessRef process{};            ///< the parent
  std::vector<int> worker_pids{};  ///< the copying workers
  double rate_mib_per_hour = 0;    ///< the group's growth
  /// The target's used memory once every worker has copied.
  std::optional<std::uint64_t> projected_bytes{};
  /// What each worker's private memory converges to.
  std::optional<std::uint64_t> converged_private_bytes{};
  /// The most workers that fit under 90% of the limit.
  std::optional<unsigned> max_workers{};
  /// A revision of one already said for this group, once the fitted asymptote of the workers'
  /// private memory settled (the first is said on early data, with the parent's whole anonymous
  /// size as each worker's end). At most GroupParams::max_updates.
  bool update = false;
  std::optional<double> seconds_to_limit{};  ///< at the group's growth
};

/// gpu_orphan or gpu_wrong_device, as the verdict's kind says. Raised once per process while
/// the verdict holds.
struct GpuFinding {
  ProcessRef process{};
  GpuVerdict verdict{};  ///< bytes, GPUs, holders, fix
  [[nodiscard]] EventKind kind() const noexcept {
    return verdict.kind == GpuVerdictKind::kOrphan ? EventKind::kGpuOrphan
                                                   : EventKind::kGpuWrongDevice;
  }
};

/// shm_filling: the target's /dev/shm used and size, its fill rate (bytes per second, over the
/// last two full samples) and the seconds to full at that rate (absent when not filling).
struct ShmFilling {
  static constexpr EventKind kKind = EventKind::kShmFilling;
  std::uint64_t used_bytes = 0;
  std::uint64_t size_bytes = 0;
  std::optional<double> bytes_per_second{};
  std::optional<double> seconds_to_full{};
};

/// shm_sweep
struct ShmSwept {
  static constexpr EventKind kKind = EventKind::kShmSweep;
  ProcessRef process{};              ///< the victim whose files were removed
  std::uint64_t released_bytes = 0;  ///< the bytes of the files removed
};

/// loop_forecast
struct LoopForecastSaid {
  static constexpr EventKind kKind = EventKind::kLoopForecast;
  ProcessRef process{};                  ///< the process that forecast
  model::LoopForecastReport forecast{};  ///< what it forecast for its loop
};

// The kinds that say nothing beyond the message.
struct TargetLost {
  static constexpr EventKind kKind = EventKind::kTargetLost;
};
struct TargetFound {
  static constexpr EventKind kKind = EventKind::kTargetFound;
};
struct HookFailed {
  static constexpr EventKind kKind = EventKind::kHookFailed;
};
struct RecordingFailed {
  static constexpr EventKind kKind = EventKind::kRecordingFailed;
};
struct PostmortemWritten {
  static constexpr EventKind kKind = EventKind::kPostmortem;
};
struct MonitorStopped {
  static constexpr EventKind kKind = EventKind::kMonitorStopped;
};
struct Notice {
  static constexpr EventKind kKind = EventKind::kNotice;
};

using EventPayload =
    std::variant<LevelChange, OomKills, PressureFired, LeakSuspicion, OomForecast, CleanupRan,
                 ShedRan, KillChosen, WorkersCopying, GpuFinding, ShmFilling, ShmSwept,
                 LoopForecastSaid, TargetLost, TargetFound, HookFailed, RecordingFailed,
                 PostmortemWritten, MonitorStopped, Notice>;

namespace detail {
template <typename P, typename Variant>
struct IsAlternative;
template <typename P, typename... Ts>
struct IsAlternative<P, std::variant<Ts...>> : std::bool_constant<(std::is_same_v<P, Ts> || ...)> {
};
}  // namespace detail

/// One of EventPayload's types: what Event is made from and what payload_if() reads.
template <typename P>
concept EventPayloadType = detail::IsAlternative<P, EventPayload>::value;

/// The kind a payload says.
template <EventPayloadType P>
[[nodiscard]] constexpr EventKind kind_of(const P& payload) noexcept {
  if constexpr (requires { P::kKind; }) {
    return P::kKind;
  } else {
    return payload.kind();
  }
}

/// Something that happened. Made from its payload, which gives its kind.
class Event {
 public:
  /// An event of the payload's kind; at, level, memory and message are set as they are known.
  template <EventPayloadType P>
  explicit Event(P payload, TimePoint when = {}, Level level_then = Level::kNormal,
                 EffectiveMemory memory_then = {})
      : at(when), level(level_then), memory(std::move(memory_then)), payload_(std::move(payload)) {}

  TimePoint at;
  Level level = Level::kNormal;  ///< the level when it happened
  EffectiveMemory memory;
  std::string message;  ///< one sentence for people

  [[nodiscard]] EventKind kind() const noexcept {
    return std::visit([](const auto& p) { return kind_of(p); }, payload_);
  }
  /// The payload if it is a `P` (the kind's family), else null.
  template <EventPayloadType P>
  [[nodiscard]] const P* payload_if() const noexcept {
    return std::get_if<P>(&payload_);
  }
  template <EventPayloadType P>
  [[nodiscard]] P* payload_if() noexcept {
    return std::get_if<P>(&payload_);
  }
  [[nodiscard]] const EventPayload& payload() const noexcept { return payload_; }
  /// The process the event is about (leak_suspected, kill, workers_copy, gpu_*, shm_sweep,
  /// loop_forecast); null for the other kinds.
  [[nodiscard]] const ProcessRef* process() const noexcept {
    return std::visit(
        [](const auto& p) -> const ProcessRef* {
          if constexpr (requires { p.process; }) {
            return &p.process;
          } else {
            return nullptr;
          }
        },
        payload_);
  }

 private:
  EventPayload payload_;
};

}  // namespace memopt::analysis
