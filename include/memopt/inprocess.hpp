#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// The in-process library: what a program doing inference calls about its own memory.
// Everything here is thread-safe unless a comment says otherwise.
namespace memopt {

/// One measurement of this process's memory (monitor_memory_usage).
struct MemoryUsage {
  std::string tag;
  std::uint64_t rss_bytes = 0;             ///< resident set (`/proc/self/statm`)
  std::optional<std::uint64_t> pss_bytes;  ///< smaps_rollup Pss (4.14+); only with `detail`
  std::optional<std::uint64_t> uss_bytes;  ///< Private_Clean + Private_Dirty; only with `detail`
  std::uint64_t heap_in_use_bytes = 0;     ///< glibc mallinfo2 uordblks + hblkhd
  /// glibc mallinfo2 fordblks: free chunks malloc keeps, including those whose pages
  /// malloc_trim already gave back to the kernel (so not memory the process holds).
  std::uint64_t heap_free_bytes = 0;
  /// The part of the free heap still resident: what a malloc_trim could still give back
  /// (malloc's resident arena pages minus what is allocated in them). Measured with `detail`;
  /// otherwise a figure at most a second old.
  std::uint64_t heap_free_resident_bytes = 0;
  std::optional<std::uint64_t> gpu_used_bytes;  ///< NVML, this pid, summed over devices
  std::int64_t delta_rss_bytes = 0;             ///< RSS change since the previous call (0 first)
};

/// This process's resident set now, in bytes (`/proc/self/statm`): cheap, for measuring around
/// a step. Throws Error when /proc/self cannot be read.
[[nodiscard]] std::uint64_t rss_bytes_of_this_process();

/// Options for monitor_memory_usage.
struct MonitorOptions {
  /// Ask NVML for this process's GPU memory. The library is loaded and initialised once and
  /// kept (again when $MEMOPT_NVML_LIBRARY changes); the first call pays for it (~100 ms).
  bool gpu = true;
  bool log = true;  ///< write one line to stderr
  /// Also read PSS and USS from `/proc/self/smaps_rollup`: a walk of every page table, which
  /// costs milliseconds in a process with a large address space (torch). Off by default.
  bool detail = false;
};

/// Measures this process's memory, compares its RSS with the previous call's (any thread), and
/// logs one line to stderr: "[memopt] TAG: RSS 812.3 MiB (+12.0 MiB), heap in use ...,
/// heap free resident ..., GPU ..." (PSS and USS with `detail`). The default call reads
/// statm, mallinfo2 and the kept NVML session only. Throws Error when /proc/self cannot be
/// read.
MemoryUsage monitor_memory_usage(std::string_view tag, const MonitorOptions& options = {});

/// The line monitor_memory_usage logs, without the newline.
[[nodiscard]] std::string format_memory_usage(const MemoryUsage& usage);

/// The GPU memory NVML attributes to this process's pid, summed over devices; absent without
/// NVML or a GPU, and inside a container's pid namespace when NVML lists none under our pid
/// (NVML gives host pids, which a container cannot map to its own). Uses the kept session.
[[nodiscard]] std::optional<std::uint64_t> gpu_bytes_of_this_process();

/// Closes the NVML session gpu_bytes_of_this_process() keeps; the next call opens a new one
/// (after a driver reload, or in tests that script a fake NVML at its initialisation).
void reset_gpu_session();

/// What a track() scope measured.
struct TrackResult {
  std::uint64_t start_rss_bytes = 0;
  std::uint64_t end_rss_bytes = 0;
  /// The highest RSS inside the scope: the largest of start, end and the samples a background
  /// thread takes every kPeakSamplePeriod while any scope is open, raised to the kernel's
  /// VmHWM when VmHWM grew inside the scope (then the process reached a new lifetime peak in
  /// it, and that peak is exact). A spike shorter than the period that stays below an earlier
  /// lifetime peak can be missed.
  std::uint64_t peak_rss_bytes = 0;
  std::uint64_t start_heap_in_use_bytes = 0;
  std::uint64_t end_heap_in_use_bytes = 0;
};

/// How often an open track() scope samples RSS.
inline constexpr std::chrono::microseconds kPeakSamplePeriod{500};

/// A scope that measures the memory of the code inside it (the seed's tracemalloc, for native
/// memory). Peaks of other threads count too. Resets nothing: VmHWM, ru_maxrss and other
/// scopes (nested or on other threads) keep their own figures.
class Tracker {
 public:
  Tracker();
  Tracker(const Tracker&) = delete;
  Tracker& operator=(const Tracker&) = delete;
  ~Tracker();

