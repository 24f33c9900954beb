// What averaging can and cannot buy at 10 boards, without the network: N trainers in one process,
// each on its shard, averaged by a chosen scheme, and the mean model's test accuracy per epoch.
// Written to find out whether the 10-board shortfall in bench/results/scaling.md was too few
// averages or something no averaging rate fixes (results: bench/results/averaging-sim.md).
//   node --import tsx bench/averaging-sim.ts --scheme=allreduce|pairwise|stale|none --every=K
//        [--delay=D] [--lr=0.05] [--momentum=0.9] [--boards=10] [--epochs=10]
// allreduce: every K rounds all boards take the exact mean (the best any averaging can do);
// pairwise: every K rounds random disjoint pairs average (gossip without latency);
// stale: as pairwise, but each side's delta is applied D rounds later (gossip with latency).
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Trainer } from '../src/net/train';
import { Mulberry32 } from '../src/util/rng';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const N = Number(args.boards ?? 10), E = Number(args.epochs ?? 10);
const lr = Number(args.lr ?? 0.05), momentum = Number(args.momentum ?? 0.9);
const scheme = args.scheme ?? 'allreduce';
if (!['allreduce', 'pairwise', 'stale', 'none'].includes(scheme)) throw new Error(`--scheme must be allreduce, pairwise, stale or none, got "${scheme}"`);
const every = Number(args.every ?? 1);
const delay = Number(args.delay ?? 0);
const queue: { at: number; i: number; d: Float32Array }[] = [];
function meanOf(ts: Trainer[]): Float32Array {
  const m = new Float32Array(ts[0].getParams().length);
  for (const t of ts) {
    const p = t.getParams();
    for (let j = 0; j < m.length; j++) m[j] += p[j] / ts.length;
  }
  return m;
}

async function main() {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'avsim-'));
  const ts: Trainer[] = [];
  for (let i = 0; i < N; i++) ts.push(await Trainer.create({ epochs: E, batch: 64, lr, momentum, weightDecay: 1e-4, seed: 1, device: 'cpu', threads: 1, out, shard: { index: i, count: N } }));
  const rng = new Mulberry32(7);
  const steps = ts[0].batchesPerEpoch * E;
  const t0 = Date.now();
  for (let s = 0; s < steps; s++) {
    for (const t of ts) t.trainStep();
    if (N > 1 && (s + 1) % every === 0) {
      if (scheme === 'allreduce') {
        const m = meanOf(ts);
        for (const t of ts) t.setParams(m);
      } else if (scheme === 'stale') {
        // deltas from snapshots taken now, applied `delay` steps later, as the UDP exchange does
        const perm = ts.map((_, i) => i).sort(() => rng.next() - 0.5);
        for (let k = 0; k + 1 < perm.length; k += 2) {
          const pa = ts[perm[k]].getParams(), pb = ts[perm[k + 1]].getParams();
          const da = new Float32Array(pa.length), db = new Float32Array(pa.length);
          for (let j = 0; j < pa.length; j++) { da[j] = 0.5 * (pb[j] - pa[j]); db[j] = -da[j]; }
          queue.push({ at: s + delay, i: perm[k], d: da }, { at: s + delay, i: perm[k + 1], d: db });
        }
      } else if (scheme === 'pairwise') {
        const perm = ts.map((_, i) => i).sort(() => rng.next() - 0.5);
        for (let k = 0; k + 1 < perm.length; k += 2) {
          const a = ts[perm[k]], b = ts[perm[k + 1]];
          const pa = a.getParams(), pb = b.getParams();
          for (let j = 0; j < pa.length; j++) { const v = (pa[j] + pb[j]) / 2; pa[j] = v; pb[j] = v; }
          a.setParams(pa); b.setParams(pb);
        }
      }
    }
    for (let q = queue.findIndex((e) => e.at <= s); q >= 0; q = queue.findIndex((e) => e.at <= s)) {
      const e = queue.splice(q, 1)[0];
      const p = ts[e.i].getParams();
      for (let j = 0; j < p.length; j++) p[j] += e.d[j];
      ts[e.i].setParams(p);
    }
    if ((s + 1) % ts[0].batchesPerEpoch === 0) {
      const acc = ts[0].evaluate(meanOf(ts)).accuracy;
      console.log(`epoch ${(s + 1) / ts[0].batchesPerEpoch} consensus ${(acc * 100).toFixed(2)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
