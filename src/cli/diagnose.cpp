#include "memopt/analysis/diagnose.hpp"

#include <memory>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/model/collect.hpp"
#include "memopt/readers/kernel_log.hpp"
#include "memopt/readers/procfs.hpp"
#include "memopt/render/diagnose.hpp"

namespace memopt::cli {

namespace {

/// How many of the largest processes to look at for thread counts.
constexpr std::size_t kThreadScan = 20;

model::Facts gather_facts(const GlobalOptions& global, const analysis::Report& report,
                          std::vector<model::Note>& notes) {
  model::Facts facts;
  if (auto kills = readers::read_kernel_oom_kills(notes)) {
    // Only this container's victims, where the log names their cgroup.
    const auto& cg = report.sample.cgroup;
    facts.kernel_oom_kills = cg ? readers::kills_in_cgroup(*kills, cg->path) : std::move(*kills);
  }
  facts.shm = readers::read_mount(global.roots, "/dev/shm");
  const auto& processes = report.sample.processes;
  for (std::size_t i = 0; i < std::min(kThreadScan, processes.size()); ++i) {
    const auto threads = readers::read_thread_count(global.roots, processes[i].pid);
    if (threads && (!facts.most_threads || *threads > facts.most_threads->threads)) {
      facts.most_threads = model::ThreadCount{processes[i].pid, processes[i].name, *threads};
    }
  }
  facts.malloc_arena_max = sys::environment("MALLOC_ARENA_MAX");
  facts.malloc_trim_threshold = sys::environment("MALLOC_TRIM_THRESHOLD_");
  facts.pytorch_cuda_alloc_conf = sys::environment("PYTORCH_CUDA_ALLOC_CONF");
  return facts;
}

int run_diagnose(const GlobalOptions& global, bool json, std::size_t top) {
  const auto options = global.analysis_options();
  auto sample = model::collect(global.roots, {});
  auto report = analysis::analyze(std::move(sample), options);
  std::vector<model::Note> notes;
  const auto facts = gather_facts(global, report, notes);
  for (const auto& note : notes) report.advice.push_back({note.id, "info", note.message});
  const auto findings = analysis::diagnose(report, facts, options);
  render::RenderOptions render_options;
  render_options.top = top;
  if (json) {
    write_output("", render::render_diagnose_json(report, facts, findings, render_options));
  } else {
    render_options.color = sys::is_terminal(1) && !sys::environment("NO_COLOR");
    write_output("", render::render_diagnose_text(report, facts, findings, render_options));
  }
  return 0;
}

}  // namespace

void add_diagnose_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  struct Options {
    bool json = false;
    std::size_t top = 5;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("diagnose",
                                 "The quick diagnosis: memory, OOM kills, pressure, environment, "
                                 "and ranked findings with their fixes");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->add_option("--top", options->top, "How many processes to list")
      ->check(CLI::Range(0, 100000));
  cmd->callback([&global, &action, options] {
    action = [&global, options] { return run_diagnose(global, options->json, options->top); };
  });
}

}  // namespace memopt::cli
