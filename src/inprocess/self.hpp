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

/// This process's VmHWM (the kernel's lifetime peak of RSS, never reset by memopt), in bytes;
/// absent when `/proc/self/status` cannot be read.
[[nodiscard]] std::optional<std::uint64_t> self_peak_rss_bytes();

/// The part of malloc's free heap that is still resident, in bytes: the resident pages of
/// malloc's arenas (the brk `[heap]` and the other arenas' 64 MiB heaps, counted with
/// mincore) minus what is allocated in them (mallinfo2 uordblks). Pages malloc_trim gave back
/// are not counted, unlike mallinfo2's fordblks. An estimate by difference: allocated pages
/// never written make it smaller than the truth. `fresh` measures now (and re-reads
/// `/proc/self/maps` for the arenas); otherwise a figure measured in the last second is reused
/// (mincore over a large heap costs tens of µs) and the arena list may be 2 s old.
[[nodiscard]] std::uint64_t heap_free_resident_bytes(bool fresh);

}  // namespace memopt::inprocess
