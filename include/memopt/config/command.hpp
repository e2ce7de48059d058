#pragma once

#include <string>

#include "memopt/roots.hpp"

// What a command takes from its surroundings besides the configuration file.
namespace memopt::config {

/// The trees --procfs and --sysfs name, with the page size of the kernel that wrote them: a
/// captured tree's proc/page_size, else this host's (sys::roots_at). Throws Error (a runtime
/// error, as any file of the tree) naming the file when it holds no page size.
[[nodiscard]] Roots tree_roots(std::string procfs, std::string sysfs);

/// Whether text on standard output is coloured: it is a terminal and NO_COLOR is unset
/// (https://no-color.org).
[[nodiscard]] bool color_on_standard_output();

/// Whether NO_COLOR (https://no-color.org) leaves colour on, wherever the text goes.
[[nodiscard]] bool color_allowed();

}  // namespace memopt::config
