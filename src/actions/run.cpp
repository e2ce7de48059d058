#include "memopt/actions/run.hpp"

#include <fmt/format.h>

#include <csignal>
#include <memory>
#include <set>

#include "memopt/actions/sandbox.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/cgroupfs.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/units.hpp"

namespace memopt::actions {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

/// GPU reads load NVML and walk every device: once a second is plenty for a trend.
constexpr milliseconds kGpuInterval{1000};

/// Samples a running command: its sandbox cgroup when there is one, its process tree always.
class Sampler {
 public:
  Sampler(const Roots& roots, Sandbox* sandbox, pid_t root)
      : roots_(roots), sandbox_(sandbox), root_(root), processes_(roots) {}

  /// One sample; `command_running` false for the last one, after the command exited (only the
  /// cgroup is read then: its kernel peak covers the command's last moments).
  analysis::RunSample sample(milliseconds at, bool command_running) {
    analysis::RunSample s;
    s.at = at;
    std::vector<int> pids;
    if (sandbox_ != nullptr) {
      sandbox_->read(s);
      if (command_running) pids = sandbox_->pids();
    } else if (command_running) {
      pids = readers::read_process_tree(roots_, root_);
    }
    std::uint64_t pss = 0;
    bool pss_known = false;
    for (const int pid : pids) {
      const auto p = processes_.read(pid);
      if (!p) continue;
      s.tree_rss_bytes += p->rss_bytes;
      if (p->pss_bytes) pss += *p->pss_bytes, pss_known = true;
    }
    if (pss_known) s.tree_pss_bytes = pss;
    // Unconstrained, the tree's PSS is the closest thing to the container's working set.
    if (sandbox_ == nullptr) s.working_set_bytes = s.tree_pss_bytes.value_or(s.tree_rss_bytes);
    if (command_running) {
      s.gpu_bytes = gpu_bytes(at, pids);
      if (s.gpu_bytes) s.gpu_devices = last_gpu_devices_;
    }
    return s;
  }

 private:
  std::optional<std::uint64_t> gpu_bytes(milliseconds at, const std::vector<int>& pids) {
    if (gpu_unavailable_) return std::nullopt;
    if (last_gpu_read_ && at - *last_gpu_read_ < kGpuInterval) return last_gpu_bytes_;
    last_gpu_read_ = at;
    if (!nvml_) nvml_.emplace();  // loaded once for the whole run, not at every sample
    std::vector<model::Note> notes;
    const auto gpus = nvml_->read(roots_, notes);
    if (!nvml_->ready() || gpus.empty()) {
      gpu_unavailable_ = true;  // no NVML or no GPU
      nvml_.reset();
      return std::nullopt;
    }
    const std::set<int> ours(pids.begin(), pids.end());
    last_gpu_bytes_ = readers::gpu_bytes_of(gpus, ours, roots_.procfs);
    last_gpu_devices_.clear();
    for (const auto& gpu : gpus) {
      // Each device on its own, with the same rules: unknown where its list is unreadable.
      if (const auto bytes = readers::gpu_bytes_of({gpu}, ours, roots_.procfs)) {
        last_gpu_devices_.push_back({gpu.index, gpu.name, gpu.total_bytes, *bytes});
      }
    }
    return last_gpu_bytes_;
  }

