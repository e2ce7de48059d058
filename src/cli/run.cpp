#include "memopt/render/run.hpp"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <set>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/actions/sandbox.hpp"
#include "memopt/analysis/sizing.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/nvml.hpp"
#include "memopt/readers/nvml_session.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/sys/process.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

struct RunOptions {
  std::string limit;
  std::string swap;
  unsigned sample_ms = 100;
  bool json = false;
  std::string timeline;
  std::string output;
  std::vector<std::string> command;
};

/// GPU reads load NVML and walk every device: once a second is plenty for a trend.
constexpr milliseconds kGpuInterval{1000};

/// Samples a running command: its sandbox cgroup when there is one, its process tree always.
class Sampler {
 public:
  Sampler(const sys::Roots& roots, const actions::Sandbox* sandbox, pid_t root)
      : roots_(roots), sandbox_(sandbox), root_(root), processes_(roots) {}

  analysis::RunSample sample(milliseconds at) {
    analysis::RunSample s;
    s.at = at;
    std::vector<int> pids;
    if (sandbox_ != nullptr) {
      std::vector<model::Note> notes;
      const auto cg = readers::read_cgroup_at(sandbox_->location(), notes);
      s.working_set_bytes = cg.working_set_bytes;
      s.usage_bytes = cg.usage_bytes;
      pids = sandbox_->pids();
    } else {
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
    s.gpu_bytes = gpu_bytes(at, pids);
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
    last_gpu_bytes_ =
        readers::gpu_bytes_of(gpus, std::set<int>(pids.begin(), pids.end()), roots_.procfs);
    return last_gpu_bytes_;
  }

  const sys::Roots& roots_;
  const actions::Sandbox* sandbox_;
  pid_t root_;
  readers::ProcessReader processes_;
  std::optional<readers::NvmlSession> nvml_;
  bool gpu_unavailable_ = false;
  std::optional<milliseconds> last_gpu_read_;
  std::optional<std::uint64_t> last_gpu_bytes_;
};

int run_command(const GlobalOptions& global, const RunOptions& options) {
  analysis::RunReport report;
  report.command = options.command;
  if (!options.limit.empty()) report.limit_bytes = parse_size(options.limit, "--limit");
  if (!options.swap.empty()) report.swap_bytes = parse_size(options.swap, "--swap");
  if (report.swap_bytes && !report.limit_bytes)
    throw Error("--swap needs --limit", Error::Kind::kUsage);
  report.sample_interval = milliseconds(options.sample_ms);

  std::unique_ptr<actions::Sandbox> sandbox;
  try {
    sandbox = actions::Sandbox::create(global.roots, report.limit_bytes, report.swap_bytes);
    report.limit_applied = report.limit_bytes.has_value();
  } catch (const Error& e) {
    if (e.kind() == Error::Kind::kUsage) throw;
    report.why_unconstrained = e.what();
    std::fputs(fmt::format("memopt run: {}; running the command unconstrained and measuring it{}\n",
                           e.what(), report.limit_bytes ? " (the limit was NOT applied)" : "")
                   .c_str(),
               stderr);
  }
  const auto host = readers::read_host_memory(global.roots);
  report.level_limit_bytes =
      report.limit_applied ? std::min(*report.limit_bytes, host.total_bytes) : host.total_bytes;

  const sys::SignalWaiter signals;
  const auto start = sys::steady_now();
  sys::SpawnOptions spawn_options;
  if (sandbox) spawn_options.cgroup_procs = sandbox->procs_file();
  pid_t child = 0;
  try {
    child = sys::spawn(options.command, spawn_options);
  } catch (const Error& e) {
    // The shell's convention for a command that cannot be run.
    std::fputs(fmt::format("memopt run: {}\n", e.what()).c_str(), stderr);
    return 127;
  }

  Sampler sampler(global.roots, sandbox.get(), child);
  std::optional<sys::ExitStatus> status;
  while (!status) {
    const auto now = duration_cast<milliseconds>(sys::steady_now() - start);
    report.samples.push_back(sampler.sample(now));
    const auto next = report.samples.back().at + report.sample_interval;
    for (;;) {
      const auto left = next - duration_cast<milliseconds>(sys::steady_now() - start);
      const auto received = signals.wait(left);
      if (received && received->signal != SIGCHLD && received->sent_by_process) {
        sys::send_signal(child, received->signal);
      }
      if ((status = sys::try_wait(child))) break;
      if (!received) break;  // time for the next sample
    }
  }
  report.summary.duration = duration_cast<milliseconds>(sys::steady_now() - start);
  report.exit_code = status->exit_code;
  report.signal = status->signal;

  if (sandbox) {
    std::vector<model::Note> notes;
    const auto cg = readers::read_cgroup_at(sandbox->location(), notes);
    report.oom_kills = cg.oom_kill_events.value_or(0);
    report.kernel_peak_usage_bytes = cg.peak_bytes;
    if (!sandbox->remove()) {
      std::fputs(fmt::format("memopt run: could not remove {}\n", sandbox->location().dir).c_str(),
                 stderr);
    }
  }
  report.summary =
      analysis::summarize_run(report.samples, report.summary.duration, report.level_limit_bytes,
                              global.analysis_options().thresholds);
  if (report.oom_kills == 0) {
    report.recommendation = analysis::recommend_for_peak(report.summary.peak_working_set_bytes);
  }

  if (!options.timeline.empty())
    write_output(options.timeline, render::render_run_timeline(report));
  const std::string out =
      options.json ? render::render_run_json(report) : render::render_run_text(report);
  write_output(options.output, out);
  return report.exit_code;
}

}  // namespace

void add_run_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  auto options = std::make_shared<RunOptions>();
  auto* cmd = app.add_subcommand(
      "run",
      "Run a command under a memory limit in a fresh cgroup, measure it, and size its container");
  cmd->add_option("--limit", options->limit, "Memory limit, e.g. 1G (like docker run --memory)");
  cmd->add_option("--swap", options->swap, "Swap allowed beyond the limit, e.g. 1G");
  cmd->add_option("--sample-ms", options->sample_ms, "Sampling period in milliseconds")
      ->check(CLI::Range(10u, 60000u));
  cmd->add_flag("--json", options->json, "Print the result as JSON");
  cmd->add_option("--timeline", options->timeline, "Write a self-contained HTML chart of the run");
  cmd->add_option("--output", options->output, "Write the result here instead of standard output");
  cmd->add_option("command", options->command, "The command and its arguments (after --)")
      ->required();
  cmd->callback([&global, &action, options] {
    action = [&global, options] { return run_command(global, *options); };
  });
}

}  // namespace memopt::cli
