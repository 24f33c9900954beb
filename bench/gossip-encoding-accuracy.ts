// Does the wire encoding cost accuracy? f32, f16 and q8 (blockwise 8-bit with error feedback,
// src/sync/q8.ts) compared on the same test images, three ways:
//   1. one exchange: two boards trained apart on the two halves of the training split, averaged
//      once; what board a holds (x_a + 0.5 (dec(enc(x_b)) - x_a)) in each encoding;
//   2. many exchanges, no training: the same two boards exchange `--rounds` times in a row, each
//      sending its snapshot through the encoding (q8: with and without error feedback); the mean of
//      the two, whose drift from the fp32 mean is the quantisation noise the exchanges added;
//   3. training with averaging: two boards train from the same initialisation on their halves and
//      average every `--every` steps through the encoding, as gossip does (an exchange moves both
//      to the blend of their snapshots); the consensus (mean of the two) at the end. With
//      `--lr3`, `--momentum3` and `--epochs3` this part can run as the 10-board scaling job's boards
//      do (lr 0.05 x sqrt(10) = 0.158, momentum 0.9, about one average per step).
// CPU engine, built-in digits, batch 64; parts 1 and 2 train at lr 0.05 without momentum.
//   node --import tsx bench/gossip-encoding-accuracy.ts [--epochs 1] [--images 4000] [--rounds 50] [--every 4]
//        [--lr3 0.05] [--momentum3 0] [--epochs3 E] [--out bench/results] [--name gossip-encoding-accuracy]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { shuffledIndices } from '../src/util/rng';
import { imageBatch, loadDataset, shard, type Split } from '../src/net/data';
import { decodeHalf, encodeHalf } from '../src/sync/fp16';
import { decodeQ8, encodeQ8, ErrorFeedback, q8Bytes } from '../src/sync/q8';
import { evaluateParams } from '../src/net/evaluate';