  const Roots& roots_;
  Sandbox* sandbox_;
  pid_t root_;
  readers::ProcessReader processes_;
  std::optional<readers::NvmlSession> nvml_;
  bool gpu_unavailable_ = false;
  std::optional<milliseconds> last_gpu_read_;
  std::optional<std::uint64_t> last_gpu_bytes_;
  std::vector<analysis::DeviceGpuBytes> last_gpu_devices_;
};

/// Refuses (or, forced, warns about) a limit the enclosing container cannot give.
void check_room(const analysis::RunReport& report, const model::HostMemory& host, bool force,
                const Warn& warn) {
  if (!report.limit_bytes || !report.room_bytes) return;
  const std::uint64_t limit = *report.limit_bytes;
  const std::uint64_t room = *report.room_bytes;
  if (limit <= room) return;
  std::string message = fmt::format(
      "--limit {} is more than the {} available to the command: {} limits it. Filling the "
      "limit would make the kernel OOM-kill a process *outside* the command (a neighbour in the "
      "same container) instead of the command.",
      format_bytes(limit), format_bytes(room), report.room_limited_by);
  if (limit > host.total_bytes) {
    message += fmt::format(" The limit is also above this host's memory (MemTotal {}).",
                           format_bytes(host.total_bytes));
  }
  if (!force) {
    throw Error(message + fmt::format(" Use --limit {} or less, free memory first, or --force "
                                      "to run anyway.",
                                      analysis::docker_size(room)),
                Error::Kind::kUsage);
  }
  warn("warning: " + message +
       " Running anyway (--force); OOM kills of other processes will be "
       "reported.");
}

}  // namespace

