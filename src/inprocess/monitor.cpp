#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "inprocess/self.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/sys/self.hpp"

namespace memopt {

namespace inprocess {

std::uint64_t self_rss_bytes() {
  const auto path = sys::default_roots().procfs + "/self/statm";
  return readers::parse_statm_rss(sys::read_required(path), page_size(), path);
}

std::optional<std::uint64_t> parse_vm_hwm(std::string_view text) {
  constexpr std::string_view kKey = "VmHWM:";
  const auto at = text.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  auto rest = text.substr(at + kKey.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  std::uint64_t kib = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
  if (ec != std::errc{}) return std::nullopt;
  return kib * 1024;
}

std::optional<std::uint64_t> self_peak_rss_bytes() {
  const auto status = sys::read_optional(sys::default_roots().procfs + "/self/status");
  if (!status) return std::nullopt;
  return parse_vm_hwm(*status);
}

}  // namespace inprocess

namespace {

std::mutex g_monitor_mutex;
std::optional<std::uint64_t> g_previous_rss;

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

// "+12.0 MiB", or "no change" for what rounds to 0.0 (never "-0.0 MiB").
std::string signed_mib(std::int64_t bytes) {
  const double value = static_cast<double>(bytes) / (1024.0 * 1024.0);
  if (value > -0.05 && value < 0.05) return "no change";
  return fmt::format("{:+.1f} MiB", value);
}

}  // namespace

// NVML kept open between calls: loading and initialising it costs ~100 ms, a read well under
// one. A changed $MEMOPT_NVML_LIBRARY opens the new library.
namespace {

struct GpuSession {
  std::mutex mutex;
  std::unique_ptr<readers::NvmlSession> session;
  std::string library;
  pid_t pid = 0;
};

GpuSession& gpu_session() {
  static GpuSession kept;
  return kept;
}

}  // namespace

void reset_gpu_session() {
  std::unique_ptr<readers::NvmlSession> closed;
  auto& kept = gpu_session();
  const std::lock_guard lock(kept.mutex);
  closed = std::move(kept.session);
}

std::optional<std::uint64_t> gpu_bytes_of_this_process() {
  const auto library = sys::environment("MEMOPT_NVML_LIBRARY").value_or("");
  std::vector<model::Note> notes;
  const auto roots = sys::default_roots();
  std::vector<model::GpuDevice> gpus;
  {
    auto& kept = gpu_session();
    const std::lock_guard lock(kept.mutex);
    // A forked child must not share its parent's NVML handles.
    if (!kept.session || kept.library != library || kept.pid != sys::self_pid()) {
      kept.session.reset();
      kept.session = std::make_unique<readers::NvmlSession>();
      kept.library = library;
      kept.pid = sys::self_pid();
    }
    gpus = kept.session->read(roots, notes);
  }
  return readers::gpu_bytes_of(gpus, {sys::self_pid()}, roots.procfs);
}

std::uint64_t rss_bytes_of_this_process() { return inprocess::self_rss_bytes(); }

std::string format_memory_usage(const MemoryUsage& usage) {
  std::string line = fmt::format("[memopt] {}: RSS {} ({})", usage.tag, mib(usage.rss_bytes),
                                 signed_mib(usage.delta_rss_bytes));
  if (usage.pss_bytes) line += ", PSS " + mib(*usage.pss_bytes);
  if (usage.uss_bytes) line += ", USS " + mib(*usage.uss_bytes);
  line += fmt::format(", heap in use {}, heap free resident {}", mib(usage.heap_in_use_bytes),
                      mib(usage.heap_free_resident_bytes));
  if (usage.gpu_used_bytes) line += ", GPU " + mib(*usage.gpu_used_bytes);
  return line;
}

MemoryUsage monitor_memory_usage(std::string_view tag, const MonitorOptions& options) {
  MemoryUsage usage;
  usage.tag = std::string(tag);
  usage.rss_bytes = inprocess::self_rss_bytes();
  if (options.detail) {
    readers::ProcessReader reader(sys::default_roots());
    if (auto own = reader.read(sys::self_pid())) {
      usage.pss_bytes = own->pss_bytes;
      usage.uss_bytes = own->uss_bytes;
    }
  }
  const auto heap = sys::heap_info();
  usage.heap_in_use_bytes = heap.in_use_bytes;
  usage.heap_free_bytes = heap.free_bytes;
  usage.heap_free_resident_bytes = inprocess::heap_free_resident_bytes(options.detail);
  if (options.gpu) usage.gpu_used_bytes = gpu_bytes_of_this_process();
  {
    std::lock_guard lock(g_monitor_mutex);
    if (g_previous_rss) {
      usage.delta_rss_bytes =
          static_cast<std::int64_t>(usage.rss_bytes) - static_cast<std::int64_t>(*g_previous_rss);
    }
    g_previous_rss = usage.rss_bytes;
  }
  if (options.log) {
    const std::string line = format_memory_usage(usage) + '\n';
    std::fputs(line.c_str(), stderr);
  }
  return usage;
}

namespace {

// One background thread samples RSS for every open Tracker, so that nothing is reset: each
// scope keeps its own running maximum. The thread sleeps while no scope is open and is
// started again in a forked child (threads do not survive fork).
class PeakSampler {
 public:
  PeakSampler() = default;
  PeakSampler(const PeakSampler&) = delete;
  PeakSampler& operator=(const PeakSampler&) = delete;
  ~PeakSampler() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable() && owner_ == sys::self_pid()) thread_.join();
    if (thread_.joinable()) thread_.detach();
  }

