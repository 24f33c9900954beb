// The training report: report.json (everything the run measured, for scripts) and report.html
// (one self-contained file, inline SVG, no script and no network, so it opens from a USB stick
// copied off a Pi as well as from the run folder).
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface BoardSample {
  /** Seconds since the run started. */
  t: number;
  epoch: number;
  loss: number;
  imagesPerSecond: number;
}

export interface EvalPoint {
  t: number;
  /** Epochs completed when the model was evaluated. */
  epoch: number;
  testAccuracy: number;
  testLoss?: number;
}

export interface GossipPoint {
  t: number;
  bytesSent: number;
  bytesReceived: number;
  averages: number;
  peers: number;
  /** Exchanges held back by the CPU budget, and let through past it as overdue (see budgetNote). */
  budgetHeld?: number;
  overdue?: number;
  /** Gossip-thread CPU ms spent on datagrams refused before they authenticated (outside the budget). */
  rejectedCpuMs?: number;
}

export interface BoardReport {
  board: number;
  shard: string;
  status: 'done' | 'stopped' | 'died' | 'starting' | 'training';
  device?: string;
  profile?: string;
  engine?: string;
  reason?: string;
  pid?: number;
  exit?: string;
  samples: BoardSample[];
  evals: EvalPoint[];
  gossip: GossipPoint[];
  imagesPerSecond?: number;
  testAccuracy?: number;
  checkpoint?: string;
}

export interface RunReport {
  id: string;
  startedAt: string;
  wallSeconds: number;
  settings: Record<string, unknown>;
  boards: BoardReport[];
  consensus: { method: string; evals: EvalPoint[]; testAccuracy?: number; testLoss?: number };
  summary: Record<string, unknown>;
}

export function writeReport(dir: string, r: RunReport): { json: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'report.json');
  const html = path.join(dir, 'report.html');
  fs.writeFileSync(json, JSON.stringify(r, null, 1) + '\n');
  fs.writeFileSync(html, renderReportHtml(r));
  return { json, html };
}

// ---- HTML -----------------------------------------------------------------------------------

const PALETTE = ['#1f77b4', '#d95f02', '#1b9e77', '#7570b3', '#e7298a', '#66a61e', '#a6761d', '#e6ab02', '#666666', '#17becf'];
const CONSENSUS = '#111111';

