#include "memopt/render/cleanup.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/units.hpp"

namespace memopt::render {

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

std::string state_text(const actions::MemoryState& state) {
  std::string text;
  if (state.container_usage_bytes) {
    text += fmt::format("container usage {}, working set {}; ",
                        format_bytes(*state.container_usage_bytes),
                        format_bytes(state.container_working_set_bytes.value_or(0)));
  }
  return text + "host available " + format_bytes(state.host_available_bytes);
}

}  // namespace

std::string render_cleanup_json(const actions::CleanupReport& report) {
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

std::string render_cleanup_text(const actions::CleanupReport& report) {
  std::string out =
      report.dry_run ? "memopt cleanup (dry run: nothing is changed)\n" : "memopt cleanup\n";
  int index = 1;
  for (const auto& step : report.steps) {
    out += fmt::format("  {}. {:<15} {:<8}", index++, step.name, step.status);
    if (step.reclaimed_bytes) out += " reclaimed " + format_signed_bytes(*step.reclaimed_bytes);
    if (!step.reason.empty()) out += "  (" + step.reason + ")";
    out += '\n';
  }
  if (!report.processes.empty()) out += "cooperating processes:\n";
  for (const auto& process : report.processes) {
    out +=
        fmt::format("  pid {} ({}): {}", process.pid, process.name.value_or("?"), process.status);
    if (process.rss_before_bytes) out += ", RSS " + format_bytes(*process.rss_before_bytes);
    if (process.rss_after_bytes) out += " -> " + format_bytes(*process.rss_after_bytes);
    if (process.released_bytes) out += ", released " + format_signed_bytes(*process.released_bytes);
    if (process.gpu_released_bytes)
      out += ", GPU released " + format_signed_bytes(*process.gpu_released_bytes);
    if (!process.reason.empty()) out += "  (" + process.reason + ")";
    out += '\n';
  }
  out += "before: " + state_text(report.before) + "\n";
  out += "after:  " + state_text(report.after) + "\n";
  if (!report.dry_run) out += "reclaimed: " + format_signed_bytes(report.reclaimed_bytes) + "\n";
  return out;
}

}  // namespace memopt::render
