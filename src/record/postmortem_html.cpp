#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "memopt/record/postmortem.hpp"
#include "memopt/render/assets.hpp"

namespace memopt::record {

namespace {

std::string escape_html(std::string_view text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::string render_postmortem_html(const std::string& json) {
  // The page reads the document; "</" is escaped so no value can close the script element.
  std::string data = json;
  for (std::size_t pos = 0; (pos = data.find("</", pos)) != std::string::npos; pos += 3) {
    data.replace(pos, 2, "<\\/");
  }
  const auto doc = nlohmann::json::parse(json);
  const std::string title = escape_html(doc.value("summary", std::string("post-mortem")));
  const std::string text = escape_html(render_postmortem_text(json));
  return fmt::format(
      R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>memopt post-mortem: {title}</title>
<style>{css}</style>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }}
.card {{ border: 1px solid #dde2ea; border-radius: 8px; padding: 10px 14px; min-width: 150px; }}
.card b {{ display: block; font-size: 18px; }} .card span {{ color: #5a6475; font-size: 12px; }}
.oom b {{ color: #c0262d; }}
pre {{ background: #f6f8fa; border: 1px solid #dde2ea; border-radius: 8px; padding: 12px; white-space: pre-wrap; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 16px; }}
footer {{ color: #8a93a3; font-size: 12px; margin-top: 16px; }}
</style></head>
<body>
<h1>memopt post-mortem: {title}</h1>
<div class="cards" id="cards"></div>
<div class="charts"><div id="memory"></div><div id="processes"></div></div>
<pre id="story">{text}</pre>
<footer>Made by memopt from its flight recorder. Time in seconds before the {what}.</footer>
<script>{js}</script>
<script id="postmortem" type="application/json">{data}</script>
<script>
(function () {{
  const pm = JSON.parse(document.getElementById('postmortem').textContent);
  const MiB = 1048576, kill = pm.kind === 'oom_kill';
  const fmt = b => b == null ? 'unknown' : b >= 1024 * MiB ? (b / 1024 / MiB).toFixed(2) + ' GiB' : (b / MiB).toFixed(0) + ' MiB';
  const victim = pm.victims.length ? pm.victims[pm.victims.length - 1] : null;
  const cards = [
    [kill ? 'OOM kill' : 'danger', pm.at, 'oom'],
    ['victim', victim ? victim.name + ' (pid ' + victim.pid + ')' : kill ? 'not in the kernel log' : 'none', victim ? 'oom' : ''],
    ['peak used', pm.peak ? fmt(pm.peak.used_bytes) : 'unknown'],
    ['limit', fmt(pm.limit_bytes)],
    ['limit that would have held', pm.prevention ? fmt(pm.prevention.limit_bytes) : 'unknown'],
  ];
  const box = document.getElementById('cards');
  for (const [label, value, cls] of cards) {{
    const d = document.createElement('div'); d.className = 'card ' + (cls || '');
    d.innerHTML = '<span></span><b></b>'; d.firstChild.textContent = label; d.lastChild.textContent = value;
    box.appendChild(d);
  }}
  const width = Math.min(1100, window.innerWidth - 60);
  const mark = u => {{
    const ctx = u.ctx, x = u.valToPos(0, 'x', true);
    ctx.save();
    ctx.strokeStyle = '#c0262d'; ctx.lineWidth = 2; ctx.setLineDash([6, 4]);
    ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
    ctx.setLineDash([]); ctx.fillStyle = '#c0262d'; ctx.font = 'bold 13px system-ui';
    ctx.fillText(kill ? 'OOM kill' : 'danger ends', x - 80, u.bbox.top + 16);
    ctx.restore();
    document.body.dataset.killMarked = 'yes';
  }};
  const obs = pm.observations;
  const t = obs.map(o => o.t);
  const mib = key => obs.map(o => o[key] == null ? null : o[key] / MiB);
  const series = [{{ label: 's' }},
    {{ label: 'used', stroke: '#2463eb', width: 2, fill: 'rgba(36,99,235,0.08)' }},
    {{ label: 'limit', stroke: '#c0262d', width: 2 }}];
  const data = [t, mib('used_bytes'), mib('limit_bytes')];
  const maxX = Math.max(0, ...t), minX = Math.min(0, ...t);
  new uPlot({{ title: 'Memory (MiB) before the ' + (kill ? 'OOM kill' : 'end of danger'), width, height: 360, series,
    hooks: {{ draw: [mark] }}, scales: {{ x: {{ time: false, range: [minX, maxX + 1] }}, y: {{ range: (u, lo, hi) => [0, (hi || 1) * 1.05] }} }},
    axes: [{{ label: 'seconds' }}, {{ label: 'MiB' }}] }}, data, document.getElementById('memory'));
  const procs = pm.processes.slice(0, 5);
  if (procs.length) {{
    const colors = ['#e67e22', '#16a085', '#9b59b6', '#2c3e50', '#7f8c8d'];
    const times = [...new Set(procs.flatMap(p => p.series.map(s => s.t)))].sort((a, b) => a - b);
    const pdata = [times];
    const pseries = [{{ label: 's' }}];
    procs.forEach((p, i) => {{
      const byT = new Map(p.series.map(s => [s.t, (s.pss_bytes == null ? s.rss_bytes : s.pss_bytes) / MiB]));
      pdata.push(times.map(x => byT.has(x) ? byT.get(x) : null));
      pseries.push({{ label: p.name + ' (' + p.pid + ')', stroke: colors[i], width: 2 }});
    }});
    new uPlot({{ title: 'Top processes (PSS, MiB)', width, height: 260, series: pseries,
      hooks: {{ draw: [mark] }}, scales: {{ x: {{ time: false, range: [minX, maxX + 1] }} }} }}, pdata, document.getElementById('processes'));
  }}
  document.body.dataset.rendered = 'yes';
}})();
</script>
</body></html>
)html",
      fmt::arg("title", title), fmt::arg("css", render::uplot_css()),
      fmt::arg("js", render::uplot_js()), fmt::arg("data", data), fmt::arg("text", text),
      fmt::arg("what", doc["kind"] == "oom_kill" ? "OOM kill" : "end of the episode"));
}

}  // namespace memopt::record
