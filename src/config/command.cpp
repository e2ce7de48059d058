#include "memopt/config/command.hpp"

#include <unistd.h>

#include <utility>

#include "memopt/sys/fs.hpp"

namespace memopt::config {

Roots tree_roots(std::string procfs, std::string sysfs) {
  return sys::roots_at(std::move(procfs), std::move(sysfs));
}

bool color_allowed() { return !sys::environment("NO_COLOR"); }

bool color_on_standard_output() { return sys::is_terminal(STDOUT_FILENO) && color_allowed(); }

}  // namespace memopt::config
