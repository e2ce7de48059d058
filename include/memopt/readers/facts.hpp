#pragma once

#include <optional>
#include <string>
#include <string_view>
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

/// Diagnose's facts about `sample`'s target: the kernel log's OOM kills in its cgroup, the
/// /dev/shm mount, the thread counts of its largest processes, and the allocator settings in
/// the environment of its largest process whose environment can be read (`<procfs>/PID/
/// environ`, read for these names only and never exported), with PYTHONUNBUFFERED and
/// PYTHONDONTWRITEBYTECODE when that process runs Python. Unreadable sources become notes.
[[nodiscard]] model::Facts read_facts(const sys::Roots& roots, const model::Sample& sample,
                                      std::vector<model::Note>& notes);

}  // namespace memopt::readers
