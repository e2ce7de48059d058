#pragma once

#include <stdexcept>
#include <string>

#include "memopt/printable.hpp"

namespace memopt {

/// The one error type of the library. Every failure that a user must see carries a message
/// that names its source ("while reading /proc/meminfo: line 3: ...").
/// `main` maps `Kind::kUsage` to exit code 2 and `Kind::kRuntime` to exit code 1.
class Error : public std::runtime_error {
 public:
  enum class Kind {
    kRuntime,  ///< a source could not be read or did not parse
    kUsage,    ///< the user asked for something malformed (flag, size, model name, config)
  };

  /// Bytes in `message` that are not printable UTF-8 (raw bytes from a file, a name, a path)
  /// are escaped (see printable()), so no output ever echoes binary bytes.
  explicit Error(const std::string& message, Kind kind = Kind::kRuntime)
      : std::runtime_error(printable(message, /*keep_line_breaks=*/true)), kind_(kind) {}

  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

/// A command could not be started (sys::spawn); `exec_errno()` is the errno of the failed step
/// (ENOENT: not found, EACCES: not executable, ...), 0 when the failure came before exec.
class SpawnError : public Error {
 public:
  SpawnError(const std::string& message, int exec_errno) : Error(message), errno_(exec_errno) {}
  [[nodiscard]] int exec_errno() const noexcept { return errno_; }
  /// The shell's exit code for it (exit_status.hpp): 127 command not found, 126 found but cannot be
  /// run.
  [[nodiscard]] int shell_exit_code() const noexcept;

 private:
  int errno_;
};

/// A runtime error about the content of `source` (a path or a name), e.g.
/// `parse_error("/proc/meminfo", 3, "expected a number, got 'abc'")`.
/// `line` is 1-based; 0 omits it.
[[nodiscard]] Error parse_error(std::string_view source, int line, std::string_view what);

}  // namespace memopt
