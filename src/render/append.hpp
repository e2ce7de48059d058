#pragma once

#include <fmt/format.h>

#include <iterator>
#include <string>

namespace memopt::render::detail {

/// Appends formatted text to `out` (the renderers build one string and write it once).
template <typename... Args>
void put(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

}  // namespace memopt::render::detail
