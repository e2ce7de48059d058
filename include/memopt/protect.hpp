#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "memopt/analysis/watch.hpp"
#include "memopt/error.hpp"

// In-process protection for the model server itself: a callback when the container's level
// rises (the monitor engine on a background thread, woken by kernel notifications), and an
// admission gate that lets a request start only when the container has room for it.
namespace memopt {

class Tracker;  // memopt/inprocess.hpp: what a request ran alone peaked at

/// A registration of on_pressure(); cancels itself when destroyed.
class PressureSubscription {
 public:
  virtual ~PressureSubscription() = default;
  /// Stops the callbacks (waits for one running on another thread). Later calls do nothing.
  virtual void cancel() = 0;
};

/// Calls `callback` with the level_changed event each time this process's container rises to
/// `level` or above (from below it; once at start when it already is). One engine watches for
/// every subscription of the process, on its own thread, woken by the kernel's v1 thresholds,
/// v2 events and PSI triggers (the same as `memopt monitor`), not by polling; it stops with
/// the last subscription. Callbacks run on that thread, one at a time; an exception in one is
/// caught and written to stderr. Throws Error when the engine cannot start.
[[nodiscard]] std::unique_ptr<PressureSubscription> on_pressure(
    analysis::Level level, std::function<void(const analysis::Event&)> callback);

/// This process's container memory now (the cgroup's working set against its limit, or the
/// host's when there is no limit), read cheaply: what the admission gate judges by.
[[nodiscard]] analysis::EffectiveMemory container_memory_now();

/// A memory admission gate: admit(estimate) lets a request start when the container's
/// available memory, less what admitted requests have not allocated yet, covers its estimate;
/// otherwise it waits (at most `timeout`), and returns nothing when the room never came. A
/// request is always admitted when no other is running (waiting would free nothing of this
/// process). With the default reading, each release runs malloc_trim so that what the request
/// freed is back in the kernel's figures for the next one.
/// Estimates can be learned per key: the largest peak growth measured of a request with that
/// key that ran alone (the process's VmHWM is reset at its start).
class AdmissionGate {
 public:
  using Reading = std::function<analysis::EffectiveMemory()>;

  /// `reading`: the memory judged (default: container_memory_now()).
  explicit AdmissionGate(Reading reading = {});
  ~AdmissionGate();
  AdmissionGate(const AdmissionGate&) = delete;
  AdmissionGate& operator=(const AdmissionGate&) = delete;

  /// An admitted request; releases its reservation when destroyed.
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept;
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket();
    /// Ends the request now (measuring its peak for a learned key). Later calls do nothing.
    void release();
    [[nodiscard]] std::uint64_t estimate_bytes() const { return estimate_; }

   private:
    friend class AdmissionGate;
    Ticket(AdmissionGate* gate, std::uint64_t id, std::uint64_t estimate)
        : gate_(gate), id_(id), estimate_(estimate) {}
    AdmissionGate* gate_;
    std::uint64_t id_;
    std::uint64_t estimate_;
  };

  /// Waits until the request fits or `timeout` passes (nothing then). The estimate is the one
  /// learned for `key` when there is one, else `estimate_bytes` (Error when neither is).
  /// Throws Error when the estimate alone exceeds the container's limit (it would never fit).
  [[nodiscard]] std::optional<Ticket> admit(std::optional<std::uint64_t> estimate_bytes,
                                            std::chrono::milliseconds timeout,
                                            const std::string& key = "");

  /// The sum of the admitted requests' estimates.
  [[nodiscard]] std::uint64_t admitted_bytes() const;
  /// The learned estimate of `key`, when one was measured.
  [[nodiscard]] std::optional<std::uint64_t> learned_bytes(const std::string& key) const;

  /// How often a waiting admit() looks at the memory again (memory freed outside the gate
  /// wakes nobody; a release wakes the waiters at once).
  static constexpr std::chrono::milliseconds kRecheck{20};

 private:
  struct Admitted {
    std::uint64_t estimate;
    std::string key;
    /// While no other request runs beside a keyed one, its peak is its own: measured by a
    /// track() scope (which resets no one's peak), dropped once another request is admitted.
    std::unique_ptr<Tracker> alone;
  };
  void release(std::uint64_t id);

  Reading reading_;
  bool trim_;  ///< the default reading: malloc_trim at each release
  mutable std::mutex mutex_;
  std::condition_variable released_;
  std::map<std::uint64_t, Admitted> admitted_;
  std::uint64_t admitted_bytes_ = 0;
  std::uint64_t used_at_first_ = 0;  ///< used when the gate went from idle to busy
  std::uint64_t next_id_ = 1;
  std::map<std::string, std::uint64_t> learned_;
};

}  // namespace memopt
