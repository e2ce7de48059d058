#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memopt/model/facts.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"

// What `memopt diagnose` weighs beside a sample, read from the target's processes.
namespace memopt::readers {

/// The value of `name` in `environ` (the NUL-separated text of `<procfs>/<pid>/environ`);
/// absent when it is not set.
[[nodiscard]] std::optional<std::string> parse_environ_value(std::string_view environ,
                                                             std::string_view name);

/// Whether `maps` (the text of `<procfs>/<pid>/maps`) maps a Python interpreter: a file whose
/// name starts with "python" or "libpython" (/usr/bin/python3.11, libpython3.11.so.1.0).
[[nodiscard]] bool maps_show_python(std::string_view maps);

/// Where `maps` (the text of `<procfs>/<pid>/maps`) shows torch.
struct TorchInMaps {
  /// The torch package directory (".../site-packages/torch") of a mapped
  /// ".../torch/lib/libtorch*.so*" or ".../torch/_C*.so": its version.py says the version.
  std::optional<std::string> package_dir;
  /// A mapped "libtorch*.so.MAJOR.MINOR[.PATCH]" (a distribution's torch, such as Debian's
  /// /usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13.0): the file name, whose suffix is the
  /// version.
  std::optional<std::string> versioned_library;
};

/// Where `maps` shows torch; both fields absent when it maps none. Deleted files are skipped.
[[nodiscard]] TorchInMaps torch_in_maps(std::string_view maps);

/// The `__version__ = '...'` of a torch/version.py (single or double quotes); absent when no
/// such line holds a plausible version (1 to 64 of [0-9A-Za-z.+_-], starting with a digit).
[[nodiscard]] std::optional<std::string> parse_torch_version_py(std::string_view text);

/// The version in a library name "libtorch_cpu.so.1.13.0": "1.13.0"; absent without one.
[[nodiscard]] std::optional<std::string> version_of_library(std::string_view file_name);

/// MAJOR and MINOR of a version "1.13.0a0", "2.3.0+cu121", "2.1"; absent when it does not start
/// with two dot-separated numbers.
[[nodiscard]] std::optional<std::pair<unsigned, unsigned>> parse_major_minor(
    std::string_view version);

/// Diagnose's facts about `sample`'s target: the kernel log's OOM kills in its cgroup, the
/// /dev/shm mount, the thread counts of its largest processes, and the allocator settings in
/// the environment of its largest process whose environment can be read (`<procfs>/PID/
/// environ`, read for these names only and never exported), with PYTHONUNBUFFERED and
/// PYTHONDONTWRITEBYTECODE when that process runs Python, and the torch version in use: the
/// first of `answered` (what processes said in their `stats` answers) when any, else the
/// torch install the maps of the largest processes show (its version.py read through
/// `<procfs>/PID/root`, so a sidecar reads the target container's file). Unreadable sources
/// become notes.
[[nodiscard]] model::Facts read_facts(const Roots& roots, const model::Sample& sample,
                                      std::vector<model::Note>& notes,
                                      const std::vector<model::TorchVersion>& answered = {});

}  // namespace memopt::readers
