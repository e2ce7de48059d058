#include "memopt/protect.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <system_error>
#include <thread>
#include <utility>

#include "inprocess/self.hpp"
#include "memopt/engine.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/self.hpp"
#include "memopt/units.hpp"

namespace memopt {

namespace {

// --- on_pressure: one engine for every subscription of the process ----------------------------

struct Subscriber {
  analysis::Level level;
  std::function<void(const analysis::Event&)> callback;
};

class PressureHub final : public EngineSink {
 public:
  std::uint64_t add(Subscriber subscriber) {
    std::lock_guard lock(mutex_);
    const auto id = next_id_++;
    subscribers_.emplace(id, std::move(subscriber));
    if (!engine_) start();
    return id;
  }

  void remove(std::uint64_t id) {
    std::unique_ptr<Engine> engine;
    std::thread thread;
    {
      std::lock_guard lock(mutex_);
      if (subscribers_.erase(id) == 0) return;
      if (!subscribers_.empty() || std::this_thread::get_id() == thread_id_) return;
      engine = std::move(engine_);
      thread = std::move(thread_);
    }
    // A callback running on the engine's thread finishes before the cancel returns.
    { const std::lock_guard running(calling_); }
    if (engine) engine->request_stop();
    if (thread.joinable()) thread.join();
  }

  void on_event(const analysis::Event& e) override {
    const auto* change = e.payload_if<analysis::LevelChange>();
    if (!change) return;
    std::vector<std::pair<std::uint64_t, Subscriber>> due;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [id, s] : subscribers_) {
        if (e.level >= s.level && (!change->previous || *change->previous < s.level))
          due.emplace_back(id, s);
      }
    }
    const std::lock_guard running(calling_);
    for (const auto& [id, s] : due) {
      {
        std::lock_guard lock(mutex_);
        if (subscribers_.count(id) == 0) continue;  // cancelled meanwhile
      }
      try {
        s.callback(e);
      } catch (const std::exception& error) {
        std::fputs(
            fmt::format("[memopt] an on_pressure callback failed: {}\n", error.what()).c_str(),
            stderr);
      }
    }
  }

  void on_notice(std::string_view message) override {
    std::fputs(fmt::format("[memopt] on_pressure: {}\n", message).c_str(), stderr);
  }

 private:
  void start() {  // needs mutex_
    EngineOptions options;
    options.config.interval = std::chrono::seconds(3600);  // levels come from the quick reads
    engine_ = std::make_unique<Engine>(std::move(options), *this);
    auto* engine = engine_.get();
    const sys::AsyncSignalsBlocked blocked;  // the program's threads take its signals
    thread_ = std::thread([this, engine] {
      {
        std::lock_guard lock(mutex_);
        thread_id_ = std::this_thread::get_id();
      }
      try {
        engine->run();
      } catch (const std::exception& error) {
        on_notice(fmt::format("the watch stopped: {}", error.what()));
      }
    });
  }

  std::mutex mutex_;
  std::mutex calling_;
  std::map<std::uint64_t, Subscriber> subscribers_;
  std::uint64_t next_id_ = 1;
  std::unique_ptr<Engine> engine_;
  std::thread thread_;
  std::thread::id thread_id_;
};

PressureHub& hub() {
  static auto* instance = new PressureHub();  // never destroyed: threads may outlive statics
  return *instance;
}

class Subscription final : public PressureSubscription {
 public:
  explicit Subscription(std::uint64_t id) : id_(id) {}
  ~Subscription() override { cancel(); }
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  void cancel() override {
    if (id_ != 0) hub().remove(std::exchange(id_, 0));
  }

 private:
  std::uint64_t id_;
};

}  // namespace

std::unique_ptr<PressureSubscription> on_pressure(
    analysis::Level level, std::function<void(const analysis::Event&)> callback) {
  if (!callback) throw Error("on_pressure: the callback is empty");
  try {
    return std::make_unique<Subscription>(hub().add({level, std::move(callback)}));
  } catch (const std::system_error& e) {
    throw Error(fmt::format("on_pressure: cannot start the watch: {}", e.what()));
  }
}

