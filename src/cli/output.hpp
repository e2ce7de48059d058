#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "memopt/sys/fs.hpp"

namespace memopt::cli {

/// Writes `content` to standard output when `path` is empty, else to the file `path`.
inline void write_output(const std::string& path, std::string_view content) {
  if (path.empty()) {
    std::fwrite(content.data(), 1, content.size(), stdout);
    std::fflush(stdout);
  } else {
    sys::write_whole_file(path, content);
  }
}

}  // namespace memopt::cli
