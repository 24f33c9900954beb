// What averaging can and cannot buy at 10 boards, without the network: N trainers in one process,
// each on its shard, averaged by a chosen scheme, and the mean model's test accuracy per epoch.
// Written to find out whether the 10-board shortfall in bench/results/scaling.md was too few
// averages or something no averaging rate fixes (results: bench/results/averaging-sim.md), then
// extended to measure the spread of that shortfall over seeds (bench/results/averaging-sim-seeds.md).
//   node --import tsx bench/averaging-sim.ts --scheme=allreduce|pairwise|stale|none --every=K
//        [--delay=D] [--lr=0.05] [--momentum=0.9] [--boards=10] [--epochs=10] [--seed=1]
//        [--lr-rule=fixed|sqrt|pow:P|capped:C] [--warmup-epochs=E] [--rate=R] [--group=G]
//        [--decay-epochs=D] [--batch=B]
// allreduce: every K rounds all boards take the exact mean (the best any averaging can do);
// pairwise: every K rounds random disjoint pairs average (gossip without latency);
// stale: as pairwise, but each side's delta is applied D rounds later (gossip with latency).
// --rate=R (pairwise): each step every board joins an average with probability R, and the boards
// drawn are split into random groups of G (default 2: pairs; the odd ones out sit the step out).
// The real UDP gossip is not lock-step: at an exchange every 60 ms a board makes 10-11.5 pairwise
// averages per 13-step epoch, about 0.8-0.85 a step, and --rate reproduces that count on average.
// --group=3 at half the rate is averaging with two peers at once for the same bytes per board.
// --lr-rule scales --lr for N boards as the product does ('sqrt' is boardLr in src/net/settings.ts),
// or by N^P ('pow:P') or by min(N, C) ('capped:C'); --warmup-epochs ramps linearly from --lr to it,
// as Trainer's `warmup` option does for the product. --decay-epochs=D lowers the rate linearly to 0
// over the last D epochs. --boards=1 with the same flags is the one-board reference: every rule
// gives one board its --lr, with no warm-up (the product's boardRate), but the decay still applies.
// --batch=B (default 64) is every trainer's batch, the one board's too when given with --boards=1
// (keep the one-board reference at 64 to compare with it): ten boards at batch 16 or 32 bring the
// global batch nearer one board's (160 or 320 images a step of the mean model, not 640) and give the
// mean model 4x or 2x the steps per epoch. An epoch then has more steps, so lower --rate to keep the
// averages per board-epoch (printed) near the real ~10.4: 0.26 at batch 16, 0.47 at batch 32 (not
// 0.21 and 0.42: at a low rate the odd board out of a draw is a large share). The warm-up and decay
// are in epochs, so they scale with it (results: bench/results/averaging-sim-batch.md).
import * as os from 'node:os';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Trainer, boardLr } from '../src/net/train';
import { Mulberry32, shuffle } from '../src/util/rng';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const N = Number(args.boards ?? 10), E = Number(args.epochs ?? 10);
const lr = Number(args.lr ?? 0.05), momentum = Number(args.momentum ?? 0.9);
const scheme = args.scheme ?? 'allreduce';
if (!['allreduce', 'pairwise', 'stale', 'none'].includes(scheme)) throw new Error(`--scheme must be allreduce, pairwise, stale or none, got "${scheme}"`);
const every = Number(args.every ?? 1);
if (!Number.isInteger(every) || every < 1) throw new Error(`--every must be a whole number of steps >= 1, got "${args.every}"`);
const delay = Number(args.delay ?? 0);
const seed = Number(args.seed ?? 1);
if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got "${args.seed}"`);
// Seed 1 gives 7, the pair stream's fixed seed before --seed existed: the earlier table reproduces.
const pairSeed = Math.imul(seed, 7) >>> 0;
const rate = Number(args.rate ?? 1), group = Number(args.group ?? 2);
if (!(rate > 0 && rate <= 1)) throw new Error(`--rate must be in (0, 1], got "${args.rate}"`);
if (!Number.isInteger(group) || group < 2) throw new Error(`--group must be a whole number >= 2, got "${args.group}"`);
if ((rate < 1 || group !== 2) && scheme !== 'pairwise') throw new Error('--rate and --group apply to --scheme=pairwise only');
const lrRule = args['lr-rule'] ?? 'fixed';
const warmupEpochs = Number(args['warmup-epochs'] ?? 0);
const decayEpochs = Number(args['decay-epochs'] ?? 0);
const batch = Number(args.batch ?? 64);
if (!Number.isInteger(batch) || batch < 1) throw new Error(`--batch must be a whole number of images >= 1, got "${args.batch}"`);
if (!(decayEpochs >= 0 && decayEpochs <= E)) throw new Error(`--decay-epochs must be in [0, ${E}], got "${args['decay-epochs']}"`);
function scaledLr(n: number): number {
  if (lrRule === 'fixed' || lrRule === 'sqrt') return boardLr(lr, lrRule, n);
  const [kind, v] = lrRule.split(':');
  if (kind === 'pow' && Number(v) >= 0) return lr * Math.pow(n, Number(v));
  if (kind === 'capped' && Number(v) >= 1) return lr * Math.min(n, Number(v));
  throw new Error(`--lr-rule must be fixed, sqrt, pow:P or capped:C, got "${lrRule}"`);
}
const boardRateNow = scaledLr(N);
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
  // The warm-up as boardRate() gives it: only when the rule raises the rate above --lr.
  const warmup = warmupEpochs > 0 && boardRateNow > lr ? { epochs: warmupEpochs, fromLr: lr } : undefined;
  for (let i = 0; i < N; i++) ts.push(await Trainer.create({ epochs: E, batch, lr: boardRateNow, warmup, momentum, weightDecay: 1e-4, seed, device: 'cpu', threads: 1, out, shard: { index: i, count: N } }));
  const rng = new Mulberry32(pairSeed);
  const steps = ts[0].batchesPerEpoch * E;
  const decaySteps = Math.round(decayEpochs * ts[0].batchesPerEpoch);
  let averages = 0;
  console.log(`boards ${N}, seed ${seed}, batch ${batch} (${ts[0].batchesPerEpoch} steps an epoch), lr ${boardRateNow.toFixed(4)} (${lrRule}${warmup ? `, warm-up ${warmupEpochs} epochs from ${lr}` : ''}${decaySteps ? `, decay to 0 over the last ${decayEpochs} epochs` : ''}), scheme ${scheme}${scheme !== 'none' ? ` every ${every}` : ''}${rate < 1 || group !== 2 ? ` rate ${rate} group ${group}` : ''}`);
  const t0 = Date.now();
  for (let s = 0; s < steps; s++) {
    // The decay has no Trainer option; the trainer reads options.lr afresh each step (lrNow), and
    // the warm-up is long over by the last epochs, so setting it here is the whole schedule.
    if (decaySteps > 0 && s >= steps - decaySteps) for (const t of ts) t.options.lr = (boardRateNow * (steps - s)) / decaySteps;
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
          averages += 2;
        }
      } else if (scheme === 'pairwise' && rate === 1 && group === 2) {
        // (the draws of the first table: kept so that its rows reproduce)
        const perm = ts.map((_, i) => i).sort(() => rng.next() - 0.5);
        for (let k = 0; k + 1 < perm.length; k += 2) {
          const a = ts[perm[k]], b = ts[perm[k + 1]];
          const pa = a.getParams(), pb = b.getParams();
          for (let j = 0; j < pa.length; j++) { const v = (pa[j] + pb[j]) / 2; pa[j] = v; pb[j] = v; }
          a.setParams(pa); b.setParams(pb);
          averages += 2;
        }
      } else if (scheme === 'pairwise') {
        const drawn = shuffle(ts.map((_, i) => i).filter(() => rng.next() < rate), () => rng.next());
        // groups of `group`; a short last group of two or more still averages (fewer peers that step)
        for (let k = 0; k + 1 < drawn.length; k += group) {
          const members = drawn.slice(k, k + group).map((i) => ts[i]);
          const m = meanOf(members);
          for (const t of members) t.setParams(m);
          averages += members.length;
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
      const perBoard = averages / N / ((s + 1) / ts[0].batchesPerEpoch);
      console.log(`epoch ${(s + 1) / ts[0].batchesPerEpoch} consensus ${(acc * 100).toFixed(2)}${N > 1 && scheme !== 'allreduce' ? ` (${perBoard.toFixed(1)} averages per board-epoch)` : ''} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    }
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
