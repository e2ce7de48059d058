#include "memopt/analysis/diagnose.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/actions/process_stats.hpp"
#include "memopt/error.hpp"
#include "memopt/exit_status.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/facts.hpp"
#include "memopt/readers/process_tree.hpp"
#include "memopt/render/diagnose.hpp"
#include "memopt/sys/runtime_dir.hpp"

namespace memopt::cli {

namespace {

int run_diagnose(const GlobalOptions& global, bool json, std::size_t top) {
  const auto options = global.analysis_options();
  readers::CollectOptions collect;
  collect.target = global.target();
  auto report = analysis::analyze(readers::collect(global.roots, collect), options);
  std::vector<model::Note> notes;
  // The processes serving a cleanup socket say which torch they run ("stats").
  std::vector<model::TorchVersion> answered;
  try {
    answered = actions::ask_torch_versions(global.roots, collect.target,
                                           sys::runtime_directories_to_scan(), kStatsTimeout);
  } catch (const Error& e) {
    notes.push_back({"runtime_dir_unusable",
                     fmt::format("processes embedding memopt not asked: {}", e.what())});
  }
  const auto facts = readers::read_facts(global.roots, report.sample, notes, answered);
  for (const auto& note : notes) report.advice.push_back({note.id, "info", note.message});
  auto findings = analysis::diagnose(report, facts, options);
  // Worker groups (DataLoader workers holding copies of their parent's memory).
  if (!report.sample.processes.empty()) {
    const auto groups =
        analysis::diagnose_groups(analysis::group_processes(readers::read_process_nodes(
                                      global.roots, report.sample.processes)),
                                  report.memory);
    findings.insert(findings.end(), groups.begin(), groups.end());
    const auto rank = [](const std::string& s) {
      return s == "critical" ? 0 : s == "warning" ? 1 : 2;
    };
    std::stable_sort(findings.begin(), findings.end(), [&](const auto& a, const auto& b) {
      return rank(a.severity) < rank(b.severity);
    });
  }
  render::RenderOptions render_options;
  render_options.top = top;
  if (json) {
    write_output("", render::render_diagnose_json(report, facts, findings, render_options));
  } else {
    render_options.color = sys::is_terminal(1) && !sys::environment("NO_COLOR");
    write_output("", render::render_diagnose_text(report, facts, findings, render_options));
  }
  if (report.sample.cgroup_unreadable) {
    // As report: the findings say "unknown"; the exit code says the main job could not be done.
    std::fputs(fmt::format("memopt: memory of {} unknown: {}\n", report.sample.target.describe(),
                           *report.sample.cgroup_unreadable)
                   .c_str(),
               stderr);
    return exit_status::kFailure;
  }
  return exit_status::kSuccess;
}

}  // namespace

void add_diagnose_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  struct Options {
    OutputFormat output_format;
    std::size_t top = 5;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("diagnose",
                                 "The quick diagnosis: memory, OOM kills, pressure, environment, "
                                 "and ranked findings with their fixes");
  add_format_options(*cmd, options->output_format, {"text", "json"});
  cmd->add_option("--top", options->top, "How many processes to list")
      ->check(CLI::Range(0, 100000));
  cmd->callback([&global, &action, options] {
    action = [&global, options] {
      return run_diagnose(global, options->output_format.is_json(), options->top);
    };
  });
}

}  // namespace memopt::cli