analysis::RunReport run_measured(const Roots& roots, const RunRequest& request,
                                 const analysis::Thresholds& thresholds, const Warn& warn) {
  analysis::RunReport report;
  report.command = request.command;
  report.limit_bytes = request.limit_bytes;
  report.swap_bytes = request.swap_bytes;
  report.sample_interval = request.sample_interval;
  report.forced = request.force;
  if (report.swap_bytes && !report.limit_bytes)
    throw Error("--swap needs --limit", Error::Kind::kUsage);

  const auto host = readers::read_host_memory(roots);
  std::vector<model::Note> notes;
  const auto own = readers::locate_cgroup(roots, notes);
  if (own) {
    std::vector<std::string> problems;
    for (const auto& dir : sweep_orphaned_sandboxes(*own, roots.procfs, problems)) {
      warn(
          fmt::format("memopt run: removed {}, left by a memopt run that is gone (its processes "
                      "killed)",
                      dir));
    }
    for (const auto& problem : problems) warn("memopt run: " + problem);
  }
  const auto room = analysis::room_for_command(
      own ? enclosing_cgroups(*own) : std::vector<analysis::EnclosingCgroup>{},
      host.available_bytes);
  report.room_bytes = room.available_bytes;
  report.room_limited_by = room.limited_by;
  check_room(report, host, request.force, warn);

  std::unique_ptr<Sandbox> sandbox;
  try {
    if (!own) {
      throw Error(notes.empty() ? std::string("no cgroup memory controller found")
                                : notes.back().message);
    }
    sandbox = Sandbox::create(*own, report.limit_bytes, report.swap_bytes);
    report.limit_applied = report.limit_bytes.has_value();
  } catch (const Error& e) {
    if (e.kind() == Error::Kind::kUsage) throw;
    report.why_unconstrained = e.what();
    if (report.limit_bytes && !request.force) {
      // Running without the limit asked for would answer a different question than the one
      // asked (does it fit in X?), and exit 0 as if it did.
      throw Error(fmt::format("--limit {} cannot be applied: {}. memopt run applies a limit by "
                              "creating a child memory cgroup, which needs root or a delegated "
                              "cgroup. Run it as root, drop --limit to measure only, or add "
                              "--force to run the command without the limit.",
                              format_bytes(*report.limit_bytes), e.what()),
                  Error::Kind::kUsage);
    }
    warn(fmt::format("memopt run: {}; running the command unconstrained and measuring it{}",
                     e.what(), report.limit_bytes ? " (--force: the limit was NOT applied)" : ""));
  }
  report.level_limit_bytes =
      report.limit_applied ? std::min(*report.limit_bytes, host.total_bytes) : host.total_bytes;

  const OomScope scope = oom_scope(own);
  report.other_oom_kills_scope = scope.description;
  const auto kills_before = count_oom_kills(scope, roots.procfs);

  const sys::SignalWaiter signals;
  const auto start = sys::steady_now();
  sys::SpawnOptions spawn_options;
  if (sandbox) spawn_options.cgroup_procs = sandbox->procs_file();
  spawn_options.stdout_to_stderr = request.command_stdout_to_stderr;
  spawn_options.die_with_parent = true;
  const pid_t child = sys::spawn(request.command, spawn_options);
  const auto since_start = [&] { return duration_cast<milliseconds>(sys::steady_now() - start); };

  Sampler sampler(roots, sandbox.get(), child);
  std::optional<sys::ExitStatus> status;
  std::optional<milliseconds> kill_at;  // when a stop request runs out of grace
  while (!status) {
    report.samples.push_back(sampler.sample(since_start(), true));
    const auto next = report.samples.back().at + report.sample_interval;
    for (;;) {
      auto wake = next;
      if (kill_at) wake = std::min(wake, *kill_at);
      const auto received = signals.wait(wake - since_start());
      if (received && received->signal != SIGCHLD) {
        // The terminal's Ctrl-C already reached the command's process group; a kill(2) did not.
        if (received->sent_by_process) sys::send_signal(child, received->signal);
        if (received->signal != SIGHUP && !kill_at) kill_at = since_start() + request.stop_timeout;
      }
      if ((status = sys::try_wait(child))) break;
      if (kill_at && since_start() >= *kill_at) {
        // It ignored the stop request: what `docker stop` does after its grace period.
        report.stop_escalated = true;
        warn(
            fmt::format("memopt run: the command did not stop within {:.0f} s of the signal; "
                        "killing it (SIGKILL)",
                        static_cast<double>(request.stop_timeout.count()) / 1000.0));
        sys::send_signal(child, SIGKILL);
        if (sandbox) sandbox->kill_all();
        kill_at = milliseconds::max();
        continue;
      }
      if (!received) break;  // time for the next sample
    }
  }
  report.summary.duration = since_start();
  report.exit_code = status->exit_code;
  report.signal = status->signal;

  if (sandbox) {
    // After the exit: the kernel's peak since the last sample covers the command's end.
    report.samples.push_back(sampler.sample(report.summary.duration, false));
    std::vector<model::Note> cgroup_notes;
    const auto cg = readers::read_cgroup_at(sandbox->location(), cgroup_notes);
    report.oom_kills = cg.oom_kill_events.value_or(0);
  }
  if (const auto kills_after = count_oom_kills(scope, roots.procfs); kills_before && kills_after) {
    // Every level counts the command's own kills too (v1 in the sandbox's subtree, v2
    // hierarchically, the host in vmstat): what remains were other processes.
    const std::uint64_t delta = *kills_after - std::min(*kills_after, *kills_before);
    report.other_oom_kills = delta - std::min(delta, report.oom_kills);
    if (*report.other_oom_kills > 0) {
      warn(fmt::format(
          "memopt run: WARNING: {} process(es) outside the command were OOM-killed during the run "
          "({}: oom_kill went from {} to {}); the command's memory caused it or contributed",
          *report.other_oom_kills, scope.description, *kills_before, *kills_after));
    }
  }
  if (sandbox && !sandbox->remove()) {
    warn(fmt::format("memopt run: could not remove {}", sandbox->location().dir));
  }

  report.summary = analysis::summarize_run(report.samples, report.summary.duration,
                                           report.level_limit_bytes, thresholds);
  report.peak = analysis::estimate_peak(report.samples);
  report.kernel_peak_usage_bytes = report.peak.usage_bytes;
  // A zero peak is no measurement (the command ended before any sample saw it, or nothing
  // could be read): sizing from it would recommend the smallest step for a workload unseen.
  if (report.oom_kills == 0 && report.peak.working_set_bytes > 0) {
    report.recommendation = analysis::recommend_for_peak(report.peak.working_set_bytes);
  }
  return report;
}

}  // namespace memopt::actions