  /// Measures now and returns start, end and peak; may be called more than once.
  [[nodiscard]] TrackResult result() const;

 private:
  TrackResult start_;
  std::optional<std::uint64_t> start_hwm_;
  std::uint64_t id_ = 0;
};

/// Starts a tracking scope: `memopt::Tracker scope; ...; scope.result()`.
[[nodiscard]] inline Tracker track() { return {}; }

/// What one cleanup step released, measured around it.
struct CleanupStep {
  std::string name;                                ///< "hook:NAME", "cuda_mem_pools", "malloc_trim"
  std::string status;                              ///< "done", "skipped" or "failed"
  std::string reason;                              ///< why skipped or failed; empty when done
  std::int64_t rss_released_bytes = 0;             ///< RSS before - after (negative: grew)
  std::optional<std::int64_t> gpu_released_bytes;  ///< NVML's bytes of this pid, before - after
};

/// The outcome of cleanup().
struct CleanupResult {
  std::uint64_t rss_before_bytes = 0;
  std::uint64_t rss_after_bytes = 0;
  /// malloc's free heap that is still resident (what malloc_trim could return), before and
  /// after: resident arena pages minus what is allocated in them, measured fresh (see
  /// monitor_memory_usage's heap_free_resident_bytes). Not mallinfo2's fordblks, which still
  /// counts the pages malloc_trim gave back.
  std::uint64_t heap_free_resident_before_bytes = 0;
  std::uint64_t heap_free_resident_after_bytes = 0;
  std::vector<CleanupStep> steps;
};

/// Registers `hook` to run at every cleanup() (e.g. libtorch's emptyCache). A hook registered
/// again under the same name replaces the old one. Hooks run in registration order.
void register_cleanup_hook(std::string name, std::function<void()> hook);

/// Removes the hook `name`; false when none was registered under it.
bool unregister_cleanup_hook(const std::string& name);

/// Runs the registered hooks, trims the CUDA memory pool of each device whose primary context
/// is already active (through the driver API, only when libcuda.so.1 is already loaded and the
/// program has initialised CUDA: it never loads the driver, calls cuInit or creates a context),
/// then malloc_trim(0). A throwing hook is reported as failed and the rest still run. Calls are
/// serialized.
CleanupResult cleanup();

/// The GPU part of cleanup(): hooks and CUDA memory pools, without malloc_trim.
CleanupResult cleanup_gpu_memory();

/// Registers `hook` to run at every shed() (a `shed` request from `memopt monitor --protect`
/// when the container nears its limit): drop a batch size, refuse new requests, free a cache.
/// A hook registered again under the same name replaces the old one.
void register_shed_hook(std::string name, std::function<void()> hook);

/// Removes the shed hook `name`; false when none was registered under it.
bool unregister_shed_hook(const std::string& name);

/// Sheds load: runs the shed hooks (steps "shed_hook:NAME"), evicts every ModelCache's models
/// that nobody is using (step "model_cache", its reason naming them), then malloc_trim. A
/// throwing hook is reported as failed and the rest still run. serve_cleanup() runs it on a
/// "shed" request.
CleanupResult shed();

/// The answer serve_cleanup() sends for a cleanup request, as one JSON line (no newline):
/// {"pid","rss_before_bytes","rss_after_bytes","heap_free_resident_before_bytes",
///  "heap_free_resident_after_bytes","released_bytes","steps":[{"name","status","reason"?,
///  "rss_released_bytes","gpu_released_bytes"?}]}
[[nodiscard]] std::string cleanup_result_json(const CleanupResult& result);

/// Sets what answers a `leaks` request on the cleanup socket: a function returning one JSON
/// object (the Python package's leak_check() installs one while a check runs); an empty
/// function removes it. Thread-safe.
void set_leak_reporter(std::function<std::string()> reporter);

/// The answer to a `leaks` request, as one JSON line with "pid": the reporter's object, or
/// {"pid","error"} when no leak check runs here or the reporter failed.
[[nodiscard]] std::string leak_report_json();

/// Sets what gives a `stats` request torch's caching-allocator figures: a function returning a
/// JSON array, one object per CUDA device torch has initialised, {"device", "uuid"?,
/// "allocated_bytes", "reserved_bytes", "peak_allocated_bytes"?, "context_bytes"?} (the Python
/// package installs one at import; it never initialises CUDA). An empty function removes it.
/// Thread-safe.
void set_torch_stats_provider(std::function<std::string()> provider);

/// Sets the torch version a `stats` request reports as "torch_version" (torch.__version__; the
/// Python package sets it when torch is imported). Empty: none. `memopt diagnose` advises only
/// allocator settings that version knows. Thread-safe.
void set_torch_version(std::string version);

/// The answer to a `stats` request (protocol::encode_stats_answer), as one JSON line: {"pid",
/// "torch": the provider's array read by the clients' own rules (protocol::decode_torch_devices;
/// [] without one), "torch_error"? (the provider failed, or sent what a client would refuse),
/// "torch_version"? (see set_torch_version), "models": [{"name", "bytes", "idle_seconds"}] of every
/// live ModelCache's loaded models, "forecasts": [{"sequence", "at", "bytes_per_item", "item",
/// "limit_item", "total", "seconds_left", "limit_bytes", "message"}] the latest loop forecasts said
/// here (said_forecasts(); docs/report-schema.md)}. Changes nothing.
[[nodiscard]] std::string stats_json();

/// A running cleanup server (serve_cleanup). Stops and removes its socket when destroyed.
class CleanupServer {
 public:
  virtual ~CleanupServer() = default;
  /// Stops the thread and removes the socket; later calls do nothing.
  virtual void stop() = 0;
  /// The socket file: `<runtime dir>/<pid>.sock`.
  [[nodiscard]] virtual const std::string& socket_path() const = 0;
};

/// Starts a background thread listening on `<sys::runtime_directory()>/<pid>.sock` (mode 0600;
/// stale sockets of dead processes there are removed first). A peer with this process's
/// effective uid or root that sends "cleanup\n" gets cleanup() run and one JSON line back
/// (cleanup_result_json); "shed\n" gets shed() run and the same kind of answer; "ping\n" gets
/// {"pid","rss_bytes"}; "leaks\n" gets leak_report_json() and "stats\n" stats_json() (nothing is
/// changed); any other peer
/// gets {"error":"refused: ..."} and nothing runs. Throws Error when the socket cannot be made.
[[nodiscard]] std::unique_ptr<CleanupServer> serve_cleanup();

/// A model (or any expensive object) loaded on first use.
///
/// get() loads it once however many threads ask at the same time (the others wait);
/// unload() drops the cache's reference (holders of a get() handle keep theirs alive).
/// With an idle timeout, a get() that finds the model unused for longer reloads it, and
/// unload_if_idle() drops it; the check happens on access, no thread runs in the background.
template <typename T>
class LazyModel {
 public:
  using Clock = std::chrono::steady_clock;
  using Loader = std::function<std::shared_ptr<T>()>;

