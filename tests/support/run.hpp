#pragma once

#include <sys/types.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace memopt::testing {

/// What a finished command left behind.
struct RunResult {
  int exit_code = -1;  ///< the exit status, or 128 + signal
  std::string out;     ///< standard output
  std::string err;     ///< standard error
};

/// Runs the memopt binary under test with `args`, extra environment `env` ("NAME=value"),
/// standard input from /dev/null, and waits for it.
[[nodiscard]] RunResult run_memopt(const std::vector<std::string>& args,
                                   const std::vector<std::string>& env = {});

/// Runs `argv` (argv[0] looked up in PATH) the same way.
[[nodiscard]] RunResult run_command(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& env = {});

}  // namespace memopt::testing

namespace memopt::testing {

/// A command running in the background whose standard output is read line by line.
class Background {
 public:
  /// Starts `argv` with extra environment `env`; stderr goes to the test's stderr.
  Background(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~Background();  ///< SIGTERM, then SIGKILL after a second
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  /// The next line of output (without "\n"), or std::nullopt after `timeout_ms` or at EOF.
  std::optional<std::string> read_line(int timeout_ms);
  /// Sends `signal` and waits for the exit code (128 + signal when killed).
  int stop(int signal);
  [[nodiscard]] int pid() const { return pid_; }

 private:
  int pid_ = -1;
  int out_ = -1;
  std::string buffer_;
  bool exited_ = false;
  int exit_code_ = -1;
};

/// The next line of `command`'s output that is a JSON document `wanted` accepts, or null after
/// `timeout_ms`. Lines that are not JSON are skipped.
[[nodiscard]] nlohmann::json next_json_line(
    Background& command, const std::function<bool(const nlohmann::json&)>& wanted, int timeout_ms);

/// The next JSON line whose "type" is `type` and, when given, whose "event" is `event` and
/// "level" is `level` (a monitor's --json output), or null after `timeout_ms`.
[[nodiscard]] nlohmann::json next_json_line(Background& command, std::string_view type,
                                            std::string_view event, int timeout_ms,
                                            std::string_view level = {});

/// Whether `pid` is running: it exists and is not a zombie (exited, not yet reaped).
[[nodiscard]] bool alive(pid_t pid);

/// Where Chromium is installed, or nullptr.
[[nodiscard]] const char* chromium();

/// A headless Chromium command line with its own profile in `profile_dir`, no background
/// network, and `virtual_time_ms` of virtual time for the page's scripts; append
/// "--dump-dom URL" or "--screenshot=FILE URL".
[[nodiscard]] std::vector<std::string> headless_chromium(const std::string& profile_dir,
                                                         int virtual_time_ms = 3000);

}  // namespace memopt::testing
