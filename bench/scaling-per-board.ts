// Per-board figures from a bench/scaling.ts run's scaling.json: whether one board is out of line
// (the cluster's projection is their mean; the slowest board is what a synchronous cluster would wait for).
//
//   node --import tsx bench/scaling-per-board.ts <dir with scaling.json> [boards, default the largest]
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { EpochLine } from './scaling-board';
import { lanLinkSeconds, projectEpoch } from './board-time-pacer';

const dir = process.argv[2];
if (!dir) throw new Error('usage: scaling-per-board.ts <dir with scaling.json> [boards]');
const j = JSON.parse(fs.readFileSync(path.join(dir, 'scaling.json'), 'utf8')) as { raw: { boards: number; lines: EpochLine[] }[] };
const want = process.argv[3] ? Number(process.argv[3]) : Math.max(...j.raw.map((r) => r.boards));
const run = j.raw.find((r) => r.boards === want);
if (!run) throw new Error(`no ${want}-board run in ${dir}`);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const s = (ms: number) => (ms / 1000).toFixed(2);
const out = [
  `Per board (${want} boards), averaged over its epochs:`,
  '',
  '| board | averages / epoch | started / epoch | compute (s) | gossip (s) | CPU (s) | link (s) | projected (s) | link-bound epochs | dilation | eval CPU (s) |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];
for (let b = 0; b < want; b++) {
  const L = run.lines.filter((l) => l.board === b);
  const p = L.map((l) => projectEpoch(l.computeCpuMs + l.gossipMs, 1000 * lanLinkSeconds(l.bytesSent, l.bytesReceived)));
  out.push(
    `| ${b} | ${mean(L.map((l) => l.averages)).toFixed(1)} | ${mean(L.map((l) => l.started)).toFixed(1)} | ${s(mean(L.map((l) => l.computeCpuMs)))} | ${s(mean(L.map((l) => l.gossipMs)))} | ` +
      `${s(mean(p.map((q) => q.cpuMs)))} | ${s(mean(p.map((q) => q.linkMs)))} | ${s(mean(p.map((q) => q.epochMs)))} | ${p.filter((q) => q.bound === 'link').length}/${p.length} | ` +
      `${mean(L.map((l) => l.dilation)).toFixed(2)} | ${s(mean(L.map((l) => l.bookkeepingCpuMs)))} |`,
  );
}
const byEpoch = new Map<number, EpochLine[]>();
for (const l of run.lines) byEpoch.set(l.epoch, [...(byEpoch.get(l.epoch) ?? []), l]);
out.push('', 'Per epoch, averaged over boards:', '', '| epoch | averages / board | CPU (s) | link (s) | projected (s) | dilation | wall interval (ms) | budget share |', '|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const [e, L] of [...byEpoch.entries()].sort((a, b) => a[0] - b[0])) {
  const p = L.map((l) => projectEpoch(l.computeCpuMs + l.gossipMs, 1000 * lanLinkSeconds(l.bytesSent, l.bytesReceived)));
  out.push(
    `| ${e} | ${mean(L.map((l) => l.averages)).toFixed(1)} | ${s(mean(p.map((q) => q.cpuMs)))} | ${s(mean(p.map((q) => q.linkMs)))} | ${s(mean(p.map((q) => q.epochMs)))} | ` +
      `${mean(L.map((l) => l.dilation)).toFixed(2)} | ${mean(L.map((l) => l.wallIntervalMs)).toFixed(0)} | ${mean(L.map((l) => l.cpuShare)).toFixed(2)} |`,
  );
}
console.log(out.join('\n'));
