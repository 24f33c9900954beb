// What the averaging guards see on real training (issue 12, M4): runs the default job (or the
// `vctrain train` flags after --) and reads every average's distance from the boards' blend events:
// relDistance (|peer - own| over the larger norm, guard maxRelDistance), ownDistance (over our own
// norm), step (weight x ownDistance, guard maxStep: how far the average moved the board) and the
// norm ratio (guard maxNormRatio). The guards must sit well above the largest honest values.
//
//   node --import tsx bench/guard-distance.ts [--results bench/results] [-- TRAIN FLAGS]
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PRESETS } from '../src/sync/config';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash >= 0 ? argv.slice(0, dash) : argv;
const trainFlags = dash >= 0 ? argv.slice(dash + 1) : [];
const ri = own.indexOf('--results');
const RESULTS = ri >= 0 ? own[ri + 1] : path.join(__dirname, 'results');

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-guard-'));
const load0 = os.loadavg();
const t0 = Date.now();
const r = spawnSync(process.execPath, [path.join(__dirname, '..', 'bin', 'vctrain.cjs'), 'train', '--out', out, '--json', ...trainFlags], { encoding: 'utf8', maxBuffer: 1 << 28 });
if (r.status !== 0) throw new Error(`vctrain train exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
const wall = (Date.now() - t0) / 1000;
const load1 = os.loadavg();

interface Blend { weight: number; relDistance: number; ownDistance: number; normRatio: number; time: number }
const blends: Blend[] = [];
for (const d of fs.readdirSync(out).filter((d) => /^board-\d+$/.test(d))) {
  for (const l of fs.readFileSync(path.join(out, d, 'board.log.jsonl'), 'utf8').split('\n')) {
    if (!l) continue;
    const e = JSON.parse(l);
    if (e.event === 'blend' && e.kind === 'average' && e.ownDistance !== undefined) blends.push(e);
  }
}
fs.rmSync(out, { recursive: true, force: true });
if (!blends.length) throw new Error('no averages with distances in the boards\' logs');

const stats = (name: string, v: number[], guard: number | string) => {
  const s = [...v].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `| ${name} | ${q(0.5).toFixed(4)} | ${q(0.99).toFixed(4)} | ${s[s.length - 1].toFixed(4)} | ${guard} |`;
};
const P = PRESETS.local;
const text = [
  '# What the averaging guards see on real training',
  '',
  `Command: \`node --import tsx bench/guard-distance.ts${trainFlags.length ? ` -- ${trainFlags.join(' ')}` : ''}\` (runs \`vctrain train --json${trainFlags.length ? ' ' + trainFlags.join(' ') : ''}\`),`,
  `${new Date().toISOString()}, load average ${load0.map((x) => x.toFixed(1)).join(' ')} at the start, ${load1.map((x) => x.toFixed(1)).join(' ')} at the end, ${os.cpus().length} CPUs.`,
  `Consensus ${(summary.testAccuracy * 100).toFixed(2)}%, ${summary.workers} boards, ${summary.epochs} epochs, ${wall.toFixed(0)} s; ${blends.length} averages (both sides of each exchange).`,
  '',
  '| per average | median | p99 | max | guard |',
  '|---|---|---|---|---|',
  stats('relDistance: \\|peer - own\\| / larger norm', blends.map((b) => b.relDistance), `maxRelDistance ${P.maxRelDistance}`),
  stats('ownDistance: \\|peer - own\\| / own norm', blends.map((b) => b.ownDistance), ''),
  stats('step: weight x ownDistance', blends.map((b) => b.weight * b.ownDistance), `maxStep ${P.maxStep}`),
  stats('norm ratio', blends.map((b) => b.normRatio), `maxNormRatio ${P.maxNormRatio}`),
  stats('weight', blends.map((b) => b.weight), `maxWeight ${P.maxWeight}`),
  '',
].join('\n');
process.stdout.write(text);
fs.mkdirSync(RESULTS, { recursive: true });
fs.writeFileSync(path.join(RESULTS, 'guard-distance.md'), text);