  explicit LazyModel(Loader loader, std::optional<Clock::duration> idle_timeout = std::nullopt,
                     std::function<Clock::time_point()> now = &Clock::now)
      : loader_(std::move(loader)), idle_timeout_(idle_timeout), now_(std::move(now)) {}

  /// The model, loading it first when needed. A loader that throws leaves it unloaded and
  /// the exception reaches every caller that waited for that load... and the next get() retries.
  [[nodiscard]] std::shared_ptr<T> get() {
    std::shared_ptr<T> expired;  // destroyed after the lock is released
    std::lock_guard lock(mutex_);
    const auto now = now_();
    if (model_ && idle_timeout_ && now - last_use_ > *idle_timeout_) expired = std::move(model_);
    if (!model_) {
      model_ = loader_();
      ++loads_;
    }
    last_use_ = now;
    return model_;
  }

  /// Drops the model now.
  void unload() {
    std::shared_ptr<T> dropped;
    std::lock_guard lock(mutex_);
    dropped = std::move(model_);
  }

  /// Drops the model when it has been idle longer than the timeout; true when it did.
  bool unload_if_idle() {
    std::shared_ptr<T> dropped;
    std::lock_guard lock(mutex_);
    if (!model_ || !idle_timeout_ || now_() - last_use_ <= *idle_timeout_) return false;
    dropped = std::move(model_);
    return true;
  }

  [[nodiscard]] bool loaded() const {
    std::lock_guard lock(mutex_);
    return model_ != nullptr;
  }

  /// How many times the loader ran.
  [[nodiscard]] unsigned loads() const {
    std::lock_guard lock(mutex_);
    return loads_;
  }

 private:
  mutable std::mutex mutex_;
  Loader loader_;
  std::optional<Clock::duration> idle_timeout_;
  std::function<Clock::time_point()> now_;
  std::shared_ptr<T> model_;
  Clock::time_point last_use_{};
  unsigned loads_ = 0;
};

/// Named models under a byte budget. Each model's cost is measured at load, as the change of
/// the process's memory (RSS by default, or `measure`) across its loader, not declared. When
/// the loaded models cost more than the budget, the least recently used ones that nobody holds
/// (no handle from get() alive) are evicted, then malloc_trim returns their heap. A model in
/// use is never evicted: the cache may stay over budget until it is released, and then (when
/// the last handle from get() is dropped) the cache evicts at once until it is under budget.
/// A model whose cost alone exceeds the budget is not kept: get() throws Error. A shed request
/// (memopt::shed()) evicts every model not in use.
///
/// A ModelCache must outlive the release of its handles on other threads.
class ModelCache {
 public:
  using Measure = std::function<std::uint64_t()>;

