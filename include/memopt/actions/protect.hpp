#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memopt/actions/cleanup.hpp"
#include "memopt/analysis/watch.hpp"
#include "memopt/config.hpp"
#include "memopt/model/sample.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/sys/fs.hpp"
#include "memopt/sys/pidfd.hpp"

// `memopt monitor --protect`: past cleanup, ask cooperating processes to shed, and at danger
// (or when the limit is seconds away) end ONE process chosen by policy before the kernel's OOM
// killer takes the largest one, which in an inference container is the model server.
namespace memopt::actions {

/// One process that could be ended, as read from <procfs>/<pid>.
struct Candidate {
  int pid = 0;
  std::string name;  ///< comm
  /// Arguments joined by spaces ("" for kernel threads); only the first kMaxCmdlineBytes.
  std::string cmdline;
  std::uint64_t pss_bytes = 0;  ///< smaps_rollup Pss (RSS where smaps_rollup is unreadable)
  /// PSS growth over the readings kept (bytes per second); absent without an earlier reading.
  std::optional<double> growth_bytes_per_second;
  /// The span that growth was measured over (seconds), and the PSS at its start.
  double growth_seconds = 0;
  std::uint64_t growth_from_bytes = 0;
  /// Start time in clock ticks after boot (<procfs>/<pid>/stat field 22): with the pid, the
  /// process's identity, checked again through its pidfd before the signal.
  std::optional<std::uint64_t> start_ticks;
  std::optional<sys::FileId> exe;    ///< the executable (<procfs>/<pid>/exe), when readable
  std::optional<int> oom_score_adj;  ///< <procfs>/<pid>/oom_score_adj
  bool in_target = true;             ///< in the target cgroup's subtree
  bool namespace_init = false;       ///< pid 1 of its pid namespace (NSpid ends in 1), or pid 1
};

/// A worker of one of the target's worker groups (analysis::GroupKind::kWorkers): a parent and
/// its forked children of the same executable. Ending a worker frees its private memory and
/// its parent (the DataLoader's main process, the server's master) lives on; ending the parent
/// ends every worker with it.
struct GroupWorker {
  int pid = 0;
  std::optional<std::uint64_t> start_ticks;  ///< with the pid, the worker's identity
  int parent_pid = 0;
  std::uint64_t private_bytes = 0;  ///< USS: what ending it frees
  /// The monitor classified the group copy-on-read (analysis::GroupShape::kCopyOnRead); false:
  /// any other shape, or not classified yet (its first seconds).
  bool copying = false;
};

/// Who may never be chosen, and who first.
struct VictimPolicy {
  int self_pid = 0;  ///< memopt itself
  /// memopt's own executable: every process running it (a flight recorder, a second monitor)
  /// is memopt, whatever its name or pid.
  std::optional<sys::FileId> self_exe;
  std::vector<int> never_pids;       ///< the target's pid (--pid) and the pid files' pids
  std::vector<std::string> prefer;   ///< globs on comm or cmdline: chosen first
  std::vector<std::string> protect;  ///< globs on comm or cmdline: never chosen
  /// The workers of the target's worker groups. After the `prefer` patterns, the eligible
  /// copying one with the most private memory is chosen before its parent and before any other
  /// process; and a parent chosen by size or growth gives way to its fastest-growing worker
  /// (a parent's PSS rises as its workers copy its pages: the growth is theirs).
  std::vector<GroupWorker> group_workers;
};

/// A process the policy ruled out, and why.
struct Excluded {
  int pid = 0;
  std::string name;
  std::string why;  ///< "memopt itself", "pid 1 of its namespace", "protected (oom_score_adj
                    ///< -1000)", "protected (pattern 'x')", "outside the target cgroup", ...
};

/// A process grows when its PSS rises faster than this (bytes per second).
inline constexpr double kGrowingBytesPerSecond = 1024.0 * 1024.0;
/// The most of a command line read for matching patterns (a long argv can fill megabytes).
inline constexpr std::size_t kMaxCmdlineBytes = 64 * 1024;

/// What choose_victim() decided.
struct VictimChoice {
  std::optional<Candidate> victim;
  std::string why;  ///< why this one ("preferred (pattern 'worker*'), largest ...")
  std::vector<Candidate> alternatives;  ///< the other eligible processes, largest first
  std::vector<Excluded> excluded;
  /// Why nobody is chosen although some are eligible: the process that grows is one that may
  /// not be ended, and ending a small steady one instead would not stop it.
  std::optional<std::string> refused;
};

/// Whether `pattern` (a glob, fnmatch) names the process: its comm, its whole command line, or
/// the start of its command line up to a space ("python3 -m celery" names
/// "python3 -m celery worker -c 4").
[[nodiscard]] bool matches_process(std::string_view pattern, const Candidate& c);

/// The policy, pure: never memopt (its pid or its executable), a namespace's pid 1, a
/// never_pid, a protected process (pattern, oom_score_adj -1000) or one outside the target;
/// among the rest the `prefer` ones if any; else the copying worker (policy.group_workers,
/// copying, the same pid and start) with the most private memory if any is eligible; else among
/// all the fastest grower of the largest (the processes with at least half the largest one's
/// PSS), else the largest. A parent of workers chosen that way gives way to its fastest
/// eligible worker when that one grows (kGrowingBytesPerSecond) faster than it. Nobody (`refused`)
/// when the fastest grower of the target may not be ended and the one chosen grows at less than
/// a quarter of its rate: ending it would only be a substitute.
[[nodiscard]] VictimChoice choose_victim(const std::vector<Candidate>& candidates,
                                         const VictimPolicy& policy);

/// Reads the candidates: every process in `location`'s subtree (all of <procfs> when absent:
/// host scope), with PSS, oom_score_adj, identity and whether it is a namespace's init. A
/// process whose files cannot be read (exited, a FIFO or an oversized file in the tree, no
/// permission) is left out and said in `dropped`; nothing in one process's files throws.
[[nodiscard]] std::vector<Candidate> read_candidates(
    const Roots& roots, const std::optional<readers::CgroupLocation>& location,
    std::vector<std::string>& dropped);

/// The pids written in `pid_files` (first word of each), read as kernel files are (regular
/// files only, opened non-blocking, at most 4 MiB): a missing, unreadable or garbage file is
/// skipped and said in `problems`; never throws, never blocks.
[[nodiscard]] std::vector<int> read_pid_files(const std::vector<std::string>& pid_files,
                                              std::vector<std::string>& problems);

/// What `report --check` says of the pid files a configuration protects: each that cannot be
/// read, holds no pid, or names a pid with no process under `roots.procfs` (a stale file: it
/// protects nothing). Empty when all are sound.
[[nodiscard]] std::vector<std::string> pid_file_problems(const Roots& roots,
                                                         const std::vector<std::string>& pid_files);

/// The one door through which protect signals a process; a recording twin for tests and
/// --dry-run.
class Signaller {
 public:
  virtual ~Signaller() = default;
  /// Takes hold of `pid` (before signalling it). Returns 0 or the errno (ESRCH: gone).
  virtual int hold(int pid) = 0;
  /// What the live kernel says of the held process, read so that it is that process's (see
  /// sys::Pidfd::read_live). Returns 0 or the errno (ESRCH: gone).
  virtual int inspect(int pid, sys::LiveProcess& out) = 0;
  /// Whether the pids in `procfs` are the ones this signaller reaches (the live /proc).
  [[nodiscard]] virtual bool reaches(const std::string& procfs) = 0;
  /// Sends `signal` to the held process. Returns 0 or the errno.
  virtual int send(int pid, int signal) = 0;
  /// Whether the held process has exited.
  [[nodiscard]] virtual bool exited(int pid) = 0;
  /// Lets go of it.
  virtual void release(int pid) = 0;
};

/// Signals through pidfds: a pid reused by another process after the victim exits is never
/// signalled.
class SystemSignaller final : public Signaller {
 public:
  int hold(int pid) override;
  int inspect(int pid, sys::LiveProcess& out) override;
  bool reaches(const std::string& procfs) override;
  int send(int pid, int signal) override;
  bool exited(int pid) override;
  void release(int pid) override;

