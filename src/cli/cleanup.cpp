#include "memopt/actions/cleanup.hpp"

#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "cli/options.hpp"
#include "cli/output.hpp"
#include "memopt/actions/actuator.hpp"
#include "memopt/inprocess.hpp"
#include "memopt/units.hpp"

namespace memopt::cli {

namespace {

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

nlohmann::json state_json(const actions::MemoryState& state) {
  return {{"container_usage_bytes", optional_json(state.container_usage_bytes)},
          {"container_working_set_bytes", optional_json(state.container_working_set_bytes)},
          {"host_available_bytes", state.host_available_bytes}};
}

std::string render_json(const actions::CleanupReport& report) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : report.steps) {
    nlohmann::json item = {{"name", step.name}, {"status", step.status}};
    if (!step.reason.empty()) item["reason"] = step.reason;
    if (step.reclaimed_bytes) item["reclaimed_bytes"] = *step.reclaimed_bytes;
    steps.push_back(std::move(item));
  }
  nlohmann::json processes = nlohmann::json::array();
  for (const auto& process : report.processes) {
    nlohmann::json item = {{"pid", process.pid},
                           {"name", optional_json(process.name)},
                           {"socket", process.socket},
                           {"status", process.status},
                           {"rss_before_bytes", optional_json(process.rss_before_bytes)},
                           {"rss_after_bytes", optional_json(process.rss_after_bytes)},
                           {"released_bytes", optional_json(process.released_bytes)},
                           {"gpu_released_bytes", optional_json(process.gpu_released_bytes)}};
    if (!process.reason.empty()) item["reason"] = process.reason;
    processes.push_back(std::move(item));
  }
  const nlohmann::json document = {{"dry_run", report.dry_run},
                                   {"steps", std::move(steps)},
                                   {"processes", std::move(processes)},
                                   {"stale_sockets", report.stale_sockets},
                                   {"before", state_json(report.before)},
                                   {"after", state_json(report.after)},
                                   {"reclaimed_bytes", report.reclaimed_bytes}};
  return document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string signed_bytes(std::int64_t bytes) {
  const auto magnitude = format_bytes(static_cast<std::uint64_t>(bytes < 0 ? -bytes : bytes));
  return bytes < 0 ? "-" + magnitude : magnitude;
}

std::string state_text(const actions::MemoryState& state) {
  std::string text;
  if (state.container_usage_bytes) {
    text += fmt::format("container usage {}, working set {}; ",
                        format_bytes(*state.container_usage_bytes),
                        format_bytes(state.container_working_set_bytes.value_or(0)));
  }
  return text + "host available " + format_bytes(state.host_available_bytes);
}

std::string render_text(const actions::CleanupReport& report) {
  std::string out =
      report.dry_run ? "memopt cleanup (dry run: nothing is changed)\n" : "memopt cleanup\n";
  int index = 1;
  for (const auto& step : report.steps) {
    out += fmt::format("  {}. {:<15} {:<8}", index++, step.name, step.status);
    if (step.reclaimed_bytes) out += " reclaimed " + signed_bytes(*step.reclaimed_bytes);
    if (!step.reason.empty()) out += "  (" + step.reason + ")";
    out += '\n';
  }
  if (!report.processes.empty()) out += "cooperating processes:\n";
  for (const auto& process : report.processes) {
    out +=
        fmt::format("  pid {} ({}): {}", process.pid, process.name.value_or("?"), process.status);
    if (process.rss_before_bytes) out += ", RSS " + format_bytes(*process.rss_before_bytes);
    if (process.rss_after_bytes) out += " -> " + format_bytes(*process.rss_after_bytes);
    if (process.released_bytes) out += ", released " + signed_bytes(*process.released_bytes);
    if (process.gpu_released_bytes)
      out += ", GPU released " + signed_bytes(*process.gpu_released_bytes);
    if (!process.reason.empty()) out += "  (" + process.reason + ")";
    out += '\n';
  }
  out += "before: " + state_text(report.before) + "\n";
  out += "after:  " + state_text(report.after) + "\n";
  if (!report.dry_run) out += "reclaimed: " + signed_bytes(report.reclaimed_bytes) + "\n";
  return out;
}

int run_cleanup_command(const GlobalOptions& global, bool dry_run, bool json, bool aggressive,
                        double timeout_s) {
  actions::CleanupOptions options;
  options.target = global.target();
  options.request_timeout = std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  options.dry_run = dry_run;
  options.aggressive = aggressive;
  options.runtime_dirs = runtime_directories_to_scan();
  actions::SystemActuator system;
  actions::RecordingActuator recorder;
  actions::Actuator& actuator = dry_run ? static_cast<actions::Actuator&>(recorder) : system;
  const auto report = actions::run_cleanup(global.roots, actuator, options);
  write_output("", json ? render_json(report) : render_text(report));
  for (const auto& step : report.steps) {
    if (step.status == "failed") return 1;
  }
  return 0;
}

}  // namespace

void add_cleanup_command(CLI::App& app, const GlobalOptions& global, Action& action) {
  struct Options {
    bool dry_run = false;
    bool json = false;
    bool aggressive = false;
    double timeout_s = 30;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "cleanup",
      "Return memory for real: ask cooperating processes to clean up, reclaim the cgroup's page "
      "cache, drop clean caches; measured before and after. Never signals a process");
  cmd->add_flag("--dry-run", options->dry_run, "Print the plan and change nothing");
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->add_flag("--aggressive", options->aggressive,
                "Also drop dentries and inodes (drop_caches 3) and compact memory");
  cmd->add_option("--timeout", options->timeout_s,
                  "Seconds the cooperating processes have to answer, all together (asked in "
                  "parallel)")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  cmd->callback([&global, &action, options] {
    action = [&global, options] {
      return run_cleanup_command(global, options->dry_run, options->json, options->aggressive,
                                 options->timeout_s);
    };
  });
}

}  // namespace memopt::cli
