#include <fmt/format.h>

#include <algorithm>

#include "memopt/error.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/units.hpp"
#include "readers/procfs/fields.hpp"
#include "readers/text.hpp"

// <procfs>/meminfo: the host's memory.
namespace memopt::readers {

using detail::kb_value;
using detail::Lines;
using detail::split_key;
using detail::trim;

model::HostMemory parse_meminfo(std::string_view text, std::string_view source) {
  std::optional<std::uint64_t> total, free, available, buffers, cached, shmem, swap_total,
      swap_free;
  struct Field {
    std::string_view key;
    std::optional<std::uint64_t>* value;
  };
  const Field fields[] = {{"MemTotal", &total},         {"MemFree", &free},
                          {"MemAvailable", &available}, {"Buffers", &buffers},
                          {"Cached", &cached},          {"Shmem", &shmem},
                          {"SwapTotal", &swap_total},   {"SwapFree", &swap_free}};
  Lines lines(text);
  while (const auto line = lines.next()) {
    if (trim(*line).empty()) continue;
    const auto kv = split_key(*line);
    if (!kv)
      throw parse_error(source, lines.number(),
                        fmt::format("expected 'Key: value', got '{}'", *line));
    const Field* match = nullptr;
    for (const auto& field : fields) {
      if (field.key == kv->first) match = &field;
    }
    const auto value = kb_value(kv->second, match != nullptr);
    if (!value) {
      throw parse_error(
          source, lines.number(),
          fmt::format("expected a number of kB for {}, got '{}'", kv->first, trim(kv->second)));
    }
    if (match != nullptr) *match->value = value;
  }
  if (!total) throw parse_error(source, 0, "MemTotal is missing (truncated file?)");
  if (!free) throw parse_error(source, 0, "MemFree is missing (truncated file?)");
  if (*total == 0) throw parse_error(source, 0, "MemTotal is 0");

  model::HostMemory host;
  host.total_bytes = *total;
  host.free_bytes = *free;
  host.buffers_bytes = buffers;
  host.cached_bytes = cached;
  host.shmem_bytes = shmem;
  host.swap_total_bytes = swap_total;
  host.swap_free_bytes = swap_free;
  if (available) {
    host.available_bytes = std::min(*available, *total);
  } else {
    // Kernels before 3.14: the estimate free(1) used then.
    if (!cached) throw parse_error(source, 0, "neither MemAvailable nor Cached is present");
    const std::uint64_t reclaimable =
        saturating_add(saturating_add(*free, buffers.value_or(0)), *cached);
    const std::uint64_t estimate = reclaimable - std::min(reclaimable, shmem.value_or(0));
    host.available_bytes = std::min(estimate, *total);
    host.available_estimated = true;
  }
  return host;
}

model::HostMemory read_host_memory(const Roots& roots, sys::KeptFiles* kept) {
  const std::string path = roots.procfs + "/meminfo";
  return parse_meminfo(kept != nullptr ? kept->read_required(path) : sys::read_required(path),
                       path);
}

}  // namespace memopt::readers
