// The answer to a `leaks` request on the cleanup socket: what the embedding program's leak
// check (memopt.leak_check() in Python) reports, as one JSON line.
#include "memopt/protocol/leaks.hpp"

#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

#include "memopt/inprocess.hpp"
#include "memopt/protocol/wire.hpp"
#include "memopt/sys/self.hpp"

namespace memopt {

namespace {

std::mutex g_reporter_mutex;
std::function<std::string()> g_reporter;

}  // namespace

void set_leak_reporter(std::function<std::string()> reporter) {
  {
    const std::lock_guard lock(g_reporter_mutex);
    std::swap(g_reporter, reporter);
  }
  // The old reporter is let go of here, outside the lock: a Python one takes the GIL to go.
}

std::string leak_report_json() {
  std::function<std::string()> reporter;
  {
    const std::lock_guard lock(g_reporter_mutex);
    reporter = g_reporter;
  }
  const auto pid = sys::self_pid();
  if (!reporter) {
    return protocol::encode_error_answer("no leak check is running in pid " + std::to_string(pid) +
                                             ": start one in it with memopt.leak_check()",
                                         pid);
  }
  try {
    return protocol::encode_leak_report(reporter(), pid);
  } catch (const std::exception& e) {
    return protocol::encode_error_answer(std::string("the leak report failed: ") + e.what(), pid);
  }
}

}  // namespace memopt
