#include "memopt/actions/output.hpp"

#include <cstdio>

#include "memopt/sys/fs.hpp"

namespace memopt::actions {

void write_output(const std::string& path, std::string_view content) {
  if (path.empty()) {
    std::fwrite(content.data(), 1, content.size(), stdout);
    std::fflush(stdout);
  } else {
    sys::write_whole_file(path, content);
  }
}

}  // namespace memopt::actions
