#pragma once

#include <string_view>

#include "memopt/sys/dynamic_library.hpp"

// memopt's own optional modules (memopt-http.so for `monitor --listen`, memopt-top.so for
// `top`): shared objects the executable loads only for the command that needs them, so every
// other command maps neither them nor the libraries they link.
namespace memopt::sys {

/// Loads module `file_name` ("memopt-http.so"): the path in environment variable `override_env`
/// when it is set and not empty, else beside the executable ($ORIGIN/FILE), else in
/// $ORIGIN/../lib/memopt/ (the .deb's and the wheel's layout). Throws Error naming `purpose`
/// ("--listen: cannot load the HTTP module") and every path tried with dlerror()'s reason.
[[nodiscard]] DynamicLibrary load_module(std::string_view file_name, const char* override_env,
                                         std::string_view purpose);

}  // namespace memopt::sys
