#include "engine/findings.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/readers/kernel_log.hpp"

namespace memopt::engine {

std::vector<analysis::Event> GpuVerdictEvents::observe(const analysis::Report& r,
                                                       analysis::Level level) {
  std::vector<analysis::Event> events;
  if (r.sample.gpus.empty()) return events;
  std::set<std::pair<std::string, std::uint32_t>> now;
  for (const auto& v : r.gpu_verdicts) {
    auto key = std::make_pair(std::string(analysis::to_string(v.kind)), v.pid);
    now.insert(key);
    if (raised_.count(key) != 0) continue;
    analysis::Event e(
        analysis::GpuFinding{.process = {v.local_pid.value_or(static_cast<int>(v.pid)), v.name},
                             .verdict = v},
        r.sample.timestamp, level, r.memory);
    e.message = fmt::format("{}; fix: {}", v.message, v.fix);
    events.push_back(std::move(e));
  }
  raised_ = std::move(now);
  return events;
}

void KernelLogVictims::start() {
  std::vector<model::Note> notes;
  const auto kills = readers::read_kernel_oom_kills(roots_, notes);
  seen_.reset();
  if (!kills) return;
  for (const auto& k : *kills) {
    if (k.uptime_seconds && (!seen_ || *k.uptime_seconds > *seen_)) seen_ = k.uptime_seconds;
  }
}

void KernelLogVictims::add_victims(analysis::Event& e,
                                   const std::optional<readers::CgroupLocation>& location) {
  auto* payload = e.payload_if<analysis::OomKills>();
  if (!payload) return;
  std::vector<model::Note> notes;
  auto kills = readers::read_kernel_oom_kills(roots_, notes);
  if (!kills) return;
  if (location) *kills = readers::kills_in_cgroup(*kills, location->path);
  for (const auto& k : *kills) {
    if (k.uptime_seconds && seen_ && *k.uptime_seconds <= *seen_) continue;
    payload->victims.push_back(k);
    if (k.uptime_seconds) seen_ = std::max(seen_.value_or(0), *k.uptime_seconds);
  }
  if (const auto& victims = payload->victims; !victims.empty()) {
    e.message += fmt::format(": {} (pid {})", victims.back().name, victims.back().pid);
  }
}

}  // namespace memopt::engine