const flag = (n: string, d: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const epochs = Number(flag('epochs', '1'));
const perBoard = Number(flag('images', '4000'));
const rounds = Number(flag('rounds', '50'));
const every = Number(flag('every', '4'));
const lr3 = Number(flag('lr3', '0.05'));
const momentum3 = Number(flag('momentum3', '0'));
const epochs3 = Number(flag('epochs3', String(epochs)));
const ds = loadDataset();
const engine = new CpuEngine({ threads: 1 });
const B = 64;

type Codec = 'f32' | 'f16' | 'q8' | 'q8 without error feedback';
/** A board's sender: the encoding and, for q8, its error feedback. */
function sender(c: Codec, n: number): { send(x: Float32Array): Float32Array; commit(): void } {
  if (c === 'f32') return { send: (x) => x.slice(), commit: () => {} };
  if (c === 'f16') return { send: (x) => decodeHalf(encodeHalf(x)), commit: () => {} };
  const fb = c === 'q8' ? new ErrorFeedback(n) : undefined;
  const bytes = new Uint8Array(q8Bytes(n));
  return {
    send: (x) => {
      if (!encodeQ8(x, bytes, fb)) throw new Error('non-finite parameters');
      const out = new Float32Array(n);
      decodeQ8(bytes, n, out);
      return out;
    },
    commit: () => fb?.commit(),
  };
}

function batches(part: Split, seed: number) {
  // the split is ordered by digit: shuffle, or every batch holds one class
  const order = shuffledIndices(part.n, mulberry32(seed));
  const n = Math.min(part.n, perBoard);
  const x = new Float32Array(B * 784), y = new Uint8Array(B);
  const steps = Math.floor(n / B);
  return {
    steps,
    batch(s: number) {
      const picks = order.slice((s % steps) * B, (s % steps) * B + B);
      imageBatch(part, picks, x);
      for (let k = 0; k < B; k++) y[k] = part.labels[picks[k]];
      return { x, y };
    },
  };
}

const halves = [shard(ds, 0, 2).train, shard(ds, 1, 2).train];
const sgd = { lr: 0.05, momentum: 0, weightDecay: 0 };

function trainApart(part: Split, seed: number): Float32Array {
  const net = new LeNet(engine, initParams(7));
  const d = batches(part, seed);
  for (let s = 0; s < epochs * d.steps; s++) {
    const { x, y } = d.batch(s);
    net.step(x, y, sgd);
  }
  return net.getParams();
}

/** Both boards move to the blend of the two snapshots as the peer received them (w = 0.5). */
function exchange(pa: Float32Array, pb: Float32Array, sa: ReturnType<typeof sender>, sb: ReturnType<typeof sender>): void {
  const qa = sa.send(pa), qb = sb.send(pb);
  for (let i = 0; i < pa.length; i++) {
    const a = pa[i], b = pb[i];
    pa[i] = a + 0.5 * (qb[i] - a);
    pb[i] = b + 0.5 * (qa[i] - b);
  }
  sa.commit();
  sb.commit();
}

function trainAveraging(c: Codec): { mean: Float32Array; a: Float32Array } {
  const nets = [0, 1].map(() => new LeNet(engine, initParams(7)));
  const data = [0, 1].map((k) => batches(halves[k], k + 1));
  const n = nets[0].getParams().length;
  const senders = [sender(c, n), sender(c, n)];
  const steps = epochs3 * Math.min(data[0].steps, data[1].steps);
  for (let s = 1; s <= steps; s++) {
    for (let k = 0; k < 2; k++) {
      const { x, y } = data[k].batch(s - 1);
      nets[k].step(x, y, { lr: lr3, momentum: momentum3, weightDecay: 0 });
    }
    if (s % every === 0) {
      const pa = nets[0].getParams(), pb = nets[1].getParams();
      exchange(pa, pb, senders[0], senders[1]);
      nets[0].setParams(pa);
      nets[1].setParams(pb);
    }
  }
  const pa = nets[0].getParams(), pb = nets[1].getParams();
  return { mean: pa.map((v, i) => 0.5 * (v + pb[i])), a: pa };
}

const accuracy = (params: Float32Array) => evaluateParams(engine, params, ds.test).accuracy;
const pct = (p: Float32Array) => `${(100 * accuracy(p)).toFixed(2)}%`;
const maxAbs = (p: Float32Array, q: Float32Array) => p.reduce((m, v, i) => Math.max(m, Math.abs(v - q[i])), 0);
const rms = (p: Float32Array, q: Float32Array) => Math.sqrt(p.reduce((s, v, i) => s + (v - q[i]) ** 2, 0) / p.length);

const codecs: Codec[] = ['f32', 'f16', 'q8', 'q8 without error feedback'];
const a = trainApart(halves[0], 1), b = trainApart(halves[1], 2);
const n = a.length;
const lines = [
  // the source names a directory of this machine: its first words say which data it is
  `LeNet, ${epochs} epoch(s) per board on up to ${perBoard} images of its half of the training split (${(ds.source ?? 'built-in').replace(/ from \S+/, '')}), test split ${ds.test.n} images, ${engine.description}`,
  '',
  `1. one exchange of two boards trained apart (board a's parameters after it):`,
  `   board a alone: ${pct(a)}, board b alone: ${pct(b)}`,
];
const exact = a.map((v, i) => 0.5 * (v + b[i]));
for (const c of codecs.slice(0, 3)) {
  const held = sender(c, n).send(b).map((v, i) => a[i] + 0.5 * (v - a[i]));
  lines.push(`   ${c.padEnd(26)} ${pct(held)}  (max |diff| vs f32 ${maxAbs(held, exact).toExponential(2)})`);
}
lines.push('', `2. ${rounds} exchanges in a row, no training (the mean of the two boards at the end; f32 keeps it exactly):`);
for (const c of codecs) {
  const pa = a.slice(), pb = b.slice();
  const sa = sender(c, n), sb = sender(c, n);
  for (let r = 0; r < rounds; r++) exchange(pa, pb, sa, sb);
  const m = pa.map((v, i) => 0.5 * (v + pb[i]));
  lines.push(`   ${c.padEnd(26)} ${pct(m)}  (mean's drift from the f32 mean: rms ${rms(m, exact).toExponential(2)}, max ${maxAbs(m, exact).toExponential(2)}; boards apart by max ${maxAbs(pa, pb).toExponential(2)})`);
}
lines.push('', `3. two boards training from one initialisation (${epochs3} epoch(s), lr ${lr3}, momentum ${momentum3}), averaging every ${every} steps (${Math.floor(epochs3 * Math.floor(Math.min(perBoard, halves[0].n, halves[1].n) / B) / every)} averages):`);
let ref: Float32Array | null = null;
for (const c of codecs) {
  const r = trainAveraging(c);
  ref ??= r.mean;
  lines.push(`   ${c.padEnd(26)} consensus ${pct(r.mean)}, board a ${pct(r.a)}  (consensus max |diff| vs f32 run ${maxAbs(r.mean, ref).toExponential(2)})`);
}
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
} catch {
  // not a checkout
}
const text = lines.join('\n') + '\n';
process.stdout.write(text);
const out = resolve(flag('out', join(__dirname, 'results')));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `${flag('name', 'gossip-encoding-accuracy')}.txt`), `$ node --import tsx bench/gossip-encoding-accuracy.ts ${process.argv.slice(2).join(' ')}\n(commit ${commit})\n${text}`);
