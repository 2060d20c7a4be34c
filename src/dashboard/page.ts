/**
 * The dashboard page: one HTML document with its CSS and script inline, so it works offline and behind
 * any firewall: no CDN, no web fonts; the only request it makes is its event stream, to the same origin.
 */

const STYLE = `
:root { --bg: #f5f6f8; --card: #fff; --fg: #1b2230; --muted: #667085; --grid: #e3e6eb; --warn: #b42318;
  --ok: #067647; --border: #dde1e7; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #11151c; --card: #181d26; --fg: #e6e9ef; --muted: #98a2b3; --grid: #2a313d; --warn: #f97066;
    --ok: #47cd89; --border: #2a313d; }
}
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  background: var(--bg); color: var(--fg); display: flex; flex-direction: column; }
header { display: flex; align-items: baseline; gap: 14px; padding: 10px 16px; border-bottom: 1px solid var(--border);
  background: var(--card); }
header h1 { font-size: 16px; margin: 0; }
header .meta { color: var(--muted); }
#status::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  background: var(--muted); margin-right: 6px; }
#status.live::before { background: var(--ok); }
#status.down::before { background: var(--warn); }
.layout { flex: 1; min-height: 0; display: grid; grid-template-columns: minmax(0, 1fr) 380px; }
main { overflow: auto; padding: 4px 16px 16px; }
aside { overflow: auto; border-left: 1px solid var(--border); background: var(--card); padding: 0 14px 14px; }
h2 { font-size: 14px; margin: 14px 0 8px; }
h2 .kind { color: var(--muted); font-weight: 500; margin-right: 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
figure { margin: 0; background: var(--card); border: 1px solid var(--border); border-radius: 8px; padding: 8px 10px 6px; }
figcaption { font-weight: 600; }
.legend { list-style: none; margin: 4px 0 2px; padding: 0; display: flex; flex-wrap: wrap; gap: 2px 14px; }
.legend li { white-space: nowrap; color: var(--muted); }
.swatch { display: inline-block; width: 12px; height: 3px; border-radius: 2px; vertical-align: middle; margin-right: 5px; }
.value { color: var(--fg); font-weight: 600; font-variant-numeric: tabular-nums; margin-left: 4px; }
canvas { display: block; width: 100%; height: 140px; }
aside h2 { position: sticky; top: 0; background: var(--card); padding: 14px 0 8px; margin: 0; }
#feed { list-style: none; margin: 0; padding: 0; }
#feed li { padding: 6px 0; border-bottom: 1px solid var(--grid); }
#feed .time { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: 6px; }
#feed .who { font-weight: 600; }
#feed .text { display: block; overflow-wrap: anywhere; }
#feed li.warn .text { color: var(--warn); }
.empty { color: var(--muted); padding: 12px 0; }
@media (max-width: 900px) {
  .layout { display: block; }
  aside { border-left: 0; border-top: 1px solid var(--border); }
}
`;

