#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "memopt/model/facts.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/kept_file.hpp"

// Parsers and readers for files under procfs. Parsers are pure: text in, typed values out;
// `source` names the file in error messages. Readers take the procfs root as a value, and
// convert pages to bytes with the roots' page size. The sources are one file per kernel file
// (src/readers/procfs/meminfo.cpp, statm.cpp, buddyinfo.cpp, ...).
namespace memopt::readers {

/// Parses `<procfs>/meminfo`. MemTotal and MemFree are required; MemAvailable (3.14+) falls
/// back to MemFree + Buffers + Cached - Shmem. Throws Error on a malformed or truncated file.
[[nodiscard]] model::HostMemory parse_meminfo(std::string_view text, std::string_view source);

/// A line a parser skipped because it does not know it (a newer kernel's addition).
struct SkippedLine {
  int number = 0;    ///< 1-based
  std::string text;  ///< the line, trimmed
};

/// Parses a PSI file (`<procfs>/pressure/memory`, cgroup v2 `memory.pressure`; 4.20+).
/// The "some" and "full" lines are required for memory; lines of another kind are skipped
/// (listed in `skipped` when given), as later kernels may add some. Throws Error when a known
/// line is malformed, a line is missing, or the file is in the experimental pre-4.20 format
/// ("aggr N" / "some 0.00 0.00 0.00").
[[nodiscard]] model::Pressure parse_pressure(std::string_view text, std::string_view source,
                                             std::vector<SkippedLine>* skipped = nullptr);

/// parse_pressure() that degrades: absent, with a note naming `source` and the line, when the
/// text is malformed (note "psi_unreadable"); each skipped line is a note too
/// ("psi_line_ignored").
[[nodiscard]] std::optional<model::Pressure> pressure_or_note(std::string_view text,
                                                              const std::string& source,
                                                              std::vector<model::Note>& notes);

/// Parses `<procfs>/buddyinfo` into pages free per order, summed over nodes and zones, and the
/// share of free pages that cannot serve a 2 MiB request (order 9 with 4 KiB pages; the order
/// follows `page_size`). With no free page at all the share is 0.
[[nodiscard]] model::Fragmentation parse_buddyinfo(std::string_view text, std::uint64_t page_size,
                                                   std::string_view source);

/// The fields memopt needs from `<procfs>/<pid>/smaps_rollup` (4.14+), in bytes.
struct SmapsRollup {
  std::uint64_t rss_bytes = 0;
  std::uint64_t pss_bytes = 0;
  std::uint64_t uss_bytes = 0;  ///< Private_Clean + Private_Dirty
  std::uint64_t swap_bytes = 0;
};

/// Parses smaps_rollup. Returns std::nullopt for an empty file (kernel threads have no
/// memory map). Throws Error when a needed line is missing or malformed.
[[nodiscard]] std::optional<SmapsRollup> parse_smaps_rollup(std::string_view text,
                                                            std::string_view source);

/// Parses `<procfs>/<pid>/statm` and returns the resident set in bytes.
[[nodiscard]] std::uint64_t parse_statm_rss(std::string_view text, std::uint64_t page_size,
                                            std::string_view source);

/// PF_EXITING in `<procfs>/<pid>/stat`'s flags: the process has begun to exit.
inline constexpr std::uint64_t kPfExiting = 0x4;

/// The fields of `<procfs>/<pid>/stat` memopt reads (proc(5) numbers them). A field after the
/// parent pid that a line does not have (a captured tree may cut it short) is absent.
struct ProcStat {
  char state = 0;                            ///< 3: 'R', 'S', 'D', 'Z' (zombie), 'X' (dead), ...
  int ppid = 0;                              ///< 4
  std::optional<int> pgrp;                   ///< 5: process group
  std::optional<int> session;                ///< 6
  std::optional<std::uint64_t> flags;        ///< 9: PF_* flags
  std::optional<std::uint64_t> start_ticks;  ///< 22: starttime, clock ticks after boot