 private:
  std::map<int, sys::Pidfd> held_;
};

/// The reading a decision is made on.
struct ProtectReading {
  std::chrono::steady_clock::time_point taken;  ///< when usage was read
  analysis::TimePoint at;                       ///< the same, on the wall clock (events)
  analysis::Level level = analysis::Level::kNormal;
  analysis::EffectiveMemory memory;
};

/// The escalation state across steps: shed (asynchronously, through the cleanup sockets), then
/// one kill at a time. Runs on the engine's thread.
class Protector {
 public:
  /// `location`: the target cgroup (absent: host scope, allowed by the caller); `runtime_dirs`
  /// where the cleanup sockets are; `target_pid` the --pid target (never chosen).
  Protector(config::ProtectConfig config, Roots roots,
            std::optional<readers::CgroupLocation> location, model::Target target,
            std::vector<std::string> runtime_dirs, Signaller& signaller);
  ~Protector();
  Protector(const Protector&) = delete;
  Protector& operator=(const Protector&) = delete;

  /// One step on a fresh reading; `now` is the steady clock at the decision. Returns the
  /// events (shed, kill) and sentences for on_notice.
  void step(const ProtectReading& reading, std::chrono::steady_clock::time_point now,
            std::vector<analysis::Event>& events, std::vector<std::string>& notices);

