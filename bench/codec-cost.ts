// The gossip codecs alone, JS against WebAssembly SIMD (src/sync/codec.wat), on a LeNet model
// (initParams): ms per model, the median of several repeats, each the mean of a few runs. The wasm
// figures include the copies into and out of the module's memory, as the public functions pay them.
// Decoding runs per chunk in the product, so it is timed over a model's chunks at the local preset's
// 60,000 bytes and at the lan preset's 1,080; the last table is the per-call cost at small sizes
// that sets the JS/wasm thresholds in fp16.ts and q8.ts.
//
//   node --import tsx bench/codec-cost.ts [--repeats 9]
import { cpus, loadavg } from 'node:os';
import { initParams } from '../src/net/lenet';
import { instantiateCodec, wasmCodec } from '../src/sync/codec-wasm';
import { decodeHalfBytesJs, encodeHalfJs } from '../src/sync/fp16';
import { decodeQ8Js, encodeQ8Js, ErrorFeedback, q8Bytes, q8ParamsPerChunk } from '../src/sync/q8';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const REPEATS = arg('--repeats', 9);

const w = wasmCodec();
// the q8 encoder as 32-bit ARM runs it (float32 sums and differences through double), for comparison
const wx = w && !w.exact ? instantiateCodec(true) : null;
if (!w) throw new Error('codec-cost: this runtime cannot run the WebAssembly SIMD codec');

/** Median over REPEATS of the mean ms of `runs` calls of fn. */
function time(fn: () => void, runs: number): number {
  for (let i = 0; i < Math.max(2, runs >> 2); i++) fn(); // warm up (tiers, and the wasm memory grown)
  const ms: number[] = [];
  for (let r = 0; r < REPEATS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6 / runs);
  }
  ms.sort((a, b) => a - b);
  return ms[ms.length >> 1];
}

const params = initParams(1);
const n = params.length;
const half = new Uint16Array(n);
const q8 = new Uint8Array(q8Bytes(n));
const fb = new ErrorFeedback(n);
// a residual of the size feedback leaves (within half a step): the sums x + r are then realistic
encodeQ8Js(params, q8, fb);
fb.commit();
const r = fb.residual.slice();
const next = new Float32Array(n);
const decoded = new Float32Array(n);
// fp16 payload bytes at an odd offset, as a chunk sits in its datagram
const halfBytes = new Uint8Array(2 * n + 1);
halfBytes.set(new Uint8Array(encodeHalfJs(params, half).buffer), 1);
const halfAt = halfBytes.subarray(1);

/** Decodes a model's fp16 payload chunk by chunk of chunkBytes. */
const fp16Chunks = (chunkBytes: number, dec: (s: Uint8Array, o: Float32Array) => Float32Array) => () => {
  for (let b = 0; b < halfAt.length; b += chunkBytes) {
    const e = Math.min(halfAt.length, b + chunkBytes);
    dec(halfAt.subarray(b, e), decoded.subarray(b >> 1, e >> 1));
  }
};
const q8Chunks = (chunkBytes: number, dec: (s: Uint8Array, c: number, o: Float32Array) => boolean) => () => {
  const per = q8ParamsPerChunk(chunkBytes);
  for (let p = 0, o = 0; p < n; p += per) {
    const c = Math.min(per, n - p), len = q8Bytes(c);
    if (!dec(q8.subarray(o, o + len), c, decoded.subarray(p, p + c))) throw new Error('q8 chunk refused');
    o += len;
  }
};

encodeQ8Js(params, q8);
const rows: [string, () => void, () => void, number][] = [
  ['fp16 encode', () => encodeHalfJs(params, half), () => w.encodeHalf(params, half), 20],
  ['fp16 decode, 60,000-byte chunks', fp16Chunks(60_000, decodeHalfBytesJs), fp16Chunks(60_000, (s, o) => w.decodeHalfBytes(s, o)), 20],
  ['fp16 decode, 1,080-byte chunks', fp16Chunks(1_080, decodeHalfBytesJs), fp16Chunks(1_080, (s, o) => w.decodeHalfBytes(s, o)), 20],
  ['q8 encode', () => encodeQ8Js(params, q8), () => w.encodeQ8(params, q8, null, null), 10],
  ['q8 encode with feedback', () => { encodeQ8Js(params, q8, fb); fb.cancel(); }, () => w.encodeQ8(params, q8, r, next), 10],
  ...(wx ? [['q8 encode with feedback, exact arithmetic (as on 32-bit ARM)', () => { encodeQ8Js(params, q8, fb); fb.cancel(); }, () => wx.encodeQ8(params, q8, r, next), 10] as [string, () => void, () => void, number]] : []),
  ['q8 decode, 60,000-byte chunks', q8Chunks(60_000, decodeQ8Js), q8Chunks(60_000, (s, c, o) => w.decodeQ8(s, c, o)), 20],
  ['q8 decode, 1,080-byte chunks', q8Chunks(1_080, decodeQ8Js), q8Chunks(1_080, (s, c, o) => w.decodeQ8(s, c, o)), 20],
];
// the feedback rows must start from the same residual every run
fb.residual.set(r);

console.log(`gossip codecs, ms per LeNet model (${n} parameters), median of ${REPEATS}; ${new Date().toISOString()}, load average ${loadavg()[0].toFixed(2)} on ${cpus().length} cores (${cpus()[0]?.model.split(' ').slice(0, 2).join(' ')}), node ${process.version}`);
console.log('| codec | JS | wasm SIMD (copies included) | JS / wasm |');
console.log('|---|---|---|---|');
for (const [name, js, wasm, runs] of rows) {
  const a = time(js, runs), b = time(wasm, runs);
  console.log(`| ${name} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(a / b).toFixed(1)}x |`);
}

console.log('\nper call at small sizes, microseconds (JS / wasm):');
console.log('| values | fp16 encode | fp16 decode (odd offset) | q8 encode | q8 decode |');
console.log('|---|---|---|---|---|');
for (const k of [64, 128, 256, 512, 1024]) {
  const x = params.subarray(0, k);
  const h = new Uint16Array(k), qb = new Uint8Array(q8Bytes(k));
  encodeQ8Js(x, qb);
  const hb = halfAt.subarray(0, 2 * k), d = decoded.subarray(0, k);
  const us = (fn: () => void) => (time(fn, 2000) * 1000).toFixed(2);
  console.log(`| ${k} | ${us(() => encodeHalfJs(x, h))} / ${us(() => w.encodeHalf(x, h))} | ${us(() => decodeHalfBytesJs(hb, d))} / ${us(() => w.decodeHalfBytes(hb, d))} | ${us(() => encodeQ8Js(x, qb))} / ${us(() => w.encodeQ8(x, qb, null, null))} | ${us(() => decodeQ8Js(qb, k, d))} / ${us(() => w.decodeQ8(qb, k, d))} |`);
}