  /// A zombie or dead process: it holds no memory of its own any more.
  [[nodiscard]] bool dead() const { return state == 'Z' || state == 'X'; }
  /// PF_EXITING: exiting, its cgroup no longer its own on v1.
  [[nodiscard]] bool exiting() const { return flags && (*flags & kPfExiting) != 0; }
};

/// Parses `<procfs>/<pid>/stat`: the one parser of that file. The fields follow the last ')',
/// since the comm in parentheses may hold spaces and parentheses. Throws Error naming `source`
/// when the state or the parent pid is not there.
[[nodiscard]] ProcStat parse_proc_stat(std::string_view text, std::string_view source);

/// `root` and every process descended from it that is visible now (a scan of every
/// `<procfs>/<pid>/stat`). A process that exits mid-scan is left out.
[[nodiscard]] std::vector<int> read_process_tree(const Roots& roots, int root);

/// Finds the file system mounted at `mount_point` in `<procfs>/self/mountinfo` text (the last
/// mount there wins, as it hides the ones below). std::nullopt when nothing is mounted there.
[[nodiscard]] std::optional<model::Mount> parse_mount(std::string_view mountinfo,
                                                      std::string_view mount_point,
                                                      std::string_view source);

/// The "Threads:" count of `<procfs>/<pid>/status` text.
[[nodiscard]] unsigned parse_status_threads(std::string_view text, std::string_view source);

/// The mount at `mount_point` as this process sees it; absent when not mounted or when
/// mountinfo is unreadable.
[[nodiscard]] std::optional<model::Mount> read_mount(const Roots& roots,
                                                     std::string_view mount_point);

/// The thread count of process `pid`; absent when it has exited.
[[nodiscard]] std::optional<unsigned> read_thread_count(const Roots& roots, int pid);

/// One line of `<procfs>/self/cgroup`: "hierarchy-ID:controller-list:cgroup-path".
struct CgroupLine {
  int hierarchy_id = 0;
  std::vector<std::string> controllers;  ///< empty for the v2 line ("0::/path")
  std::string path;
};

/// Parses `<procfs>/self/cgroup`. Throws Error on a malformed line.
[[nodiscard]] std::vector<CgroupLine> parse_proc_cgroup(std::string_view text,
                                                        std::string_view source);

/// Reads the host's memory. Throws Error when meminfo is missing or malformed. With `kept`,
/// meminfo stays open between calls (a monitor's quick readings).
[[nodiscard]] model::HostMemory read_host_memory(const Roots& roots,
                                                 sys::KeptFiles* kept = nullptr);

/// Reads host PSI; absent with a note on kernels without PSI ("no_host_psi") and when the
/// file is unreadable or malformed ("psi_unreadable": the rest of the report stands).
[[nodiscard]] std::optional<model::Pressure> read_host_pressure(const Roots& roots,
                                                                std::vector<model::Note>& notes);

/// Reads buddyinfo (orders of `roots.page_size_bytes` pages); absent with a note where it does not
/// exist ("no_buddyinfo") and where it cannot be read or parsed ("buddyinfo_unreadable", naming the
/// file and line).
[[nodiscard]] std::optional<model::Fragmentation> read_fragmentation(
    const Roots& roots, std::vector<model::Note>& notes);

/// What a monitor remembers of each process between scans, so that a process that did not
/// change is not read again. A scan then reads one small file a process (statm) instead of
/// three, and smaps_rollup, whose cost grows with the process's mappings, only for processes
/// whose statm moved or whose last full read is `max_age` old. Kernel threads (no resident
/// pages) are recognised from statm alone. The figures of an unchanged process, its name
/// included, can be up to `max_age` old: PSS also moves when *other* processes map or unmap
/// pages it shares, which its own statm does not show.
/// On the live procfs each process's statm is kept open (sys::KeptFile: one pread a scan instead
/// of open, read and close), for at most a quarter of the soft descriptor limit
/// (sys::descriptor_budget; pidfds take up to half); the processes beyond that are opened each
/// scan.
class ProcessCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ProcessCache(Clock::duration max_age = std::chrono::seconds(30)) : max_age_(max_age) {}