  std::uint64_t open(std::uint64_t rss) {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable() || owner_ != sys::self_pid()) {
      if (thread_.joinable()) thread_.detach();  // the parent's, gone in this child
      owner_ = sys::self_pid();
      const sys::AsyncSignalsBlocked blocked;  // the program's threads take its signals
      thread_ = std::thread([this] { run(); });
    }
    const auto id = ++next_id_;
    peaks_[id] = rss;
    wake_.notify_all();
    return id;
  }

  // The scope's peak so far, raised by `rss` (a reading the caller just took).
  std::uint64_t peak(std::uint64_t id, std::uint64_t rss) {
    std::lock_guard lock(mutex_);
    auto& peak = peaks_[id];
    peak = std::max(peak, rss);
    return peak;
  }

  void close(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    peaks_.erase(id);
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (peaks_.empty()) {
        wake_.wait(lock, [this] { return stopping_ || !peaks_.empty(); });
        continue;
      }
      lock.unlock();
      std::optional<std::uint64_t> rss;
      try {
        rss = inprocess::self_rss_bytes();
      } catch (const std::exception&) {  // /proc unreadable: the scopes keep their own readings
      }
      lock.lock();
      if (rss) {
        for (auto& [id, peak] : peaks_) peak = std::max(peak, *rss);
      }
      wake_.wait_for(lock, kPeakSamplePeriod, [this] { return stopping_; });
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread thread_;
  pid_t owner_ = 0;
  bool stopping_ = false;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::uint64_t> peaks_;
};

PeakSampler& peak_sampler() {
  static PeakSampler sampler;
  return sampler;
}

}  // namespace

Tracker::Tracker() {
  start_hwm_ = inprocess::self_peak_rss_bytes();
  start_.start_rss_bytes = inprocess::self_rss_bytes();
  start_.start_heap_in_use_bytes = sys::heap_info().in_use_bytes;
  id_ = peak_sampler().open(start_.start_rss_bytes);
}

Tracker::~Tracker() { peak_sampler().close(id_); }

TrackResult Tracker::result() const {
  TrackResult result = start_;
  result.end_heap_in_use_bytes = sys::heap_info().in_use_bytes;
  const auto end_hwm = inprocess::self_peak_rss_bytes();
  result.end_rss_bytes = inprocess::self_rss_bytes();
  result.peak_rss_bytes = peak_sampler().peak(id_, result.end_rss_bytes);
  // VmHWM grew: the process's lifetime peak was set inside this scope, exactly.
  if (start_hwm_ && end_hwm && *end_hwm > *start_hwm_) {
    result.peak_rss_bytes = std::max(result.peak_rss_bytes, *end_hwm);
  }
  return result;
}

}  // namespace memopt
