#include "memopt/render/run.hpp"

#include <fmt/format.h>

#include <iterator>
#include <nlohmann/json.hpp>

#include "memopt/printable.hpp"
#include "memopt/render/assets.hpp"
#include "memopt/units.hpp"
#include "render/append.hpp"
#include "render/json_document.hpp"

namespace memopt::render {

namespace {

using Json = nlohmann::ordered_json;
using analysis::Level;
using detail::put;

double seconds(std::chrono::milliseconds ms) { return static_cast<double>(ms.count()) / 1000.0; }

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

template <typename T>
Json or_null(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
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
    put(out, "limit        NOT APPLIED ({}): the command ran unconstrained\n",
        report.why_unconstrained);
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
      {"peak_bytes", report.peak.working_set_bytes},
      {"peak_source", report.peak.from_kernel ? "kernel" : "sampled"},
      {"peak_usage_bytes", or_null(report.kernel_peak_usage_bytes)},
      {"peak_cache_bytes", report.peak.cache_bytes},
      {"sampled_peak_bytes", report.peak.sampled_working_set_bytes},
      {"room_bytes", or_null(report.room_bytes)},
      {"room_limited_by", report.room_limited_by},
      {"forced", report.forced},
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
  // The page reads the run's JSON; "</" is escaped so no value can close the script element.
  std::string data = render_run_json(report);
  for (std::size_t pos = 0; (pos = data.find("</", pos)) != std::string::npos; pos += 3) {
    data.replace(pos, 2, "<\\/");
  }
  const std::string title = command_line(report.command);
  std::string escaped;
  for (const char c : title) {
    switch (c) {
      case '<':
        escaped += "&lt;";
        break;
      case '>':
        escaped += "&gt;";
        break;
      case '&':
        escaped += "&amp;";
        break;
      case '"':
        escaped += "&quot;";
        break;
      default:
        escaped += c;
    }
  }
  return fmt::format(R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>memopt run: {title}</title>
<style>{css}</style>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }} code {{ background: #f1f3f7; padding: 2px 6px; border-radius: 4px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }}
.card {{ border: 1px solid #dde2ea; border-radius: 8px; padding: 10px 14px; min-width: 150px; }}
.card b {{ display: block; font-size: 18px; }} .card span {{ color: #5a6475; font-size: 12px; }}
.oom b {{ color: #c0262d; }} .ok b {{ color: #1a7f37; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 16px; }}
footer {{ color: #8a93a3; font-size: 12px; margin-top: 16px; }}
</style></head>
<body>
<h1>memopt run: <code>{title}</code></h1>
<div class="cards" id="cards"></div>
<div class="charts"><div id="memory"></div><div id="gpu"></div></div>
<footer>Made by memopt. Levels: acceptable &ge; 70%, warning &gt; 80%, severe &gt; 90% of the limit.</footer>
<script>{js}</script>
<script id="run" type="application/json">{data}</script>
<script>
(function () {{
  const run = JSON.parse(document.getElementById('run').textContent);
  const MiB = 1048576, limit = run.limit_applied ? run.limit_bytes : null;
  const fmt = b => b == null ? 'unknown' : b >= 1024 * MiB ? (b / 1024 / MiB).toFixed(2) + ' GiB' : (b / MiB).toFixed(0) + ' MiB';
  const cards = [
    ['exit', run.signal ? 'signal ' + run.signal : String(run.exit_code), run.oom_killed ? 'oom' : 'ok'],
    ['duration', run.duration_seconds.toFixed(1) + ' s'],
    ['peak working set', fmt(run.peak_bytes)],
    ['limit', limit ? fmt(limit) : 'none'],
    ['peak GPU', run.peak_gpu_bytes == null ? 'none' : fmt(run.peak_gpu_bytes)],
    ['OOM kills', String(run.oom_kills), run.oom_kills ? 'oom' : 'ok'],
    ['recommended', run.recommendation ? run.recommendation.docker_flags : 'unknown after an OOM kill'],
  ];
  const box = document.getElementById('cards');
  for (const [label, value, cls] of cards) {{
    const d = document.createElement('div'); d.className = 'card ' + (cls || '');
    d.innerHTML = '<span></span><b></b>'; d.firstChild.textContent = label; d.lastChild.textContent = value;
    box.appendChild(d);
  }}
  const t = run.samples.map(s => s.t);
  const mib = key => run.samples.map(s => s[key] == null ? null : s[key] / MiB);
  const width = Math.min(1100, window.innerWidth - 60);
  const bands = limit ? [[0.7, 0.8, 'rgba(230,180,0,0.10)'], [0.8, 0.9, 'rgba(240,120,0,0.13)'], [0.9, 1.0, 'rgba(220,40,40,0.13)']] : [];
  const drawBands = u => {{
    const ctx = u.ctx, x0 = u.bbox.left, w = u.bbox.width;
    ctx.save();
    for (const [lo, hi, color] of bands) {{
      const y1 = u.valToPos(hi * limit / MiB, 'y', true), y0 = u.valToPos(lo * limit / MiB, 'y', true);
      ctx.fillStyle = color; ctx.fillRect(x0, y1, w, y0 - y1);
    }}
    if (run.oom_killed && t.length) {{
      const x = u.valToPos(t[t.length - 1], 'x', true);
      ctx.strokeStyle = '#c0262d'; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = '#c0262d'; ctx.font = 'bold 13px system-ui';
      ctx.fillText('OOM kill', x - 70, u.bbox.top + 16);
    }}
    ctx.restore();
  }};
  const series = [{{ label: 's' }},
    {{ label: 'working set', stroke: '#2463eb', width: 2, fill: 'rgba(36,99,235,0.08)' }},
    {{ label: 'usage (with cache)', stroke: '#8a93a3', dash: [4, 4] }},
    {{ label: 'tree RSS', stroke: '#9b59b6' }},
    {{ label: 'tree PSS', stroke: '#16a085' }}];
  const data = [t, mib('working_set_bytes'), mib('usage_bytes'), mib('tree_rss_bytes'), mib('tree_pss_bytes')];
  if (limit) {{ series.push({{ label: 'limit', stroke: '#c0262d', width: 2 }}); data.push(t.map(() => limit / MiB)); }}
  const maxY = Math.max(limit ? limit / MiB * 1.05 : 0, ...data.slice(1).flat().filter(v => v != null)) || 1;
  new uPlot({{ title: 'Memory (MiB) over time (s)', width, height: 380, series, hooks: {{ drawClear: [drawBands] }},
    scales: {{ x: {{ time: false }}, y: {{ range: [0, maxY] }} }}, axes: [{{ label: 'seconds' }}, {{ label: 'MiB' }}] }},
    data, document.getElementById('memory'));
  if (run.samples.some(s => s.gpu_bytes != null)) {{
    new uPlot({{ title: 'GPU memory of the command (MiB)', width, height: 220,
      series: [{{ label: 's' }}, {{ label: 'GPU', stroke: '#e67e22', width: 2, fill: 'rgba(230,126,34,0.1)' }}],
      scales: {{ x: {{ time: false }} }} }}, [t, mib('gpu_bytes')], document.getElementById('gpu'));
  }}
  document.body.dataset.rendered = 'yes';
}})();
</script>
</body></html>
)html",
                     fmt::arg("title", escaped), fmt::arg("css", uplot_css()),
                     fmt::arg("js", uplot_js()), fmt::arg("data", data));
}

}  // namespace memopt::render
