#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// Facts beyond one memory sample that `memopt diagnose` weighs.
namespace memopt::model {

/// One OOM kill from the kernel log.
struct OomKill {
  int pid = 0;
  std::string name;                       ///< the victim's comm
  std::optional<std::string> task_memcg;  ///< the victim's cgroup ("oom-kill:...task_memcg=")
  std::optional<double> uptime_seconds;   ///< when, in seconds since boot
  std::optional<std::uint64_t> anon_rss_bytes;
  std::string line;  ///< the "Killed process" line as logged
};

/// A mounted file system, from `<procfs>/self/mountinfo`.
struct Mount {
  std::string mount_point;
  std::string fs_type;
  /// tmpfs `size=`; absent when the mount gives none (tmpfs then takes half of RAM) or gives
  /// it as a percentage.
  std::optional<std::uint64_t> size_bytes;
};

/// A process's thread count, from `<procfs>/<pid>/status`.
struct ThreadCount {
  int pid = 0;
  std::string name;
  unsigned threads = 0;
};

/// The torch a process of the target runs, and how memopt learnt it.
struct TorchVersion {
  int pid = 0;
  std::string name;     ///< that process's comm
  std::string version;  ///< as torch gives it: "1.13.0a0", "2.3.0+cu121"
  unsigned major = 0;
  unsigned minor = 0;
  /// Where it came from: "its stats answer", or the file read ("/opt/venv/.../torch/
  /// version.py", or a library name such as "libtorch_cpu.so.1.13.0" for a distribution's
  /// torch whose version.py could not be read).
  std::string source;
};

/// What diagnose knows besides the report.
struct Facts {
  /// Kills from the kernel log in this container; absent when the log is unreadable.
  std::optional<std::vector<OomKill>> kernel_oom_kills;
  std::optional<Mount> shm;                 ///< /dev/shm, if mounted
  std::optional<ThreadCount> most_threads;  ///< the listed process with most threads
  /// The process whose environment the three settings below come from (threads unused):
  /// the target's largest process whose environ could be read; absent when none could.
  std::optional<ThreadCount> environment_of;
  std::optional<std::string> malloc_arena_max;         ///< $MALLOC_ARENA_MAX
  std::optional<std::string> malloc_trim_threshold;    ///< $MALLOC_TRIM_THRESHOLD_
  std::optional<std::string> pytorch_cuda_alloc_conf;  ///< $PYTORCH_CUDA_ALLOC_CONF
  /// Whether that process runs Python: its comm starts with "python", or its
  /// `<procfs>/PID/maps` maps a python binary or libpython (a console script such as
  /// `uvicorn` has its own comm). The two settings below only matter to Python.
  bool environment_is_python = false;
  std::optional<std::string> python_unbuffered;           ///< $PYTHONUNBUFFERED
  std::optional<std::string> python_dont_write_bytecode;  ///< $PYTHONDONTWRITEBYTECODE
  /// The torch in use: from a process's `stats` answer, else from the torch install the
  /// `<procfs>/PID/maps` of one of the largest processes show. Absent when unknown; then
  /// `torch_unknown` says why (no process maps torch, its version.py unreadable, ...).
  std::optional<TorchVersion> torch;
  std::string torch_unknown;
};

}  // namespace memopt::model
