#include "memopt/render/live_page.hpp"

#include <fmt/format.h>

#include <chrono>

#include "memopt/render/assets.hpp"

namespace memopt::render {

std::string render_history_json(const std::vector<analysis::HistoryPoint>& history) {
  std::string out = "[";
  for (std::size_t i = 0; i < history.size(); ++i) {
    const auto& p = history[i];
    const double t = std::chrono::duration<double>(p.at.time_since_epoch()).count();
    fmt::format_to(std::back_inserter(out),
                   "{}{{\"t\":{:.3f},\"used_bytes\":{},\"limit_bytes\":{},\"available_bytes\":{},"
                   "\"level\":\"{}\"}}",
                   i == 0 ? "" : ",", t, p.used_bytes, p.limit_bytes, p.available_bytes,
                   analysis::to_string(p.level));
  }
  out += "]";
  return out;
}

std::string render_live_page() {
  return fmt::format(R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memopt monitor</title>
<style>{css}</style>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fff; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }}
.card {{ border: 1px solid #dde2ea; border-radius: 8px; padding: 10px 14px; min-width: 150px; }}
.card b {{ display: block; font-size: 18px; }} .card span {{ color: #5a6475; font-size: 12px; }}
.level-normal b, .level-acceptable b {{ color: #1a7f37; }} .level-warning b {{ color: #b7791f; }}
.level-severe b, .level-danger b {{ color: #c0262d; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }} td, th {{ padding: 3px 10px; text-align: left; }}
th {{ color: #5a6475; font-weight: 600; border-bottom: 1px solid #dde2ea; }} td.n {{ text-align: right; }}
h2 {{ font-size: 15px; margin: 18px 0 4px; }} #error {{ color: #c0262d; }}
footer {{ color: #8a93a3; font-size: 12px; margin-top: 16px; }}
</style></head>
<body>
<h1>memopt monitor</h1>
<div id="error"></div>
<div class="cards">
  <div class="card" id="level-card"><span>level</span><b id="level">loading</b></div>
  <div class="card"><span>limit</span><b id="limit">-</b></div>
  <div class="card"><span>used</span><b id="used">-</b></div>
  <div class="card"><span>available</span><b id="available">-</b></div>
  <div class="card"><span>used of limit</span><b id="percent">-</b></div>
  <div class="card"><span>scope</span><b id="scope">-</b></div>
</div>
<div id="chart"></div>
<div id="gpus"></div>
<h2>Top processes (by PSS)</h2>
<table id="processes"><thead><tr><th>pid</th><th>name</th><th>PSS</th><th>RSS</th></tr></thead><tbody></tbody></table>
<h2>Recent events</h2>
<table id="events"><thead><tr><th>time</th><th>event</th><th>message</th></tr></thead><tbody></tbody></table>
<section id="postmortems-section" hidden>
<h2>Post-mortems (<a href="api/postmortems">api/postmortems</a>; each at api/postmortems/ID)</h2>
<table id="postmortems"><thead><tr><th>id</th><th>time</th><th>kind</th><th>summary</th></tr></thead><tbody></tbody></table>
</section>
<footer>Updated every 2 s from <a href="api/report">api/report</a> and <a href="api/history">api/history</a>;
<a href="metrics">metrics</a>. Bands: the configured acceptable, warning and severe thresholds; the red line: the danger mark (50 MiB available by default).
<span id="updated"></span></footer>
<script>{js}</script>
<script>
(function () {{
  const MiB = 1048576;
  const fmt = b => b == null ? 'unknown' : b >= 1024 * MiB ? (b / 1024 / MiB).toFixed(2) + ' GiB' : (b / MiB).toFixed(0) + ' MiB';
  const $ = id => document.getElementById(id);
  const setBytes = (id, b) => {{ $(id).textContent = fmt(b); $(id).dataset.bytes = b == null ? '' : String(b); }};
  let plot = null, limit = null, thresholds = null;
  const fillTable = (id, rows) => {{
    const body = $(id).tBodies[0]; body.textContent = '';
    for (const row of rows) {{
      const tr = body.insertRow();
      for (const [value, numeric] of row) {{ const td = tr.insertCell(); td.textContent = value; if (numeric) td.className = 'n'; }}
    }}
  }};
  const drawBands = u => {{
    if (!limit || !thresholds) return;
    const ctx = u.ctx, x0 = u.bbox.left, w = u.bbox.width, t = thresholds;
    // The danger mark caps every band: with a small limit it comes before the severe band.
    const danger = Math.max(0, limit - t.danger_available_bytes) / limit;
    ctx.save();
    for (const [lo, hi, color] of [[t.acceptable_percent / 100, t.warning_percent / 100, 'rgba(230,180,0,0.10)'],
                                   [t.warning_percent / 100, t.severe_percent / 100, 'rgba(240,120,0,0.13)'],
                                   [t.severe_percent / 100, 1.0, 'rgba(220,40,40,0.13)']]) {{
      const top = Math.min(hi, danger);
      if (top <= lo) continue;
      const y1 = u.valToPos(top * limit / MiB, 'y', true), y0 = u.valToPos(lo * limit / MiB, 'y', true);
      ctx.fillStyle = color; ctx.fillRect(x0, y1, w, y0 - y1);
    }}
    const yd = u.valToPos(danger * limit / MiB, 'y', true);
    ctx.strokeStyle = '#c0262d'; ctx.setLineDash([6, 4]); ctx.beginPath(); ctx.moveTo(x0, yd); ctx.lineTo(x0 + w, yd); ctx.stroke();
    ctx.fillStyle = '#c0262d'; ctx.fillText('danger', x0 + 4, yd - 4);
    ctx.restore();
  }};
  function showReport(r) {{
    const level = r.status.level;
    $('level').textContent = level; $('level').dataset.level = level;
    $('level-card').className = 'card level-' + level;
    thresholds = r.thresholds;
    const m = r.memory || {{}};  // null when the target's memory cannot be read: unknown
    setBytes('limit', m.limit_bytes); setBytes('used', m.used_bytes); setBytes('available', m.available_bytes);
    $('percent').textContent = m.used_percent == null ? 'unknown' : m.used_percent.toFixed(1) + ' %';
    $('scope').textContent = m.scope || ('unknown: ' + (r.target && r.target.unreadable || ''));
    limit = m.limit_bytes || null;
    fillTable('processes', r.processes.map(p => [[String(p.pid), true], [p.name], [fmt(p.pss_bytes), true], [fmt(p.rss_bytes), true]]));
    const g = $('gpus'); g.textContent = '';
    for (const gpu of r.gpus) {{
      const d = document.createElement('div'); d.className = 'card';
      d.innerHTML = '<span></span><b></b>';
      d.firstChild.textContent = 'GPU ' + gpu.index + ' ' + gpu.name;
      d.lastChild.textContent = fmt(gpu.used_bytes) + ' of ' + fmt(gpu.total_bytes);
      g.appendChild(d);
    }}
  }}
  function showHistory(h) {{
    const hour = Date.now() / 1000 - 3600;
    h = h.filter(p => p.t >= hour);
    const data = [h.map(p => p.t), h.map(p => p.used_bytes / MiB), h.map(p => p.limit_bytes / MiB)];
    if (!plot) {{
      plot = new uPlot({{ title: 'Memory (MiB), last hour', width: Math.min(1100, window.innerWidth - 60), height: 340,
        series: [{{}}, {{ label: 'used', stroke: '#2463eb', width: 2, fill: 'rgba(36,99,235,0.08)' }},
                 {{ label: 'limit', stroke: '#c0262d', width: 2 }}],
        scales: {{ y: {{ range: (u, lo, hi) => [0, Math.max(hi, limit ? limit / MiB : 0) * 1.05 || 1] }} }},
        hooks: {{ drawClear: [drawBands] }}, axes: [{{}}, {{ label: 'MiB' }}] }}, data, $('chart'));
    }} else {{
      plot.setData(data);
    }}
  }}
  function showEvents(ev) {{
    fillTable('events', ev.slice(-20).reverse().map(e => [[e.timestamp || ''], [e.event || e.name || ''], [e.message || '']]));
  }}
  async function poll() {{
    try {{
      const [r, h, e] = await Promise.all(['api/report', 'api/history', 'api/events'].map(u => fetch(u, {{ cache: 'no-store' }}).then(x => {{
        if (!x.ok) throw new Error(u + ': HTTP ' + x.status); return x.json(); }})));
      showReport(r); showHistory(h); showEvents(e);
      // Only `monitor --record` keeps post-mortems; without it the list is 404 and hidden.
      const pm = await fetch('api/postmortems', {{ cache: 'no-store' }}).then(x => x.ok ? x.json() : null, () => null);
      $('postmortems-section').hidden = !pm;
      if (pm) fillTable('postmortems', pm.slice().reverse().map(p => [[String(p.id), true], [String(p.at || '')], [p.kind || ''], [p.summary || '']]));
      $('error').textContent = ''; $('updated').textContent = 'Last sample ' + r.timestamp + '.';
      document.body.dataset.rendered = 'yes';
    }} catch (err) {{
      $('error').textContent = 'Cannot reach memopt: ' + err.message;
    }}
  }}
  poll(); setInterval(poll, 2000);
}})();
</script>
</body></html>
)html",
                     fmt::arg("css", uplot_css()), fmt::arg("js", uplot_js()));
}

}  // namespace memopt::render
