#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <mutex>

#include "inprocess/self.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/self.hpp"

namespace memopt {

namespace inprocess {

std::uint64_t self_rss_bytes() {
  const auto path = sys::default_roots().procfs + "/self/statm";
  return readers::parse_statm_rss(sys::read_required(path), sys::page_size(), path);
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

}  // namespace inprocess

namespace {

std::mutex g_monitor_mutex;
std::optional<std::uint64_t> g_previous_rss;

std::string mib(std::uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

std::string signed_mib(std::int64_t bytes) {
  return fmt::format("{:+.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

}  // namespace

std::optional<std::uint64_t> gpu_bytes_of_this_process() {
  std::vector<model::Note> notes;
  const auto roots = sys::default_roots();
  return readers::gpu_bytes_of(readers::read_gpus(roots, notes), {sys::self_pid()}, roots.procfs);
}

std::uint64_t rss_bytes_of_this_process() { return inprocess::self_rss_bytes(); }

std::string format_memory_usage(const MemoryUsage& usage) {
  std::string line = fmt::format("[memopt] {}: RSS {} ({})", usage.tag, mib(usage.rss_bytes),
                                 signed_mib(usage.delta_rss_bytes));
  if (usage.pss_bytes) line += ", PSS " + mib(*usage.pss_bytes);
  if (usage.uss_bytes) line += ", USS " + mib(*usage.uss_bytes);
  line += fmt::format(", heap in use {}, heap free (retained) {}", mib(usage.heap_in_use_bytes),
                      mib(usage.heap_free_bytes));
  if (usage.gpu_used_bytes) line += ", GPU " + mib(*usage.gpu_used_bytes);
  return line;
}

MemoryUsage monitor_memory_usage(std::string_view tag, const MonitorOptions& options) {
  MemoryUsage usage;
  usage.tag = std::string(tag);
  readers::ProcessReader reader(sys::default_roots());
  if (auto own = reader.read(sys::self_pid())) {
    usage.rss_bytes = own->rss_bytes;
    usage.pss_bytes = own->pss_bytes;
    usage.uss_bytes = own->uss_bytes;
  } else {
    usage.rss_bytes = inprocess::self_rss_bytes();
  }
  const auto heap = sys::heap_info();
  usage.heap_in_use_bytes = heap.in_use_bytes;
  usage.heap_free_bytes = heap.free_bytes;
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

Tracker::Tracker() {
  peak_reset_ = sys::reset_peak_rss(sys::default_roots().procfs) == 0;
  start_.start_rss_bytes = inprocess::self_rss_bytes();
  start_.start_heap_in_use_bytes = sys::heap_info().in_use_bytes;
}

TrackResult Tracker::result() const {
  TrackResult result = start_;
  result.end_rss_bytes = inprocess::self_rss_bytes();
  result.end_heap_in_use_bytes = sys::heap_info().in_use_bytes;
  if (peak_reset_) {
    const auto status = sys::read_optional(sys::default_roots().procfs + "/self/status");
    if (status) result.peak_rss_bytes = inprocess::parse_vm_hwm(*status);
  }
  return result;
}

}  // namespace memopt
