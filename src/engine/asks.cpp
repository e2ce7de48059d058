#include "engine/asks.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "memopt/actions/process_stats.hpp"
#include "memopt/error.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/runtime_dir.hpp"
#include "memopt/sys/socket.hpp"

namespace memopt::engine {

std::vector<analysis::Event> InProcessAsks::ask_leak_sites(std::vector<analysis::Event> events) {
  std::vector<analysis::Event> now;
  for (auto& e : events) {
    auto* leak = e.payload_if<analysis::LeakSuspicion>();
    if (!leak) {
      now.push_back(std::move(e));
      continue;
    }
    try {
      auto answer = std::async(std::launch::async, [roots = roots_, pid = leak->process.pid,
                                                    dirs = sys::runtime_directories_to_scan()] {
        return actions::ask_leak_sites(roots, pid, dirs, kLeakSitesTimeout, kLeakSites);
      });
      pending_leaks_.push_back({std::move(answer), std::move(e)});
    } catch (const std::exception& err) {  // MEMOPT_RUNTIME_DIR not private; no thread
      leak->sites_note = fmt::format("its leak sites were not asked for: {}", err.what());
      e.message += "; " + *leak->sites_note;
      now.push_back(std::move(e));
    }
  }
  return now;
}

std::vector<analysis::Event> InProcessAsks::finish_leak_sites(bool wait) {
  std::vector<analysis::Event> done;
  for (auto it = pending_leaks_.begin(); it != pending_leaks_.end();) {
    if (!wait && it->answer.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
      ++it;
      continue;
    }
    auto e = std::move(it->event);
    auto& leak = *e.payload_if<analysis::LeakSuspicion>();  // only leak_suspected ones wait
    try {
      auto answer = it->answer.get();
      const auto text = actions::leak_sites_text(answer);
      leak.sites = std::move(answer.sites);
      leak.sites_note = std::move(answer.note);
      if (!leak.sites.empty()) {
        e.message += "; growing sites: " + text;
      } else if (!text.empty()) {
        e.message += "; " + text;
      }
    } catch (const std::exception& err) {  // std::bad_alloc from its thread
      leak.sites_note = fmt::format("its leak sites could not be asked for: {}", err.what());
      e.message += "; " + *leak.sites_note;
    }
    done.push_back(std::move(e));
    it = pending_leaks_.erase(it);
  }
  return done;
}

void InProcessAsks::ask_stats(const model::Target& watched) {
  std::vector<std::string> dirs;
  try {
    dirs = sys::runtime_directories_to_scan();
  } catch (const Error&) {
    return;  // MEMOPT_RUNTIME_DIR not private: the cleanup and protect paths say so
  }
  // No live cooperating process's socket in any of them (the common case; a socket left by a
  // process that exited counts for nothing): no thread, no lookup of the target, every 2 s of
  // an idle monitor.
  const bool any_socket = std::any_of(dirs.begin(), dirs.end(), [&](const std::string& dir) {
    const auto names = sys::list_directory(dir);
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
      const auto pid = sys::cleanup_socket_pid(n);
      return pid && sys::exists(fmt::format("{}/{}", roots_.procfs, *pid));
    });
  });
  saw_socket_ = any_socket;
  if (!any_socket) return;
  try {
    pending_stats_ =
        std::async(std::launch::async, [roots = roots_, target = watched, dirs = std::move(dirs)] {
          return actions::ask_process_stats(roots, target, dirs, kForecastsTimeout);
        });
  } catch (const std::system_error& e) {
    sink_.on_notice(fmt::format("cannot ask processes for their loop forecasts: {}", e.what()));
  }
}

std::optional<std::vector<model::ProcessStats>> InProcessAsks::finish_stats(bool wait) {
  if (!pending_stats_) return std::nullopt;
  if (!wait && pending_stats_->wait_for(std::chrono::seconds(0)) != std::future_status::ready)
    return std::nullopt;
  std::vector<model::ProcessStats> answers;
  try {
    answers = pending_stats_->get();
  } catch (const std::exception& err) {  // std::bad_alloc from its thread
    sink_.on_notice(
        fmt::format("asking processes for their loop forecasts failed: {}", err.what()));
  }
  pending_stats_.reset();
  return answers;
}

}  // namespace memopt::engine