// Charts are drawn by the small canvas renderer below rather than a charting library: the page must work
// offline with no CDN, and a line chart over a few hundred points per line needs little more than this.
const SCRIPT = `
'use strict';
const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
const token = new URLSearchParams(location.search).get('token');
const query = token ? '?token=' + encodeURIComponent(token) : '';
const COLORS = ['#2e90fa', '#f79009', '#12b76a', '#ee46bc', '#7a5af8', '#f04438', '#06aed4', '#854a0e'];
const $ = (id) => document.getElementById(id);
let state = null;
let offset = 0; // wall-clock ms minus the server clock's ms
let charts = [];
let drawing = false;

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fixed(v, digits) {
  return Number(v.toFixed(digits)).toString();
}

function format(chart, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  switch (chart.format) {
    case 'seconds':
      return Math.abs(v) < 1 ? fixed(v * 1000, v * 1000 < 10 ? 1 : 0) + ' ms' : fixed(v, 2) + ' s';
    case 'ratio':
      return fixed(v * 100, Math.abs(v) < 0.1 ? 1 : 0) + '%';
    case 'rate':
      return (Math.abs(v) >= 100 ? fixed(v, 0) : fixed(v, 1)) + '/s';
    case 'state':
      return (chart.states && chart.states[Math.round(v)]) || fixed(v, 0);
    default:
      return Math.abs(v) >= 10000 ? fixed(v / 1000, 1) + 'k' : Number.isInteger(v) ? String(v) : fixed(v, 1);
  }
}

function clockTime(t) {
  return new Date(t + offset).toLocaleTimeString([], { hour12: false });
}

function last(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

function load(s) {
  state = s;
  offset = Date.now() - s.now;
  $('title').textContent = s.title;
  $('window').textContent = 'a sample every ' + format({ format: 'seconds' }, s.sampleEvery / 1000) +
    ', the last ' + Math.round((s.history * s.sampleEvery) / 60000) + ' min kept';
  const main = $('groups');
  main.replaceChildren();
  charts = [];
  if (s.groups.length === 0) main.append(el('p', 'empty', 'Nothing tracked yet.'));
  for (const group of s.groups) {
    const h = el('h2');
    h.append(el('span', 'kind', group.kind), document.createTextNode(group.name));
    const grid = el('div', 'charts');
    for (const spec of group.charts) {
      const fig = el('figure');
      fig.dataset.chart = spec.id;
      const legend = el('ul', 'legend');
      const lines = spec.lines.map((line, i) => {
        const li = el('li');
        const swatch = el('span', 'swatch');
        swatch.style.background = COLORS[i % COLORS.length];
        const value = el('span', 'value');
        value.dataset.line = line.id;
        li.append(swatch, document.createTextNode(line.label), value);
        legend.append(li);
        return { id: line.id, values: line.values.slice(), color: COLORS[i % COLORS.length], value };
      });
      const canvas = el('canvas');
      fig.append(el('figcaption', '', spec.title), legend, canvas);
      grid.append(fig);
      charts.push({ spec, lines, canvas });
    }
    main.append(h, grid);
  }
  $('feed').replaceChildren();
  $('feed-empty').hidden = false;
  for (const item of s.feed) addFeed(item);
  refresh();
}

function addSample(sample) {
  if (state === null) return;
  state.times.push(sample.t);
  const over = state.times.length - state.history;
  if (over > 0) state.times.splice(0, over);
  for (const chart of charts) {
    for (const line of chart.lines) {
      const v = sample.values[line.id];
      line.values.push(v === undefined ? null : v);
      if (over > 0) line.values.splice(0, over);
    }
  }
  $('updated').textContent = 'updated ' + clockTime(sample.t);
  refresh();
}

function addFeed(item) {
  const feed = $('feed');
  $('feed-empty').hidden = true;
  const li = el('li', item.level === 'warn' ? 'warn' : '');
  li.dataset.seq = String(item.seq);
  li.append(el('span', 'time', clockTime(item.at)), el('span', 'who', item.kind + ' ' + item.name),
    el('span', 'text', item.text));
  feed.prepend(li);
  while (feed.children.length > 200) feed.lastElementChild.remove();
}

function refresh() {
  for (const chart of charts) {
    for (const line of chart.lines) line.value.textContent = format(chart.spec, last(line.values));
  }
  if (!drawing) {
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      for (const chart of charts) draw(chart);
    });
  }
}

function niceStep(span) {
  const raw = span / 4;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function draw(chart) {
  const { spec, lines, canvas } = chart;
  const css = getComputedStyle(document.documentElement);
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth;
  const h = canvas.clientHeight;
  if (w === 0 || h === 0) return;
  if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
    canvas.width = Math.round(w * ratio);
    canvas.height = Math.round(h * ratio);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.font = '11px system-ui, sans-serif';
  const times = state.times;
  let lo = Infinity;
  let hi = -Infinity;
  for (const line of lines) for (const v of line.values) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const empty = lo === Infinity;
  if (spec.range) { lo = Math.min(lo, spec.range[0]); hi = Math.max(hi, spec.range[1]); }
  if (spec.format !== 'state') lo = Math.min(lo, 0);
  if (empty && !spec.range) { lo = 0; hi = 1; }
  if (hi - lo < 1e-9) hi = lo + (spec.format === 'ratio' ? 0.1 : spec.format === 'seconds' ? 0.001 : 1);
  let ticks = [];
  if (spec.format === 'state') {
    for (let i = Math.ceil(lo); i <= hi; i++) ticks.push(i);
  } else {
    const step = niceStep(hi - lo);
    hi = Math.ceil(hi / step - 1e-9) * step;
    lo = Math.floor(lo / step + 1e-9) * step;
    for (let v = lo; v <= hi + step / 2; v += step) ticks.push(v);
  }
  const labels = ticks.map((v) => format(spec, v));
  const left = Math.ceil(Math.max(...labels.map((l) => ctx.measureText(l).width))) + 8;
  const top = 6;
  const bottom = h - 16;
  const right = w - 6;
  const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  ctx.strokeStyle = css.getPropertyValue('--grid');
  ctx.fillStyle = css.getPropertyValue('--muted');
  ctx.lineWidth = 1;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ticks.forEach((v, i) => {
    const py = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, py); ctx.lineTo(right, py); ctx.stroke();
    ctx.fillText(labels[i], left - 5, py);
  });
  // The x axis ends at the latest sample and spans the samples held (at least a minute's worth of samples).
  const end = times.length > 0 ? times[times.length - 1] : 0;
  const held = times.length > 0 ? end - times[0] : 0;
  const span = Math.min(state.history * state.sampleEvery, Math.max(60 * state.sampleEvery, held));
  const x = (t) => right - ((end - t) / span) * (right - left);
  ctx.textBaseline = 'alphabetic';
  ctx.textAlign = 'left';
  ctx.fillText(span < 120000 ? '-' + Math.round(span / 1000) + ' s' : '-' + Math.round(span / 60000) + ' min', left, h - 3);
  ctx.textAlign = 'right';
  ctx.fillText('now', right, h - 3);
  if (empty) {
    ctx.textAlign = 'center';
    ctx.fillText('waiting for data', (left + right) / 2, (top + bottom) / 2);
  }
  let points = 0;
  ctx.lineWidth = 1.6;
  ctx.lineJoin = 'round';
  for (const line of lines) {
    ctx.strokeStyle = line.color;
    ctx.beginPath();
    let open = false;
    let prevY = 0;
    line.values.forEach((v, i) => {
      if (v === null) { open = false; return; }
      const px = x(times[i]);
      const py = y(v);
      if (!open) ctx.moveTo(px, py);
      else if (spec.step) { ctx.lineTo(px, prevY); ctx.lineTo(px, py); }
      else ctx.lineTo(px, py);
      open = true;
      prevY = py;
      points++;
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(points);
}

function status(text, cls) {
  const s = $('status');
  s.textContent = text;
  s.className = cls;
}

function connect() {
  const source = new EventSource(base + 'events' + query);
  source.addEventListener('state', (e) => load(JSON.parse(e.data)));
  source.addEventListener('sample', (e) => addSample(JSON.parse(e.data)));
  source.addEventListener('feed', (e) => addFeed(JSON.parse(e.data)));
  source.onopen = () => status('live', 'live');
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) status('disconnected: reload the page', 'down');
    else status('reconnecting…', 'down');
  };
}

addEventListener('resize', () => refresh());
connect();
`;

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The page, its script allowed by `nonce` (see `contentSecurityPolicy`). */
export function renderPage(title: string, nonce: string): string {
  const t = escapeHtml(title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${t}</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1 id="title">${t}</h1>
<span id="status">connecting…</span>
<span class="meta" id="window"></span>
<span class="meta" id="updated"></span>
</header>
<div class="layout">
<main id="groups"></main>
<aside>
<h2>Decisions</h2>
<p class="empty" id="feed-empty">No decisions yet.</p>
<ul id="feed"></ul>
</aside>
</div>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

/** Only the page's own script, styles and same-origin requests; no framing. */
export function contentSecurityPolicy(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
