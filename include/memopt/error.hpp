#pragma once

#include <stdexcept>
#include <string>

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

  explicit Error(const std::string& message, Kind kind = Kind::kRuntime)
      : std::runtime_error(message), kind_(kind) {}

  [[nodiscard]] Kind kind() const noexcept { return kind_; }

 private:
  Kind kind_;
};

/// A runtime error about the content of `source` (a path or a name), e.g.
/// `parse_error("/proc/meminfo", 3, "expected a number, got 'abc'")`.
/// `line` is 1-based; 0 omits it.
[[nodiscard]] Error parse_error(std::string_view source, int line, std::string_view what);

}  // namespace memopt
