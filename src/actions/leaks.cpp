// The leaking process's own view of its leak, for the monitor's leak_suspected event: a
// `leaks` request on its cleanup socket, answered by the memopt.leak_check() running in it.
#include "memopt/actions/leaks.hpp"

#include <fmt/format.h>

#include "memopt/actions/cleanup.hpp"
#include "memopt/error.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/sys/runtime_dir.hpp"

namespace memopt::actions {

LeakSitesAnswer ask_leak_sites(const Roots& roots, int pid,
                               const std::vector<std::string>& runtime_dirs,
                               std::chrono::milliseconds timeout, std::size_t top) {
  try {
    return parse_leak_sites(
        ask_cooperating_process(roots, pid, runtime_dirs,
                                std::string(protocol::request_name(protocol::Request::kLeaks)),
                                timeout),
        top);
  } catch (const Error& e) {
    LeakSitesAnswer out;
    out.note = std::string(e.what()) +
               "; with memopt.leak_check() running in it too, this event would name its "
               "growing sites";
    return out;
  }
}

std::string ask_leak_report(const Roots& roots, int pid, std::chrono::milliseconds timeout) {
  return ask_cooperating_process(roots, pid, sys::runtime_directories_to_scan(),
                                 std::string(protocol::request_name(protocol::Request::kLeaks)),
                                 timeout);
}

}  // namespace memopt::actions
