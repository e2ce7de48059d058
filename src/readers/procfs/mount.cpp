#include "memopt/readers/mountinfo.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "readers/text.hpp"

// <procfs>/self/mountinfo: the file system at one mount point (mountinfo itself is
// parsed by readers/mountinfo.cpp).
namespace memopt::readers {

using detail::to_u64;

namespace {

/// tmpfs's `size=` super option (`size=64m`, `size=1G`, bytes); absent when not given or given
/// as a percentage of RAM.
std::optional<std::uint64_t> tmpfs_size(const std::vector<std::string>& super_options) {
  std::optional<std::uint64_t> size;
  for (const auto& option : super_options) {
    if (!option.starts_with("size=")) continue;
    std::string_view value = std::string_view(option).substr(5);
    std::uint64_t multiplier = 1;
    switch (value.empty() ? '\0' : value.back()) {
      case 'k':
      case 'K':
        multiplier = kKiB;
        break;
      case 'm':
      case 'M':
        multiplier = kMiB;
        break;
      case 'g':
      case 'G':
        multiplier = kGiB;
        break;
      default:
        break;
    }
    if (multiplier != 1) value.remove_suffix(1);
    if (const auto number = to_u64(value); number && *number <= UINT64_MAX / multiplier) {
      size = *number * multiplier;
    }
  }
  return size;
}

}  // namespace

std::optional<model::Mount> parse_mount(std::string_view mountinfo, std::string_view mount_point,
                                        std::string_view source) {
  std::optional<model::Mount> found;
  for (auto& m : parse_mountinfo(mountinfo, source)) {
    if (m.mount_point != mount_point) continue;
    found =
        model::Mount{std::move(m.mount_point), std::move(m.fs_type), tmpfs_size(m.super_options)};
  }
  return found;
}

std::optional<model::Mount> read_mount(const Roots& roots, std::string_view mount_point) {
  const std::string path = roots.procfs + "/self/mountinfo";
  const auto text = sys::read_optional(path);
  if (!text) return std::nullopt;
  return parse_mount(*text, mount_point, path);
}

}  // namespace memopt::readers
