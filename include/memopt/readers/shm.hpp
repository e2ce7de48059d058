#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/shm_dir.hpp"

// The target's /dev/shm ledger: what its tmpfs holds, whose it is, who still holds it, and
// which files outlived their owner (a tmpfs file is never freed by its process's exit).
namespace memopt::readers {

/// How many files a ledger lists (largest first); the totals count every file.
inline constexpr std::size_t kMaxShmFiles = 1000;
/// How many entries are stat'ed at most: a /dev/shm with more is summed from statfs alone.
inline constexpr std::size_t kMaxShmEntries = 100000;

/// The owner pid in a /dev/shm file name: torch's file_system sharing strategy names its
/// segments `torch_<pid>_<random>_<counter>`, Python multiprocessing's heap arenas
/// `pym-<pid>-<random>`. Absent for any other name (`pymp-*` directories, `psm_*` from
/// multiprocessing.shared_memory, `sem.*` semaphores carry no pid) and for pids that are not
/// positive or do not fit an int.
[[nodiscard]] std::optional<int> parse_shm_owner(std::string_view name);

/// The (device, inode) of every mapping in `maps` (the text of `<procfs>/<pid>/maps`) on
/// device `device`; the device column is hex "major:minor". Malformed lines are skipped.
[[nodiscard]] std::vector<std::uint64_t> parse_maps_inodes(std::string_view maps,
                                                           const sys::DeviceNumber& device);

/// Where the target's /dev/shm is seen from memopt: through `<procfs>/<pid>/root` of a
/// target process (its mount namespace: a sidecar or DaemonSet sees the model's, not its own),
/// else `<procfs>/self/root` (memopt's own).
struct ShmLocation {
  std::string dir;
  std::optional<int> via_pid;
};

/// The location for `sample`'s target: --pid's process; for a cgroup target the largest of
/// its processes; memopt's own otherwise.
[[nodiscard]] ShmLocation shm_location(const Roots& roots, const model::Sample& sample);

/// What one process holds of the directory's files, open or mapped.
struct ShmHolders {
  int pid = 0;
  std::vector<std::uint64_t> inodes;  ///< inodes on the directory's device it holds
};

/// Builds the ledger from a listing (pure): owners from the names, holders, orphans. `alive(pid)`
/// says whether a pid lives; when `owners_judged` is false no owner is judged alive or dead and
/// nothing is an orphan.
[[nodiscard]] model::ShmLedger build_shm_ledger(const ShmLocation& where,
                                                const sys::DirListing& listing,
                                                const std::vector<ShmHolders>& holders,
                                                bool owners_judged,
                                                const std::function<bool(int)>& alive,
                                                std::size_t max_files = kMaxShmFiles);

/// Whether the owner `pid` (from a file's name) still lives under `roots.procfs`: it exists and
/// is neither a zombie nor dead (state Z or X in `<procfs>/<pid>/stat`). A zombie never writes
/// or maps again and has closed its files, so its files are orphans once nobody else holds
/// them (the workers of a killed DataLoader stay zombies while nobody reaps them). A stat that
/// cannot be parsed counts as alive: a file is never swept on a guess.
[[nodiscard]] bool shm_owner_alive(const Roots& roots, int pid);

/// Reads the ledger of the /dev/shm at `where`: lists it, scans every process under
/// `roots.procfs` for the files it holds open or mapped, and judges orphans (only when memopt
/// shares the pid namespace of `where.via_pid`, or of itself). Absent, with a note, when the
/// directory cannot be read. Lists at most `max_files` files.
[[nodiscard]] std::optional<model::ShmLedger> read_shm_ledger(const Roots& roots,
                                                              const ShmLocation& where,
                                                              std::vector<model::Note>& notes,
                                                              std::size_t max_files = kMaxShmFiles);

}  // namespace memopt::readers
