#include "memopt/render/cleanup.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
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

nlohmann::json holder_json(const std::optional<actions::MemoryHolder>& holder) {
  if (!holder) return nullptr;
  return {{"pid", holder->pid},
          {"name", holder->name},
          {"bytes", holder->bytes},
          {"cooperates", holder->cooperates}};
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

nlohmann::json shm_json(const actions::CleanupReport& report) {
  nlohmann::json removals = nlohmann::json::array();
  for (const auto& r : report.shm_removals) {
    nlohmann::json item = {{"name", r.name},
                           {"owner_pid", optional_json(r.owner_pid)},
                           {"bytes", r.bytes},
                           {"status", r.status}};
    if (!r.reason.empty()) item["reason"] = r.reason;
    removals.push_back(std::move(item));
  }
  return removals;
}

}  // namespace

std::string render_cleanup_json(const actions::CleanupReport& report) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& step : report.steps) {
    nlohmann::json item = {{"name", step.name}, {"status", step.status}};
    if (!step.reason.empty()) item["reason"] = step.reason;
    if (step.reclaimed_bytes) item["reclaimed_bytes"] = *step.reclaimed_bytes;
    if (step.released_bytes) item["released_bytes"] = *step.released_bytes;
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
                           {"gpu_released_bytes", optional_json(process.gpu_released_bytes)},
                           {"torch_cache_bytes", optional_json(process.torch_cache_bytes)}};
    if (!process.reason.empty()) item["reason"] = process.reason;
    processes.push_back(std::move(item));
  }
  nlohmann::json document = {
      {"dry_run", report.dry_run},
      {"steps", std::move(steps)},
      {"processes", std::move(processes)},
      {"stale_sockets", report.stale_sockets},
      {"before", state_json(report.before)},
      {"after", state_json(report.after)},
      {"reclaimed_bytes", report.reclaimed_bytes},
      {"released_bytes", optional_json(report.released_bytes)},
      {"page_cache_dropped_bytes", optional_json(report.page_cache_dropped_bytes)},
      {"would_release_estimate_bytes", optional_json(report.would_release_estimate_bytes)},
      {"largest_holder", holder_json(report.largest_holder)},
      {"dev_shm", optional_json(report.shm_dir)},
      {"shm_removals", shm_json(report)}};
  if (!report.gpu_owners.empty()) {
    nlohmann::json owners = nlohmann::json::array();
    for (const auto& o : report.gpu_owners) {
      owners.push_back({{"pid", o.pid},
                        {"local_pid", optional_json(o.local_pid)},
                        {"name", optional_json(o.name)},
                        {"bytes", optional_json(o.bytes)},
                        {"cooperates", o.cooperates},
                        {"how", o.how}});
    }
    document["gpu_memory"] = std::move(owners);
  }
  return document.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string render_cleanup_text(const actions::CleanupReport& report) {
  std::string out =
      report.dry_run ? "memopt cleanup (dry run: nothing is changed)\n" : "memopt cleanup\n";
  int index = 1;
  for (const auto& step : report.steps) {
    out += fmt::format("  {}. {:<15} {:<8}", index++, step.name, step.status);
    if (step.released_bytes)
      out += " released " + format_released(*step.released_bytes, "the working set");
    if (step.reclaimed_bytes && step.released_bytes &&
        *step.reclaimed_bytes - *step.released_bytes >= static_cast<std::int64_t>(kMiB)) {
      out +=
          " (+ " +
          format_bytes(static_cast<std::uint64_t>(*step.reclaimed_bytes - *step.released_bytes)) +
          " inactive page cache)";
    }
    if (!step.reason.empty()) out += "  (" + step.reason + ")";
    out += '\n';
  }
  if (!report.shm_removals.empty()) {
    out += fmt::format("/dev/shm orphans ({}; owner dead, held by no process):\n",
                       report.shm_dir.value_or("?"));
  }
  for (const auto& r : report.shm_removals) {
    out += fmt::format("  {:<8} {:>10}  owner {}  {}{}\n", r.status, format_bytes(r.bytes),
                       r.owner_pid ? fmt::to_string(*r.owner_pid) : std::string("?"), r.name,
                       r.reason.empty() ? std::string() : "  (" + r.reason + ")");
  }
  if (!report.processes.empty()) out += "cooperating processes:\n";
  for (const auto& process : report.processes) {
    out +=
        fmt::format("  pid {} ({}): {}", process.pid, process.name.value_or("?"), process.status);
    if (process.rss_before_bytes) out += ", RSS " + format_bytes(*process.rss_before_bytes);
    if (process.rss_after_bytes) out += " -> " + format_bytes(*process.rss_after_bytes);
    if (process.released_bytes)
      out += ", released " + format_released(*process.released_bytes, "its RSS");
    if (process.gpu_released_bytes)
      out += ", GPU released " + format_released(*process.gpu_released_bytes, "its GPU memory");
    if (process.torch_cache_bytes && *process.torch_cache_bytes > 0) {
      out += ", torch cache " + format_bytes(*process.torch_cache_bytes) +
             " reclaimable (reserved - allocated, before)";
    }
    if (!process.reason.empty()) out += "  (" + process.reason + ")";
    out += '\n';
  }
  out += "before: " + state_text(report.before) + "\n";
  out += "after:  " + state_text(report.after) + "\n";
  if (report.released_bytes) {
    // The headline is the working set, what the level uses; page cache is cheap to refill
    // and the kernel drops it on its own under pressure, so it is shown apart.
    out += "released: " + format_released(*report.released_bytes, "the working set") +
           " of the working set";
    if (report.page_cache_dropped_bytes && *report.page_cache_dropped_bytes > 0)
      out += "; inactive page cache dropped apart: " +
             format_bytes(static_cast<std::uint64_t>(*report.page_cache_dropped_bytes));
    out += "\n";
  } else if (report.dry_run && report.would_release_estimate_bytes) {
    out += "would release (estimate): at most " +
           format_bytes(*report.would_release_estimate_bytes) +
           " (the RSS of the processes that would be asked)\n";
  }
  for (const auto& o : report.gpu_owners) {
    out += fmt::format("GPU memory: pid {} ({}), {}: {}\n",
                       o.local_pid.value_or(static_cast<int>(o.pid)), o.name.value_or("?"),
                       o.bytes ? format_bytes(*o.bytes) : "unknown", o.how);
  }
  if (const auto& holder = report.largest_holder; holder && !holder->cooperates) {
    out += fmt::format(
        "largest holder: pid {} ({}), {}; it does not take cleanup requests: call "
        "memopt.serve_cleanup() in it (Python) or memopt::serve_cleanup() (C++), or restart it "
        "to return its memory\n",
        holder->pid, holder->name, format_bytes(holder->bytes));
  } else if (holder) {
    out += fmt::format("largest holder: pid {} ({}), {}; it takes cleanup requests ({})\n",
                       holder->pid, holder->name, format_bytes(holder->bytes),
                       report.dry_run ? "it would be asked" : "asked above");
  }
  return out;
}

