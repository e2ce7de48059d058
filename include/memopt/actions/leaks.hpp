#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/analysis/watch.hpp"
#include "memopt/sys/fs.hpp"

// What the monitor adds to a leak_suspected event: the top growing allocation sites, asked
// from the process's own leak check (memopt.leak_check()) through its cleanup socket.
namespace memopt::actions {

/// A process's leak sites, or why there are none.
struct LeakSitesAnswer {
  std::vector<analysis::LeakSite> sites;  ///< largest growth first, at most the `top` asked for
  /// Why `sites` is empty, saying how to get them: no cleanup socket (call
  /// memopt.serve_cleanup() in it), no leak check running, too few checkpoints, no answer.
  std::optional<std::string> note;
};

/// Reads the JSON line a process answers to a `leaks` request (memopt.leak_check()'s report:
/// {"sites": [{"file","line","kind","size_bytes","count","growth_bytes_per_hour","r2"}],
/// "checkpoints", ...}, or {"error": "..."}), keeping the first `top` sites. Never throws: an
/// answer it cannot read becomes the note.
[[nodiscard]] LeakSitesAnswer parse_leak_sites(std::string_view answer, std::size_t top);

/// Asks process `pid` for its leak sites through its cleanup socket in `runtime_dirs`
/// (ask_cooperating_process with "leaks"), answered within `timeout`. Never throws Error: no
/// socket, a stale one, a wrong peer or no answer in time become the note.
[[nodiscard]] LeakSitesAnswer ask_leak_sites(const Roots& roots, int pid,
                                             const std::vector<std::string>& runtime_dirs,
                                             std::chrono::milliseconds timeout, std::size_t top);

/// `report --leaks`: the leak report process `pid` answers through its cleanup socket in this
/// user's runtime directories (sys::runtime_directories_to_scan()) to a `leaks` request within
/// `timeout`, as ask_cooperating_process returns it. Throws Error saying why there is none.
[[nodiscard]] std::string ask_leak_report(const Roots& roots, int pid,
                                          std::chrono::milliseconds timeout);

/// The sites for people, for an event's message: "<string>:12 python 3.20 MiB in 400,
/// +120 MiB/h; model.py:40 native ..." or the note; empty when neither.
[[nodiscard]] std::string leak_sites_text(const LeakSitesAnswer& answer);

}  // namespace memopt::actions
