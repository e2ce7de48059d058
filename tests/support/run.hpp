#pragma once

#include <string>
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
