#include "memopt/render/run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <nlohmann/json.hpp>

#include "memopt/error.hpp"
#include "memopt/printable.hpp"
#include "memopt/render/html.hpp"
#include "memopt/units.hpp"
#include "render/append.hpp"
#include "render/json_document.hpp"

namespace memopt::render {

namespace {

using Json = nlohmann::ordered_json;
using analysis::Level;
using detail::put;
using detail::seconds;

// Arguments are the user's bytes: printed as printable() gives them, in every output.
std::vector<std::string> printable_command(const std::vector<std::string>& command) {
  std::vector<std::string> out;
  out.reserve(command.size());
  for (const auto& arg : command) out.push_back(printable(arg));
  return out;
}

std::string command_line(const std::vector<std::string>& command) {
  std::string out;
  for (const auto& arg : printable_command(command)) {
    if (!out.empty()) out += ' ';
    if (!arg.empty() && arg.find_first_of(" \t\n\"'\\$`;&|<>()*?[]{}~#!") == std::string::npos) {
      out += arg;
      continue;
    }
    // Single quotes, with each ' written as '\'' : what a shell would take back verbatim.
    out += '\'';
    for (const char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += '\'';
  }
  return out;
}

Json gpu_devices_json(const std::vector<analysis::DeviceGpuBytes>& devices) {
  Json out = Json::array();
  for (const auto& d : devices) {
    out.push_back({{"index", d.index},
                   {"name", d.name},
                   {"total_bytes", d.total_bytes},
                   {"peak_bytes", d.used_bytes}});
  }
  return out;
}

/// A zero working-set peak without the kernel's figure is no measurement, not "0 B".
bool peak_measured(const analysis::RunReport& report) {
  return report.peak.from_kernel || report.peak.working_set_bytes > 0;
}

std::string opt_bytes(const std::optional<std::uint64_t>& v) {
  return v ? format_bytes(*v) : "unknown";
}

}  // namespace

nlohmann::ordered_json recommendation_json(const analysis::Recommendation& r) {
  return Json{{"memory_bytes", r.memory_bytes},
              {"memory_swap_bytes", r.memory_swap_bytes},
              {"docker_flags", r.docker_flags},
              {"docker_update", r.docker_update},
              {"kubernetes", r.kubernetes}};
}

std::string render_recommendation(std::string_view heading, const analysis::Recommendation& r) {
  std::string out = fmt::format("{}\n  docker:     {}\n  running:    {}\n  kubernetes:\n", heading,
                                r.docker_flags, r.docker_update);
  std::string_view yaml = r.kubernetes;
  while (!yaml.empty()) {
    const auto nl = yaml.find('\n');
    out += fmt::format("    {}\n", yaml.substr(0, nl));
    yaml = nl == std::string_view::npos ? std::string_view{} : yaml.substr(nl + 1);
  }
  return out;
}

std::string render_run_text(const analysis::RunReport& report) {
  std::string out;
  const auto& s = report.summary;
  put(out, "memopt run: {}\n", command_line(report.command));
  if (report.limit_applied) {
    put(out, "limit        {}{}\n", format_bytes(*report.limit_bytes),
        report.swap_bytes ? fmt::format(" + {} swap", format_bytes(*report.swap_bytes))
                          : std::string());
  } else if (report.limit_bytes) {
    put(out, "limit        NOT APPLIED ({}): the command ran unconstrained{}\n",
        report.why_unconstrained, report.forced ? " (--force)" : "");
  } else {
    put(out, "limit        none (measuring only)\n");
  }
  if (report.signal) {
    put(out, "exit         killed by signal {} (exit code {}) after {:.1f} s\n", *report.signal,
        report.exit_code, seconds(s.duration));
  } else {
    put(out, "exit         {} after {:.1f} s\n", report.exit_code, seconds(s.duration));
  }
  const auto& peak = report.peak;
  if (!peak_measured(report)) {
    put(out,
        "peak         unknown: no sample saw the command (it ended within {} ms, or nothing of it "
        "could be read)\n",
        report.sample_interval.count());
  } else {
    put(out, "peak         working set {} ({:.1f}% of {})   tree RSS {}   tree PSS {}   GPU {}\n",
        format_bytes(peak.working_set_bytes),
        report.level_limit_bytes == 0 ? 0.0
                                      : 100.0 * static_cast<double>(peak.working_set_bytes) /
                                            static_cast<double>(report.level_limit_bytes),
        report.limit_applied ? "the limit" : "host memory", format_bytes(s.peak_rss_bytes),
        opt_bytes(s.peak_pss_bytes), s.peak_gpu_bytes ? format_bytes(*s.peak_gpu_bytes) : "none");
    for (const auto& gpu : s.peak_gpu_devices) {
      put(out, "             GPU {} ({}, {}): peak {}\n", gpu.index, gpu.name,
          format_bytes(gpu.total_bytes), format_bytes(gpu.used_bytes));
    }
    if (peak.from_kernel) {
      put(out,
          "             from the kernel: usage peak {} minus {} of page cache present around it "
          "(highest sample {})\n",
          format_bytes(peak.usage_bytes.value_or(0)), format_bytes(peak.cache_bytes),
          format_bytes(peak.sampled_working_set_bytes));
    } else {
      put(out,
          "             sampled every {} ms only (no cgroup): a spike between samples is missed\n",
          report.sample_interval.count());
    }
  }
  if (report.room_bytes) {
    put(out, "room         {} available when it started ({}){}\n", format_bytes(*report.room_bytes),
        report.room_limited_by, report.forced ? ", --force" : "");
  }
  if (report.other_oom_kills) {
    if (*report.other_oom_kills > 0) {
      put(out,
          "NEIGHBOURS   {} process(es) outside the command were OOM-killed during the run ({})\n",
          *report.other_oom_kills, report.other_oom_kills_scope);
    } else {
      put(out, "neighbours   no OOM kill outside the command ({})\n", report.other_oom_kills_scope);
    }
  }
  if (report.stop_escalated) {
    put(out, "stop         the command ignored the stop signal and was killed (SIGKILL)\n");
  }
  std::string levels;
  for (std::size_t i = 0; i < s.time_at_level.size(); ++i) {
    if (s.time_at_level[i].count() == 0) continue;
    levels += fmt::format("{}{} {:.1f} s", levels.empty() ? "" : "   ",
                          analysis::to_string(static_cast<Level>(i)), seconds(s.time_at_level[i]));
  }
  put(out, "levels       {}\n", levels.empty() ? "no samples" : levels);
  put(out, "samples      {} every {} ms\n", report.samples.size(), report.sample_interval.count());
  if (report.oom_kills > 0) {
    put(out,
        "OOM          killed by the OOM killer at the {} limit ({} kill(s)); peak before the kill "
        "{}\n",
        format_bytes(report.limit_bytes.value_or(0)), report.oom_kills,
        format_bytes(peak.working_set_bytes));
    put(out, "             the true peak is unknown: rerun with a larger limit, e.g. --limit {}\n",
        analysis::docker_size(2 * report.limit_bytes.value_or(peak.working_set_bytes)));
  } else {
    put(out, "OOM kills    0\n");
  }
  if (report.recommendation) {
    out += render_recommendation(
        fmt::format(
            "recommended  {} (the smallest 256 MiB step that keeps the peak of {} at or below "
            "60%; one run: low confidence, size from several runs of the real workload)",
            format_bytes(report.recommendation->memory_bytes),
            format_bytes(peak.working_set_bytes)),
        *report.recommendation);
  } else if (report.oom_kills == 0) {
    put(out, "recommended  none: no peak was measured to size from\n");
  }
  return out;
}

std::string render_run_json(const analysis::RunReport& report) {
  const auto& s = report.summary;
  Json samples = Json::array();
  for (const auto& x : report.samples) {
    samples.push_back(Json{{"t", seconds(x.at)},
                           {"working_set_bytes", x.working_set_bytes},
                           {"usage_bytes", x.usage_bytes},
                           {"inactive_file_bytes", x.inactive_file_bytes},
                           {"interval_peak_usage_bytes", or_null(x.interval_peak_usage_bytes)},
                           {"tree_rss_bytes", x.tree_rss_bytes},
                           {"tree_pss_bytes", or_null(x.tree_pss_bytes)},
                           {"gpu_bytes", or_null(x.gpu_bytes)}});
  }
  Json levels = Json::object();
  for (std::size_t i = 0; i < s.time_at_level.size(); ++i) {
    levels[std::string(analysis::to_string(static_cast<Level>(i)))] = seconds(s.time_at_level[i]);
  }
  const Json doc{
      {"schema", "memopt.run/1"},
      {"command", printable_command(report.command)},
      {"exit_code", report.exit_code},
      {"signal", or_null(report.signal)},
      {"oom_killed", report.oom_kills > 0},
      {"oom_kills", report.oom_kills},
      {"limit_bytes", or_null(report.limit_bytes)},
      {"swap_bytes", or_null(report.swap_bytes)},
      {"limit_applied", report.limit_applied},
      {"duration_seconds", seconds(s.duration)},
      {"peak_bytes", peak_measured(report) ? Json(report.peak.working_set_bytes) : Json(nullptr)},
      {"peak_source", report.peak.from_kernel ? "kernel" : "sampled"},
      {"peak_usage_bytes", or_null(report.kernel_peak_usage_bytes)},
      {"peak_cache_bytes", report.peak.cache_bytes},
      {"sampled_peak_bytes", report.peak.sampled_working_set_bytes},
      {"room_bytes", or_null(report.room_bytes)},
      {"room_limited_by", report.room_limited_by},
      {"forced", report.forced},
      {"unconstrained_reason", report.limit_applied || report.why_unconstrained.empty()
                                   ? Json(nullptr)
                                   : Json(report.why_unconstrained)},
      {"other_oom_kills", or_null(report.other_oom_kills)},
      {"other_oom_kills_scope", report.other_oom_kills_scope},
      {"stop_escalated", report.stop_escalated},
      {"confidence", "low"},
      {"peak_rss_bytes", s.peak_rss_bytes},
      {"peak_pss_bytes", or_null(s.peak_pss_bytes)},
      {"peak_gpu_bytes", or_null(s.peak_gpu_bytes)},
      {"peak_gpu_devices", gpu_devices_json(s.peak_gpu_devices)},
      {"time_at_level_seconds", std::move(levels)},
      {"sample_interval_ms", report.sample_interval.count()},
      {"samples", std::move(samples)},
      {"recommendation",
       report.recommendation ? recommendation_json(*report.recommendation) : Json(nullptr)},
  };
  return dump_json(doc, 2) + "\n";
}

std::string render_run_timeline(const analysis::RunReport& report) {
  return fill_page("run.html", {{"title", escape_html(command_line(report.command))},
                                {"data", script_json(render_run_json(report))}});
}

std::string render_model_sizes(const analysis::ModelSize& model) {
  std::string out =
      fmt::format("{}: minimum {}, recommended {}, best {} (the seed's table)\n", model.name,
                  format_bytes(model.minimum_bytes), format_bytes(model.recommended_bytes),
                  format_bytes(model.best_bytes));
  const std::pair<const char*, std::uint64_t> rows[] = {{"minimum", model.minimum_bytes},
                                                        {"recommended", model.recommended_bytes},
                                                        {"best", model.best_bytes}};
  for (const auto& [label, bytes] : rows) {
    out += render_recommendation(fmt::format("{} ({})", label, format_bytes(bytes)),
                                 analysis::recommend_limit(bytes));
  }
  return out;
}

std::string render_run_file_recommendation(const std::string& path, const actions::RunResult& run) {
  const auto peak = run.peak_bytes;
  if (run.oom_killed) {
    return fmt::format(
        "The run in {} was OOM-killed: its true peak is unknown (at least {}). Rerun with a larger "
        "--limit, e.g. --limit {}, and recommend from that run.\n",
        path, format_bytes(peak),
        analysis::docker_size(2 * std::max<std::uint64_t>(peak, 256 * kMiB)));
  }
  const std::string& source = run.peak_source;
  return render_recommendation(
      fmt::format("from {}: measured peak {} ({}) -> {} (peak at or below 60%; one run: low "
                  "confidence)",
                  path, format_bytes(peak),
                  source == "kernel" ? "the kernel's, spikes included"
                                     : "sampled: a spike between samples may be missing",
                  format_bytes(analysis::recommend_for_peak(peak).memory_bytes)),
      analysis::recommend_for_peak(peak));
}

}  // namespace memopt::render