  /// Keeps the PSS of each process of a full sample (taken at `now`): the series behind
  /// "fastest grower", so that the first danger reading already knows who grows. At most
  /// kSeriesPoints readings per process; processes absent from the sample are forgotten.
  void observe(std::chrono::steady_clock::time_point now,
               const std::vector<model::ProcessMemory>& processes);

  /// The workers of the last full sample's worker groups: chosen before their parent (see
  /// choose_victim).
  void set_group_workers(std::vector<GroupWorker> workers) { group_workers_ = std::move(workers); }

  /// Reads the pid files now (at start and on reload): the problems, one sentence each, saying
  /// what is then not protected. A file that fails later keeps its last pid protected.
  [[nodiscard]] std::vector<std::string> check_pid_files();

  /// Waits for a running shed (shutdown).
  void finish(std::vector<analysis::Event>& events, bool wait);

  void set_config(config::ProtectConfig config) { config_ = std::move(config); }
  void set_location(std::optional<readers::CgroupLocation> location) {
    location_ = std::move(location);
  }

  /// The oldest reading a decision may use.
  static constexpr std::chrono::milliseconds kMaxReadingAge{250};
  /// PSS readings kept per process.
  static constexpr std::size_t kSeriesPoints = 16;

 private:
  struct Victim {
    Candidate process;
    std::chrono::steady_clock::time_point term_at;
    std::optional<std::chrono::steady_clock::time_point> kill_at;
    std::optional<std::chrono::steady_clock::time_point> gone_at;
    bool dry_run = false;
  };
  struct RunningShed {
    std::future<CleanupReport> result;
    analysis::Event event{analysis::ShedRan{}};  ///< the level and memory that started it
  };

  [[nodiscard]] bool kill_due(const ProtectReading& reading) const;
  void track_growth(const ProtectReading& reading);
  void start_shed(const ProtectReading& reading, std::chrono::steady_clock::time_point now,
                  std::vector<std::string>& notices);
  /// After the victim is gone: removes its /dev/shm orphans (sweep_shm_orphans restricted to
  /// its pid) and says so in a "shm_sweep" event, one line per file with its bytes.
  void sweep_victim_shm(const ProtectReading& reading, std::vector<analysis::Event>& events);
  void follow_victim(const ProtectReading& reading, std::chrono::steady_clock::time_point now,
                     std::vector<analysis::Event>& events, std::vector<std::string>& notices);
  void decide(const ProtectReading& reading, std::chrono::steady_clock::time_point now,
              std::vector<analysis::Event>& events, std::vector<std::string>& notices);

  config::ProtectConfig config_;
  Roots roots_;
  std::optional<readers::CgroupLocation> location_;
  model::Target target_;
  std::vector<std::string> runtime_dirs_;
  Signaller& signaller_;
  std::optional<Victim> victim_;
  std::vector<GroupWorker> group_workers_;
  std::optional<RunningShed> shed_;
  std::optional<std::chrono::steady_clock::time_point> last_shed_;
  /// Usage readings of the last second: the rate behind forecast_s.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> usage_;
  /// PSS readings of one process, oldest first.
  struct Series {
    std::string name;  ///< comm: another name under the same pid starts a new series
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> points;
  };
  void record_pss(int pid, const std::string& name, std::chrono::steady_clock::time_point at,
                  std::uint64_t bytes);
  void forget_absent(const std::vector<int>& present);
  void measure_growth(Candidate& c, std::chrono::steady_clock::time_point now) const;
  [[nodiscard]] std::vector<int> protected_pids(std::vector<std::string>& problems);
  [[nodiscard]] std::optional<std::string> verify(const Candidate& v,
                                                  const sys::LiveProcess& live) const;

  /// PSS series per pid, from full samples and decisions.
  std::map<int, Series> series_;
  /// The last pid read from each pid file: kept protected while the file is unreadable.
  std::map<std::string, int> pid_file_pids_;
  std::vector<std::string> said_;  ///< problems already said (pid files, dropped candidates)
  std::string last_notice_;
};

}  // namespace memopt::actions