analysis::EffectiveMemory container_memory_now() {
  const auto roots = sys::default_roots();
  static const auto location = [&roots] {
    std::vector<model::Note> notes;
    return readers::locate_cgroup(roots, notes);
  }();
  model::Sample sample;
  sample.host = readers::read_host_memory(roots);
  if (location) {
    std::vector<model::Note> notes;
    sample.cgroup = readers::read_cgroup_at(*location, notes);
  }
  return analysis::effective_memory(sample);
}

// --- the admission gate ---------------------------------------------------------------------

AdmissionGate::AdmissionGate(Reading reading)
    : reading_(reading ? std::move(reading) : Reading(&container_memory_now)), trim_(!reading) {}

AdmissionGate::Ticket::Ticket(Ticket&& other) noexcept
    : gate_(std::exchange(other.gate_, nullptr)), id_(other.id_), estimate_(other.estimate_) {}

AdmissionGate::Ticket::~Ticket() { release(); }

void AdmissionGate::Ticket::release() {
  if (gate_ != nullptr) std::exchange(gate_, nullptr)->release(id_);
}

AdmissionGate::~AdmissionGate() = default;

std::optional<AdmissionGate::Ticket> AdmissionGate::admit(
    std::optional<std::uint64_t> estimate_bytes, std::chrono::milliseconds timeout,
    const std::string& key) {
  std::unique_lock lock(mutex_);
  std::uint64_t estimate = 0;
  if (const auto it = learned_.find(key); !key.empty() && it != learned_.end()) {
    estimate = it->second;
  } else if (estimate_bytes) {
    estimate = *estimate_bytes;
  } else {
    throw Error(key.empty() ? std::string("admit: give an estimate or a key")
                            : fmt::format("admit: no estimate given and none learned yet for "
                                          "key '{}' (give one for its first admission)",
                                          key));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto memory = reading_();
    if (memory.limit_bytes > 0 && estimate > memory.limit_bytes) {
      throw Error(
          fmt::format("admit: the estimate {} exceeds the container's limit {}: it "
                      "would never fit",
                      format_bytes(estimate), format_bytes(memory.limit_bytes)));
    }
    // What admitted requests have not allocated yet: their estimates less what the container
    // grew since the gate became busy.
    std::uint64_t outstanding = 0;
    if (!admitted_.empty()) {
      const auto grown =
          memory.used_bytes > used_at_first_ ? memory.used_bytes - used_at_first_ : 0;
      outstanding = admitted_bytes_ > grown ? admitted_bytes_ - grown : 0;
    }
    const auto room =
        memory.available_bytes > outstanding ? memory.available_bytes - outstanding : 0;
    // Alone, a request waits for nobody: waiting would not free anything of this process.
    if (room >= estimate || admitted_.empty()) {
      const bool alone = admitted_.empty();
      if (alone) used_at_first_ = memory.used_bytes;
      for (auto& [id, a] : admitted_) a.alone.reset();
      const auto id = next_id_++;
      admitted_.emplace(
          id,
          Admitted{estimate, key, alone && !key.empty() ? std::make_unique<Tracker>() : nullptr});
      admitted_bytes_ += estimate;
      return Ticket(this, id, estimate);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    released_.wait_for(lock,
                       std::min<std::chrono::steady_clock::duration>(kRecheck, deadline - now));
  }
}

void AdmissionGate::release(std::uint64_t id) {
  // What the request freed goes back to the kernel (glibc keeps it in the freeing thread's
  // arena otherwise, where another thread's request cannot use it): the next reading sees it.
  if (trim_) sys::malloc_trim();
  {
    std::lock_guard lock(mutex_);
    const auto it = admitted_.find(id);
    if (it == admitted_.end()) return;
    const auto a = std::move(it->second);
    admitted_.erase(it);
    admitted_bytes_ -= a.estimate;
    if (a.alone) {
      const auto measured = a.alone->result();
      if (measured.peak_rss_bytes > measured.start_rss_bytes) {
        auto& learned = learned_[a.key];
        learned = std::max(learned, measured.peak_rss_bytes - measured.start_rss_bytes);
      }
    }
  }
  released_.notify_all();
}

std::uint64_t AdmissionGate::admitted_bytes() const {
  std::lock_guard lock(mutex_);
  return admitted_bytes_;
}

std::optional<std::uint64_t> AdmissionGate::learned_bytes(const std::string& key) const {
  std::lock_guard lock(mutex_);
  const auto it = learned_.find(key);
  if (it == learned_.end()) return std::nullopt;
  return it->second;
}

}  // namespace memopt
