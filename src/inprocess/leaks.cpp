// The answer to a `leaks` request on the cleanup socket: what the embedding program's leak
// check (memopt.leak_check() in Python) reports, as one JSON line.
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <utility>

#include "memopt/inprocess.hpp"
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
    return nlohmann::json{{"pid", pid},
                          {"error", "no leak check is running in pid " + std::to_string(pid) +
                                        ": start one in it with memopt.leak_check()"}}
        .dump();
  }
  try {
    auto answer = nlohmann::json::parse(reporter());
    if (!answer.is_object()) throw std::runtime_error("the leak report is not a JSON object");
    answer["pid"] = pid;
    return answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception& e) {
    return nlohmann::json{{"pid", pid},
                          {"error", std::string("the leak report failed: ") + e.what()}}
        .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

}  // namespace memopt