  /// `measure` returns the memory the budget counts (default: this process's RSS in bytes).
  /// Throws Error when `budget_bytes` is 0.
  explicit ModelCache(std::uint64_t budget_bytes, Measure measure = {});
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;
  ~ModelCache();

  /// Registers (or replaces, when not loaded) the loader of model `name`.
  template <typename T>
  void add(const std::string& name, std::function<std::shared_ptr<T>()> loader) {
    add_erased(name, [loader = std::move(loader)]() -> std::shared_ptr<void> { return loader(); });
  }

  /// The model `name`, loaded when needed (loads are serialized so each one's cost is its
  /// own). Throws Error when no loader has that name, when a loader asks this cache for a
  /// model that is not loaded (it would wait for its own load), and when the model just loaded
  /// costs more than the whole budget (it is dropped, not kept); a loader's exception
  /// propagates. `T` must be the type its loader returns. The model counts as in use until
  /// every copy of the returned pointer is gone.
  template <typename T>
  [[nodiscard]] std::shared_ptr<T> get(const std::string& name) {
    return std::static_pointer_cast<T>(get_erased(name));
  }

  /// Evicts `name` now when it is loaded and not in use; true when it did.
  bool evict(const std::string& name);

  /// The sum of the loaded models' measured costs, in bytes.
  [[nodiscard]] std::uint64_t used_bytes() const;
  [[nodiscard]] std::uint64_t budget_bytes() const { return budget_bytes_; }

  /// The measured cost of `name` when it is loaded.
  [[nodiscard]] std::optional<std::uint64_t> cost_bytes(const std::string& name) const;

  /// The loaded models, most recently used first.
  [[nodiscard]] std::vector<std::string> loaded() const;

  /// Names evicted so far, oldest first (for logs and tests).
  [[nodiscard]] std::vector<std::string> evictions() const;

  /// Evicts every loaded model that nobody uses (a shed request); returns their names.
  std::vector<std::string> evict_unused();

  /// evict_unused() on every ModelCache alive in this process (shed()); the names evicted.
  static std::vector<std::string> evict_unused_everywhere();

  /// A loaded model, for a `stats` request.
  struct Held {
    std::string name;
    std::uint64_t cost_bytes = 0;     ///< charged to the budget
    std::chrono::nanoseconds idle{};  ///< since its last get()
    bool in_use = false;              ///< a pointer from get() is alive
  };

  /// The loaded models, most recently used first.
  [[nodiscard]] std::vector<Held> held() const;

  /// held() of every ModelCache alive in this process.
  [[nodiscard]] static std::vector<Held> held_everywhere();

 private:
  /// evict_unused(), the models handed to `dropped` for the caller to release outside locks.
  std::vector<std::string> evict_unused(std::vector<std::shared_ptr<void>>& dropped);
  struct Entry {
    std::function<std::shared_ptr<void>()> loader;
    std::shared_ptr<void> model;
    std::weak_ptr<void> lease;  ///< alive while a pointer from get() is held
    std::uint64_t cost_bytes = 0;
    std::chrono::steady_clock::time_point last_use{};
  };
  struct Anchor {
    ModelCache* cache;
  };

  void add_erased(const std::string& name, std::function<std::shared_ptr<void>()> loader);
  std::shared_ptr<void> get_erased(const std::string& name);
  void touch(const std::string& name);  // needs mutex_
  // The pointer get() hands out: shares the model, and tells the cache when the last copy
  // goes (released()); needs mutex_.
  std::shared_ptr<void> lease(Entry& entry);
  void released();
  [[nodiscard]] static bool in_use(const Entry& entry) { return !entry.lease.expired(); }
  // Evicts unused models, least recently used first, until under budget; needs mutex_.
  void evict_over_budget(const std::string& keep, std::vector<std::shared_ptr<void>>& dropped);

  std::uint64_t budget_bytes_;
  Measure measure_;
  mutable std::mutex mutex_;
  std::mutex load_mutex_;
  std::map<std::string, Entry> entries_;
  std::list<std::string> recency_;  // loaded names, most recent first
  std::vector<std::string> evictions_;
  std::shared_ptr<Anchor> anchor_;  // leases reach the cache through it while it lives
};

}  // namespace memopt
