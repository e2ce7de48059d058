#pragma once

#include <fmt/format.h>

#include <chrono>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>

#include "memopt/model/sample.hpp"
#include "memopt/printable.hpp"

namespace memopt::render::detail {

/// Appends formatted text to `out` (the renderers build one string and write it once).
template <typename... Args>
void put(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
}

/// `ms` in seconds, for the documents' `*_s` fields.
inline double seconds(std::chrono::milliseconds ms) {
  return static_cast<double>(ms.count()) / 1000.0;
}

/// `text` in ASCII capitals (levels in headlines: "WARNING").
inline std::string upper(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return out;
}

/// The cgroup the target is, escaped for output: the one read, else the one --cgroup named
/// (unread); none for other targets that were not read.
inline std::optional<std::string> target_cgroup(const model::Sample& sample) {
  if (sample.cgroup) return printable(sample.cgroup->path);
  if (sample.target.kind == model::Target::Kind::kCgroup) return printable(sample.target.cgroup);
  return std::nullopt;
}

}  // namespace memopt::render::detail
