#include "memopt/actions/alert_hooks.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <csignal>

#include "memopt/error.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/timestamp.hpp"

namespace memopt::actions {

namespace {

/// How often a hook killed at its timeout is looked at until it is reaped.
constexpr std::chrono::milliseconds kReapEvery{10};

}  // namespace

std::vector<std::string> hook_environment(const analysis::Event& e) {
  const bool known = e.memory.scope != analysis::Scope::kUnknown;
  auto figure = [known](auto value) { return known ? fmt::format("{}", value) : std::string(); };
  const auto* change = e.payload_if<analysis::LevelChange>();
  std::vector<std::string> env{
      "MEMOPT_EVENT=" + std::string(analysis::to_string(e.kind())),
      "MEMOPT_LEVEL=" + std::string(analysis::to_string(e.level)),
      "MEMOPT_PREVIOUS_LEVEL=" + (change && change->previous
                                      ? std::string(analysis::to_string(*change->previous))
                                      : std::string()),
      "MEMOPT_USED_PERCENT=" +
          (known ? fmt::format("{:.2f}", e.memory.used_percent) : std::string()),
      "MEMOPT_USED_BYTES=" + figure(e.memory.used_bytes),
      "MEMOPT_LIMIT_BYTES=" + figure(e.memory.limit_bytes),
      "MEMOPT_AVAILABLE_BYTES=" + figure(e.memory.available_bytes),
      "MEMOPT_SCOPE=" + std::string(analysis::to_string(e.memory.scope)),
      "MEMOPT_TIMESTAMP=" + rfc3339(e.at),
      "MEMOPT_MESSAGE=" + e.message,
      std::string("MEMOPT_INITIAL=") + (change && change->initial ? "1" : ""),
  };
  if (const auto* w = e.payload_if<analysis::WorkersCopying>()) {
    env.push_back(fmt::format("MEMOPT_PID={}", w->process.pid));
    env.push_back(fmt::format("MEMOPT_WORKER_PIDS={}", fmt::join(w->worker_pids, ",")));
    if (w->projected_bytes)
      env.push_back(fmt::format("MEMOPT_PROJECTED_BYTES={}", *w->projected_bytes));
    if (w->max_workers) env.push_back(fmt::format("MEMOPT_MAX_WORKERS={}", *w->max_workers));
    env.push_back(std::string("MEMOPT_UPDATE=") + (w->update ? "1" : ""));
    if (w->seconds_to_limit)
      env.push_back(fmt::format("MEMOPT_SECONDS_TO_LIMIT={:.0f}", *w->seconds_to_limit));
  }
  if (const auto* said = e.payload_if<analysis::LoopForecastSaid>()) {
    const auto& f = said->forecast;
    env.push_back(fmt::format("MEMOPT_PID={}", said->process.pid));
    env.push_back(fmt::format("MEMOPT_BYTES_PER_ITEM={:.0f}", f.bytes_per_item));
    env.push_back(fmt::format("MEMOPT_ITEM={}", f.item));
    env.push_back(fmt::format("MEMOPT_LIMIT_ITEM={}", f.limit_item));
    env.push_back("MEMOPT_TOTAL=" + (f.total ? std::to_string(*f.total) : std::string()));
    env.push_back("MEMOPT_SECONDS_LEFT=" +
                  (f.seconds_left ? fmt::format("{:.0f}", *f.seconds_left) : std::string()));
  }
  return env;
}

AlertHooks::~AlertHooks() {
  for (const auto& hook : running_) sys::send_group_signal(hook.pid, SIGKILL);
  for (const auto& hook : running_) {
    while (!sys::try_wait(hook.pid)) sys::pause_for(kReapEvery);
  }
}

std::string AlertHooks::start(const analysis::Event& event,
                              std::chrono::steady_clock::time_point now) {
  if (running_.size() >= options_.max_running) {
    return fmt::format("--on-alert skipped for {}: {} hooks still running",
                       analysis::to_string(event.kind()), running_.size());
  }
  sys::SpawnOptions spawn;
  spawn.new_process_group = true;
  spawn.null_stdin = true;
  spawn.stdout_to_stderr = true;
  spawn.environment = hook_environment(event);
  try {
    running_.push_back({sys::spawn({"/bin/sh", "-c", options_.command}, spawn),
                        analysis::to_string(event.kind()), now});
  } catch (const Error& err) {
    return fmt::format("--on-alert failed for {}: {}", analysis::to_string(event.kind()),
                       err.what());
  }
  return {};
}

std::vector<std::string> AlertHooks::reap(std::chrono::steady_clock::time_point now,
                                          bool shutdown) {
  std::vector<std::string> failures;
  for (auto it = running_.begin(); it != running_.end();) {
    auto status = sys::try_wait(it->pid);
    if (!status && (shutdown || now - it->started > options_.timeout)) {
      // The whole group: a hook that forked (or double-forked) leaves nothing behind.
      sys::send_group_signal(it->pid, SIGKILL);
      while (!(status = sys::try_wait(it->pid))) sys::pause_for(kReapEvery);
      failures.push_back(
          shutdown ? fmt::format("--on-alert for {} (pid {}) was stopped by the shutdown",
                                 it->event, it->pid)
                   : fmt::format("--on-alert for {} (pid {}) ran past {} s and was killed",
                                 it->event, it->pid, options_.timeout.count()));
    } else if (status && status->signal) {
      failures.push_back(fmt::format("--on-alert for {} (pid {}) was killed by signal {}",
                                     it->event, it->pid, *status->signal));
    } else if (status && status->exit_code != 0) {
      failures.push_back(fmt::format("--on-alert for {} (pid {}) exited with status {}", it->event,
                                     it->pid, status->exit_code));
    }
    it = status ? running_.erase(it) : std::next(it);
  }
  return failures;
}

}  // namespace memopt::actions
