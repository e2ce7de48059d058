// The resident part of malloc's free heap: mallinfo2's fordblks counts free chunks whose pages
// malloc_trim already gave back (madvise), so "free heap" alone overstates what a process could
// still return. Here the arenas' resident pages are counted (mincore) and the allocated bytes
// subtracted.
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inprocess/self.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/self.hpp"

namespace memopt::inprocess {

namespace {

// glibc's HEAP_MAX_SIZE on 64-bit: every non-main arena's heap is a mapping aligned to it.
constexpr std::uintptr_t kArenaHeapAlignment = std::uintptr_t{64} << 20;
constexpr auto kArenaListMaxAge = std::chrono::seconds(2);
// mincore over a large heap costs tens of µs: the cheap call reuses a figure this recent.
constexpr auto kResidentMaxAge = std::chrono::seconds(1);

// glibc's heap_info (malloc/arena.c), at the start of every non-main arena heap.
struct GlibcHeapInfo {
  void* arena;
  void* previous;
  std::size_t size;           // bytes of the heap in use by the arena
  std::size_t mprotect_size;  // bytes mapped read-write
};

struct Region {
  std::uintptr_t start = 0;
  std::uintptr_t length = 0;
};

std::uintptr_t hex(std::string_view text) {
  std::uintptr_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value, 16);
  return value;
}

struct ArenaList {
  std::uintptr_t brk_start = 0;     // 0: no [heap] mapping
  std::vector<Region> arena_heaps;  // candidate non-main arena heaps, checked at each use
  std::chrono::steady_clock::time_point read_at{};
  bool read = false;
};

ArenaList read_arena_list() {
  ArenaList list;
  list.read = true;
  list.read_at = std::chrono::steady_clock::now();
  std::string maps;
  if (sys::read_into(sys::default_roots().procfs + "/self/maps", maps) != 0) return list;
  std::string_view rest = maps;
  while (!rest.empty()) {
    const auto newline = rest.find('\n');
    const auto line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    // "start-end perms offset dev inode   path"
    const auto dash = line.find('-');
    const auto space = line.find(' ');
    if (dash == std::string_view::npos || space == std::string_view::npos || dash > space) continue;
    const auto start = hex(line.substr(0, dash));
    const auto end = hex(line.substr(dash + 1, space - dash - 1));
    if (line.ends_with("[heap]")) {
      list.brk_start = start;
      continue;
    }
    const auto perms = line.substr(space + 1, 4);
    // An anonymous mapping has inode 0 and no path: the line ends after the inode.
    const bool anonymous =
        line.find('/') == std::string_view::npos && line.find('[') == std::string_view::npos;
    if (perms == "rw-p" && anonymous && start % kArenaHeapAlignment == 0 && end > start) {
      list.arena_heaps.push_back({start, end - start});
    }
  }
  return list;
}

std::mutex g_arena_mutex;
ArenaList g_arenas;
std::optional<std::chrono::steady_clock::time_point> g_resident_at;
std::uint64_t g_resident_free = 0;

}  // namespace

std::uint64_t heap_free_resident_bytes(bool fresh) {
  const auto now = std::chrono::steady_clock::now();
  std::vector<Region> regions;
  {
    std::lock_guard lock(g_arena_mutex);
    if (!fresh && g_resident_at && now - *g_resident_at <= kResidentMaxAge) {
      return g_resident_free;
    }
    if (fresh || !g_arenas.read || now - g_arenas.read_at > kArenaListMaxAge) {
      g_arenas = read_arena_list();
    }
    if (g_arenas.brk_start != 0) {
      const auto brk_end = sys::program_break();
      if (brk_end > g_arenas.brk_start) {
        regions.push_back({g_arenas.brk_start, brk_end - g_arenas.brk_start});
      }
    }
    for (const auto& candidate : g_arenas.arena_heaps) {
      // Only a mapping that starts with a plausible heap_info is an arena's heap; its `size`
      // is the part the arena uses now.
      GlibcHeapInfo info{};
      if (!sys::read_own_memory(candidate.start, &info, sizeof info)) continue;
      if (info.arena == nullptr || info.mprotect_size != candidate.length ||
          info.size > info.mprotect_size || info.size < sizeof info) {
        continue;
      }
      regions.push_back({candidate.start, info.size});
    }
  }
  std::uint64_t resident = 0;
  for (const auto& region : regions)
    resident += sys::resident_bytes_in(region.start, region.length);
  const auto in_use = sys::heap_info().arena_in_use_bytes;
  const std::uint64_t free_resident = resident > in_use ? resident - in_use : 0;
  const std::lock_guard lock(g_arena_mutex);
  g_resident_at = now;
  g_resident_free = free_resident;
  return free_resident;
}

}  // namespace memopt::inprocess
