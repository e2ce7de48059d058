#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

// Shared by the in-process sources: this process's own memory, read through the readers.
namespace memopt::inprocess {

/// This process's RSS in bytes (`/proc/self/statm`). Throws Error when unreadable.
[[nodiscard]] std::uint64_t self_rss_bytes();

/// The VmHWM line of `/proc/self/status` text, in bytes; absent when missing.
[[nodiscard]] std::optional<std::uint64_t> parse_vm_hwm(std::string_view status_text);

}  // namespace memopt::inprocess
