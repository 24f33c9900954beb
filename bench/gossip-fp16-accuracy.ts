// Does fp16 on the wire cost accuracy? An fp16 exchange moves each board to
//   x + w (fp16(x_peer) - x),
// so it differs from the fp32 exchange by w times one fp16 rounding of the peer's parameters.
// This trains LeNet (CPU engine, built-in digits, batch 64, lr 0.05, 1 epoch by default) and evaluates the
// test split with the parameters as they are, after one fp16 round trip, and after the average of
// two boards trained on different halves exchanged in fp32 vs in fp16.
//   node --import tsx bench/gossip-fp16-accuracy.ts [--epochs 1] [--images 4000] [--out bench/results]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { shuffledIndices } from '../src/util/rng';
import { imageBatch, loadDataset, shard, type Split } from '../src/net/data';
import { decodeHalf, encodeHalf } from '../src/sync/fp16';
import { evaluateParams } from '../src/net/evaluate';

const flag = (n: string, d: string) => {
  const i = process.argv.indexOf(`--${n}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const epochs = Number(flag('epochs', '1'));
const perBoard = Number(flag('images', '4000')); // training images per board (a half of the split is 4000)
const ds = loadDataset();
const engine = new CpuEngine({ threads: 1 });

function train(part: Split, seed: number): Float32Array {
  const net = new LeNet(engine, initParams(7));
  const B = 64;
  // the split is ordered by digit: shuffle, or every batch holds one class
  const order = shuffledIndices(part.n, mulberry32(seed));
  const n = Math.min(part.n, perBoard);
  const x = new Float32Array(B * 784), y = new Uint8Array(B);
  for (let e = 0; e < epochs; e++) {
    for (let s = 0; s + B <= n; s += B) {
      const picks = order.slice(s, s + B);
      imageBatch(part, picks, x);
      for (let k = 0; k < B; k++) y[k] = part.labels[picks[k]];
      net.step(x, y, { lr: 0.05, momentum: 0, weightDecay: 0 });
    }
  }
  return net.getParams();
}

const accuracy = (params: Float32Array) => evaluateParams(engine, params, ds.test).accuracy;

const half = (p: Float32Array) => decodeHalf(encodeHalf(p));
const a = train(shard(ds, 0, 2).train, 1), b = train(shard(ds, 1, 2).train, 2);
const avg32 = a.map((x, i) => 0.5 * x + 0.5 * b[i]);
const hb = half(b);
const avg16 = a.map((x, i) => x + 0.5 * (hb[i] - x)); // what board a holds after an fp16 exchange
let maxDiff = 0;
for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(avg16[i] - avg32[i]));
const lines = [
  `LeNet, ${epochs} epoch(s) per board on up to ${perBoard} images of its half of the training split (${ds.source ?? 'built-in'}), test split ${ds.test.n} images, ${engine.description}`,
  `  board a, fp32 params:                 ${(100 * accuracy(a)).toFixed(2)}%`,
  `  board a, params after fp16 round trip: ${(100 * accuracy(half(a))).toFixed(2)}%`,
  `  average of a and b, fp32 exchange:     ${(100 * accuracy(avg32)).toFixed(2)}%`,
  `  average as a holds it, fp16 exchange:  ${(100 * accuracy(avg16)).toFixed(2)}%  (max |param diff| vs fp32 ${maxDiff.toExponential(2)})`,
];
const text = lines.join('\n') + '\n';
process.stdout.write(text);
const out = resolve(flag('out', join(__dirname, 'results')));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'gossip-fp16-accuracy.txt'), `$ node --import tsx bench/gossip-fp16-accuracy.ts ${process.argv.slice(2).join(' ')}\n${text}`);
