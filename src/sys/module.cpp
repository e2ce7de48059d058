#include "memopt/sys/module.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "memopt/error.hpp"

namespace memopt::sys {

DynamicLibrary load_module(std::string_view file_name, const char* override_env,
                           std::string_view purpose) {
  std::vector<std::string> candidates;
  if (const char* path = std::getenv(override_env); path != nullptr && *path != '\0') {
    candidates.emplace_back(path);
  } else {
    // glibc expands $ORIGIN in dlopen's file name to the executable's directory.
    candidates = {fmt::format("$ORIGIN/{}", file_name),
                  fmt::format("$ORIGIN/../lib/memopt/{}", file_name)};
  }
  std::string errors;
  for (const auto& path : candidates) {
    std::string error;
    if (auto module = DynamicLibrary::open(path, error)) return std::move(*module);
    errors += (errors.empty() ? "" : "; ") + error;
  }
  throw Error(fmt::format("{}: {}", purpose, errors));
}

}  // namespace memopt::sys
