#include "memopt/engine/one_shot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "memopt/actions/process_stats.hpp"
#include "memopt/error.hpp"
#include "memopt/readers/collect.hpp"
#include "memopt/readers/facts.hpp"
#include "memopt/readers/process_tree.hpp"
#include "memopt/sys/runtime_dir.hpp"

namespace memopt::engine {

namespace {

readers::CollectOptions collect_options(const model::Target& target, bool containers) {
  readers::CollectOptions collect;
  collect.target = target;
  collect.containers = containers;
  return collect;
}

}  // namespace

ReportReading read_report(const Roots& roots, const model::Target& target, bool containers,
                          const analysis::AnalysisOptions& options) {
  ReportReading reading;
  auto sample = readers::collect(roots, collect_options(target, containers));
  if (!sample.processes.empty()) {
    reading.groups =
        analysis::group_processes(readers::read_process_nodes(roots, sample.processes));
  }
  actions::add_in_process_view(roots, target, sample, kStatsTimeout);
  reading.report = analysis::analyze(std::move(sample), options);
  return reading;
}

analysis::Report read_check(const Roots& roots, const model::Target& target, bool containers,
                            const analysis::AnalysisOptions& options) {
  return analysis::analyze(readers::collect(roots, collect_options(target, containers)), options);
}

Diagnosis read_diagnosis(const Roots& roots, const model::Target& target,
                         const analysis::AnalysisOptions& options) {
  Diagnosis out;
  auto& report = out.report;
  report = analysis::analyze(readers::collect(roots, collect_options(target, false)), options);
  std::vector<model::Note> notes;
  // The processes serving a cleanup socket say which torch they run ("stats").
  std::vector<model::TorchVersion> answered;
  try {
    answered = actions::ask_torch_versions(roots, target, sys::runtime_directories_to_scan(),
                                           kStatsTimeout);
  } catch (const Error& e) {
    notes.push_back({"runtime_dir_unusable",
                     fmt::format("processes embedding memopt not asked: {}", e.what())});
  }
  out.facts = readers::read_facts(roots, report.sample, notes, answered);
  for (const auto& note : notes) report.advice.push_back({note.id, "info", note.message});
  out.findings = analysis::diagnose(report, out.facts, options);
  // Worker groups (DataLoader workers holding copies of their parent's memory).
  if (!report.sample.processes.empty()) {
    const auto groups = analysis::diagnose_groups(
        analysis::group_processes(readers::read_process_nodes(roots, report.sample.processes)),
        report.memory);
    out.findings.insert(out.findings.end(), groups.begin(), groups.end());
    const auto rank = [](const std::string& s) {
      return s == "critical" ? 0 : s == "warning" ? 1 : 2;
    };
    std::stable_sort(out.findings.begin(), out.findings.end(), [&](const auto& a, const auto& b) {
      return rank(a.severity) < rank(b.severity);
    });
  }
  return out;
}

}  // namespace memopt::engine
