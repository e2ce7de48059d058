#include "memopt/readers/mountinfo.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "memopt/error.hpp"
#include "readers/text.hpp"

namespace memopt::readers {

using detail::Lines;
using detail::next_field;
using detail::path_within;
using detail::trim;

namespace {

/// The kernel writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
std::string unescape(std::string_view field) {
  std::string out;
  out.reserve(field.size());
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      const std::string_view digits = field.substr(i + 1, 3);
      if (std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '7'; })) {
        const int value = (digits[0] - '0') * 64 + (digits[1] - '0') * 8 + (digits[2] - '0');
        if (value < 256) {
          out.push_back(static_cast<char>(value));
          i += 3;
          continue;
        }
      }
    }
    out.push_back(field[i]);
  }
  return out;
}

std::vector<std::string> split_commas(std::string_view text) {
  std::vector<std::string> parts;
  while (!text.empty()) {
    const auto comma = text.find(',');
    parts.emplace_back(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return parts;
}

}  // namespace

std::vector<MountInfo> parse_mountinfo(std::string_view text, std::string_view source) {
  std::vector<MountInfo> mounts;
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    std::string_view rest = *line;
    std::string_view fields[6];
    for (auto& f : fields) f = next_field(rest);
    // Optional fields ("shared:7", "master:1") come before the lone "-"; there may be none.
    std::string_view separator = fields[5].empty() ? std::string_view{} : next_field(rest);
    while (!separator.empty() && separator != "-") separator = next_field(rest);
    const std::string_view fs_type = next_field(rest);
    next_field(rest);  // the mount source ("cgroup", "/dev/sda1", "none")
    const std::string_view super_options = next_field(rest);
    // The root need not be a path: an nsfs bind mount (ip netns) has "net:[4026532281]".
    if (fields[5].empty() || separator != "-" || fs_type.empty() || fields[4].front() != '/') {
      throw parse_error(source, lines.number(),
                        "expected 'ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS ... - TYPE SOURCE "
                        "OPTIONS'");
    }
    MountInfo mount;
    mount.root = unescape(fields[3]);
    mount.mount_point = unescape(fields[4]);
    mount.fs_type = std::string(fs_type);
    mount.super_options = split_commas(super_options);
    mounts.push_back(std::move(mount));
  }
  return mounts;
}

CgroupHierarchies cgroup_hierarchies(const std::vector<MountInfo>& mounts, const Roots& roots) {
  std::string sysfs = roots.sysfs;
  while (sysfs.size() > 1 && sysfs.back() == '/') sysfs.pop_back();
  // Where the namespace that wrote mountinfo has sysfs: the usual root, whatever --sysfs says.
  const std::string usual_sysfs = sys::default_roots().sysfs;
  auto mapped = [&](const std::string& point) -> std::optional<std::string> {
    std::string dir;
    if (path_within(point, sysfs)) {
      dir = point;
    } else if (path_within(point, usual_sysfs)) {
      dir = sysfs + point.substr(usual_sysfs.size());
    } else if (sysfs == usual_sysfs) {
      dir = point;
    } else {
      return std::nullopt;  // a path of the machine the tree was captured on: not here
    }
    if (!sys::is_directory(dir)) return std::nullopt;
    return dir;
  };
  CgroupHierarchies found;
  for (const auto& mount : mounts) {
    if (mount.fs_type == "cgroup2" && !found.v2) {
      found.v2 = mapped(mount.mount_point);
    } else if (mount.fs_type == "cgroup" && !found.v1_memory &&
               std::find(mount.super_options.begin(), mount.super_options.end(), "memory") !=
                   mount.super_options.end()) {
      found.v1_memory = mapped(mount.mount_point);
    }
  }
  return found;
}

}  // namespace memopt::readers