bool is_leaks_report(const protocol::LeaksAnswer& answer) { return !answer.error.has_value(); }

namespace {

// MiB with a sign, or "?" for a figure the report left out (never a made-up 0).
std::string signed_mib(const std::optional<std::int64_t>& bytes) {
  return bytes ? fmt::format("{:+.1f}", static_cast<double>(*bytes) / (1024.0 * 1024.0)) : "?";
}

template <typename T>
std::string or_unknown(const std::optional<T>& value, const char* format) {
  return value ? fmt::format(fmt::runtime(format), *value) : "?";
}

std::string leak_site_line(const protocol::LeakSiteAnswer& site) {
  const auto mib = [](double bytes) { return bytes / (1024.0 * 1024.0); };
  const auto kind = site.kind.value_or("?");
  return fmt::format(
      "  {}:{}  {}  {} MiB in {}, {} MiB/h (r2 {}){}\n", site.file.value_or("?"),
      or_unknown(site.line, "{}"), kind,
      site.size_bytes ? fmt::format("{:.1f}", mib(static_cast<double>(*site.size_bytes))) : "?",
      or_unknown(site.count, "{}"),
      site.growth_bytes_per_hour ? fmt::format("{:+.1f}", mib(*site.growth_bytes_per_hour)) : "?",
      or_unknown(site.r2, "{:.2f}"),
      kind == "native" ? "  [torch CPU tensor storage: native memory]" : "");
}

}  // namespace

std::string render_leaks_text(const protocol::LeaksAnswer& answer) {
  const auto pid = or_unknown(answer.pid, "{}");
  if (answer.error) return fmt::format("memopt leaks: pid {}: {}\n", pid, *answer.error);
  std::string out = fmt::format(
      "memopt leaks: pid {}, leak check over {} s, {} checkpoints\n"
      "RSS {} MiB = Python {} MiB + torch CPU tensors {} MiB + other native {} MiB\n",
      pid, or_unknown(answer.duration_s, "{:.0f}"), or_unknown(answer.checkpoints, "{}"),
      signed_mib(answer.rss_growth_bytes), signed_mib(answer.python_growth_bytes),
      signed_mib(answer.torch_cpu_growth_bytes),
      signed_mib(answer.unexplained_native_growth_bytes));
  if (answer.checkpoints.value_or(0) < 3) {
    out += "  not enough checkpoints yet: a steady growth needs 3\n";
  } else if (answer.sites.empty()) {
    out += "  no allocation site grows steadily\n";
  }
  for (const auto& site : answer.sites) out += leak_site_line(site);
  return out;
}

}  // namespace memopt::render