  /// smaps_rollup reads the last scan saved (hits) and made (misses).
  [[nodiscard]] std::size_t hits() const { return hits_; }
  [[nodiscard]] std::size_t misses() const { return misses_; }
  [[nodiscard]] std::size_t size() const { return entries_.size(); }
  /// statm files kept open.
  [[nodiscard]] std::size_t kept_files() const { return kept_files_; }

 private:
  friend class ProcessReader;
  struct Entry {
    sys::KeptFile statm_file;  ///< open while the budget allows (live procfs only)
    std::string statm;
    model::ProcessMemory memory;
    Clock::time_point read_at;
    unsigned scan = 0;      ///< the last scan that saw this pid
    std::string malformed;  ///< what did not parse at that read (said again at each hit)
  };

  Clock::duration max_age_;
  std::unordered_map<int, Entry> entries_;
  unsigned scan_ = 0;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
  /// Decided at the first scan: whether statm files are kept (the live procfs) and how many.
  std::optional<std::size_t> max_kept_files_;
  std::size_t kept_files_ = 0;
};

/// Reads processes one at a time, reusing its buffers, and remembers which ones it could read
/// only in part (for one note at the end instead of one per process).
class ProcessReader {
 public:
  /// With a cache, the reader is one scan at `now`: unchanged processes come from the cache.
  explicit ProcessReader(Roots roots, ProcessCache* cache = nullptr,
                         ProcessCache::Clock::time_point now = {});

  /// The memory of process `pid` from smaps_rollup (statm RSS, in the roots' pages, where that
  /// is unreadable, absent or malformed); std::nullopt for a process that exited, for kernel
  /// threads and for one whose statm is malformed too. One process's odd file never throws: it is
  /// said once, in add_notes().
  [[nodiscard]] std::optional<model::ProcessMemory> read(int pid);

  /// Adds a note when some processes were listed without PSS, and one when some had a file
  /// that does not parse (naming the first).
  void add_notes(std::vector<model::Note>& notes) const;

  /// Ends a scan over every pid: the cache forgets the processes this reader did not read.
  void forget_unseen();

 private:
  std::optional<model::ProcessMemory> read_cached(int pid);
  /// Reads pid's statm into statm_ (path_ then names it): from the file kept for pid, else
  /// opened here (into `opened` while the budget allows); 0 or the errno.
  int read_statm(int pid, sys::KeptFile& opened);
  std::optional<model::ProcessMemory> read_uncached(int pid, std::size_t base);
  void malformed(std::string_view what);

  Roots roots_;
  ProcessCache* cache_;
  ProcessCache::Clock::time_point now_;
  std::string path_;
  std::string text_;
  std::string statm_;
  std::size_t without_pss_ = 0;  ///< smaps_rollup absent or not permitted
  bool no_rollup_support_ = false;
  std::size_t malformed_ = 0;  ///< processes with a file that does not parse
  std::string first_malformed_;
  std::string last_malformed_;
};

/// Reads every visible process (kernel threads left out), sorted by PSS (RSS where PSS is
/// unknown), largest first. A process that exits mid-scan is skipped; one whose
/// smaps_rollup is unreadable (another user's, gVisor) is listed with its statm RSS.
/// Throws Error when the procfs root cannot be listed. With a cache (see ProcessCache), a
/// process unchanged since its last full read is not read again, and pids gone are forgotten.
/// `include`, when given, is asked first for each pid: false skips it unread.
[[nodiscard]] std::vector<model::ProcessMemory> read_processes(
    const Roots& roots, std::vector<model::Note>& notes, ProcessCache* cache = nullptr,
    ProcessCache::Clock::time_point now = ProcessCache::Clock::now(),
    const std::function<bool(int)>& include = {});

/// `comm` of process `pid`, or std::nullopt when it is not visible.
[[nodiscard]] std::optional<std::string> read_process_name(const Roots& roots, int pid);

}  // namespace memopt::readers
