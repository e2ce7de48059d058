#pragma once

#include <string>
#include <string_view>

#include "memopt/sys/kept_file.hpp"

namespace memopt::sys {

/// `<procfs>/self/statm` kept open, re-read with one pread(2) per call: for a caller that reads
/// it after every item of a loop (memopt::LoopForecast), where open, read and close each time
/// cost several times more. Not thread-safe; one per loop.
class SelfStatm {
 public:
  /// Opens `procfs + "/self/statm"`; throws Error naming it when it cannot.
  explicit SelfStatm(const std::string& procfs);

  /// The file's text now ("size resident shared text lib data dt", in pages); throws Error
  /// naming the file when the read fails.
  [[nodiscard]] std::string_view read();
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  KeptFile file_;
  std::string text_;
};

}  // namespace memopt::sys