function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** About n round-numbered ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(4)}`;
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  width?: number;
  dashed?: boolean;
}

export function lineChart(id: string, title: string, xLabel: string, yLabel: string, series: Series[], yRange?: [number, number]): string {
  const W = 720, H = 300, ml = 64, mr = 150, mt = 34, mb = 44;
  const pw = W - ml - mr, ph = H - mt - mb;
  const pts = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  let x0 = 0, x1 = Math.max(1e-9, ...pts.map((p) => p[0]));
  let y0 = yRange ? yRange[0] : Math.min(...pts.map((p) => p[1]));
  let y1 = yRange ? yRange[1] : Math.max(...pts.map((p) => p[1]));
  if (!pts.length) { x1 = 1; y0 = 0; y1 = 1; }
  if (!yRange) {
    if (y0 > 0 && y0 < (y1 - y0) * 0.5) y0 = 0;
    if (y1 === y0) { y1 = y0 + 1; }
    const pad = (y1 - y0) * 0.05;
    y1 += pad;
    if (y0 !== 0) y0 -= pad;
  }
  const sx = (x: number) => ml + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => mt + ph - ((y - y0) / (y1 - y0)) * ph;
  const o: string[] = [];
  o.push(`<svg class="chart" data-chart="${esc(id)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">`);
  o.push(`<text x="${ml}" y="20" class="title">${esc(title)}</text>`);
  for (const t of niceTicks(y0, y1)) {
    if (t < y0 || t > y1) continue;
    o.push(`<line class="grid" x1="${ml}" x2="${ml + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}"/>`);
    o.push(`<text class="tick" x="${ml - 6}" y="${(sy(t) + 4).toFixed(1)}" text-anchor="end">${fmtTick(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 6)) {
    if (t > x1) continue;
    o.push(`<line class="axis" x1="${sx(t).toFixed(1)}" x2="${sx(t).toFixed(1)}" y1="${mt + ph}" y2="${mt + ph + 4}"/>`);
    o.push(`<text class="tick" x="${sx(t).toFixed(1)}" y="${mt + ph + 17}" text-anchor="middle">${fmtTick(t)}</text>`);
  }
  o.push(`<line class="axis" x1="${ml}" x2="${ml + pw}" y1="${mt + ph}" y2="${mt + ph}"/>`);
  o.push(`<line class="axis" x1="${ml}" x2="${ml}" y1="${mt}" y2="${mt + ph}"/>`);
  o.push(`<text class="label" x="${ml + pw / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>`);
  o.push(`<text class="label" transform="translate(14 ${mt + ph / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  series.forEach((s, i) => {
    const good = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    const attrs = `stroke="${s.color}" stroke-width="${s.width ?? 1.6}"${s.dashed ? ' stroke-dasharray="5 4"' : ''}`;
    if (good.length === 1) {
      const [x, y] = good[0];
      o.push(`<circle data-series="${esc(s.name)}" data-points="1" cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    } else if (good.length > 1) {
      const p = good.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(' ');
      o.push(`<polyline data-series="${esc(s.name)}" data-points="${good.length}" fill="none" ${attrs} points="${p}"/>`);
    }
    const ly = mt + 8 + i * 18;
    o.push(`<line x1="${ml + pw + 12}" x2="${ml + pw + 34}" y1="${ly}" y2="${ly}" ${attrs}/>`);
    o.push(`<text class="legend" x="${ml + pw + 40}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  if (!pts.length) o.push(`<text class="tick" x="${ml + pw / 2}" y="${mt + ph / 2}" text-anchor="middle">no data</text>`);
  o.push('</svg>');
  return o.join('\n');
}

/** Each point's y replaced by the mean of the points in the `window` seconds up to it: a board's
 * rate over one second swings with where its batches fall, and the swings hide the trend. */
export function smooth(points: [number, number][], window: number): [number, number][] {
  return points.map(([t], i) => {
    let sum = 0, n = 0;
    for (let j = i; j >= 0 && points[j][0] > t - window; j--) {
      sum += points[j][1];
      n++;
    }
    return [t, sum / n];
  });
}

function pct(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? `${(v * 100).toFixed(2)}%` : '–';
}

function num(v: unknown, digits = 0): string {
  return typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–';
}

function bytes(v: number | undefined): string {
  if (v === undefined) return '–';
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)} MB`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} kB`;
  return `${v} B`;
}

export function renderReportHtml(r: RunReport): string {
  const color = (b: BoardReport) => PALETTE[b.board % PALETTE.length];
  const bname = (b: BoardReport) => `board ${b.board}${b.device ? ` (${b.device})` : ''}`;
  const acc: Series[] = r.boards.map((b) => ({ name: bname(b), color: color(b), points: b.evals.map((e) => [e.t, e.testAccuracy * 100]) }));
  if (r.consensus.evals.length) {
    acc.push({ name: 'consensus', color: CONSENSUS, width: 2.6, points: r.consensus.evals.map((e) => [e.t, e.testAccuracy * 100]) });
  }
  const accVals = acc.flatMap((s) => s.points.map((p) => p[1]));
  const accLo = accVals.length ? Math.max(0, Math.floor(Math.min(...accVals) / 5) * 5) : 0;
  const charts = [
    lineChart('accuracy', 'Test accuracy', 'seconds since start', 'accuracy (%)', acc, [accLo, 100]),
    lineChart('loss', 'Training loss (mean cross-entropy of a batch)', 'seconds since start', 'loss',
      r.boards.map((b) => ({ name: bname(b), color: color(b), points: b.samples.map((s) => [s.t, s.loss]) }))),
    lineChart('throughput', 'Training throughput per board (mean over the last 10 s)', 'seconds since start', 'images / s',
      r.boards.map((b) => ({ name: bname(b), color: color(b), points: smooth(b.samples.map((s) => [s.t, s.imagesPerSecond]), 10) }))),
    lineChart('bytes', 'Gossip bytes sent (cumulative)', 'seconds since start', 'bytes',
      r.boards.map((b) => ({ name: bname(b), color: color(b), points: b.gossip.map((g) => [g.t, g.bytesSent]) }))),
    lineChart('averages', 'Averages done (cumulative)', 'seconds since start', 'averages',
      r.boards.map((b) => ({ name: bname(b), color: color(b), points: b.gossip.map((g) => [g.t, g.averages]) }))),
  ];
  const rows = r.boards.map((b) => {
    const g = b.gossip[b.gossip.length - 1];
    return `<tr><td><span class="sw" style="background:${color(b)}"></span>${b.board}</td><td>${esc(b.shard)}</td><td>${esc(b.status)}${b.exit ? ` <small>${esc(b.exit)}</small>` : ''}</td>` +
      `<td>${esc(b.device ?? '–')}${b.profile ? ' ' + esc(b.profile) : ''}</td><td>${esc(b.engine ?? '')}</td><td class="n">${num(b.imagesPerSecond, 1)}</td>` +
      `<td class="n">${pct(b.testAccuracy)}</td><td class="n">${bytes(g?.bytesSent)}</td><td class="n">${g ? g.averages : '–'}</td>` +
      `<td class="n">${g ? `${g.budgetHeld ?? 0}${g.overdue ? ` (${g.overdue} overdue)` : ''}` : '–'}</td>` +
      `<td class="n">${g?.rejectedCpuMs !== undefined ? `${(g.rejectedCpuMs / 1000).toFixed(1)} s` : '–'}</td></tr>`;
  });
  const settings = Object.entries(r.settings)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'object' ? JSON.stringify(v) : v)}</td></tr>`)
    .join('\n');
  const s = r.summary;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>vctrain run ${esc(r.id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;max-width:980px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.big{display:flex;gap:28px;flex-wrap:wrap;margin:14px 0}.big div{min-width:120px}.big b{display:block;font-size:24px}
.big span{color:#666;font-size:12px}
table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}.sw{display:inline-block;width:10px;height:10px;margin-right:6px}
svg.chart{display:block;margin:10px 0 18px;max-width:100%;height:auto}
svg .title{font-size:14px;font-weight:600}svg .tick,svg .legend{font-size:11px;fill:#444}svg .label{font-size:12px;fill:#333}
svg .grid{stroke:#e8e8e8}svg .axis{stroke:#888}
small{color:#777}
</style></head><body>
<h1>vctrain run ${esc(r.id)}</h1>
<div>started ${esc(r.startedAt)}, ${r.boards.length} board${r.boards.length === 1 ? '' : 's'}, ${num(r.wallSeconds, 1)} s</div>
<div class="big">
<div><b>${pct(r.consensus.testAccuracy)}</b><span>consensus test accuracy</span></div>
<div><b>${num(s.imagesPerSecond, 0)}</b><span>images/s, all boards</span></div>
<div><b>${esc(s.epochs ?? '–')}</b><span>epochs</span></div>
<div><b>${esc(s.device ?? '–')}</b><span>device</span></div>
</div>
<p><small>Consensus model: ${esc(r.consensus.method)}</small></p>
${charts.join('\n')}
<h2>Boards</h2>
<table><tr><th>board</th><th>shard</th><th>status</th><th>device</th><th>engine</th><th>images/s</th><th>test accuracy</th><th>bytes sent</th><th>averages</th><th>held by the CPU budget</th><th title="gossip CPU spent refusing datagrams that did not authenticate: kept out of the budget and the share">CPU on refused datagrams</th></tr>
${rows.join('\n')}
</table>
<h2>Settings</h2>
<table>${settings}</table>
</body></html>
`;
}
