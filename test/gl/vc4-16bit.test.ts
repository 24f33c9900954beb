// The vc4 16-bit working storage (q16): format round trip, stochastic rounding, saturation, and
// the 16-bit conv2d against its CPU twin. GL tests fail (never skip) without a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { GlEngine } from '../../src/kernels/gl/engine';
import { decode, encode, fromTexels, Q16_MAX, stepExponent, toTexels } from '../../src/kernels/gl/q16';
import { conv2dQ16, countSaturated, denseQ16, disposeQ16, readQ16, storeChecked, toQ16, uploadQ16 } from '../../src/kernels/gl/q16/index';
import * as cconv from '../../src/kernels/cpu/conv2d';
import * as cdense from '../../src/kernels/cpu/dense';
import type { Activation } from '../../src/kernels/engine';
import type { GlTensor } from '../../src/kernels/gl/tensor';

let engine: GlEngine | null = null;
function gl(): GlEngine {
  if (engine) return engine;
  try {
    engine = GlEngine.create({ profile: 'vc4' });
  } catch (err) {
    assert.fail(`no GL context for the GL tests: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
  return engine;
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

test('q16 codes round-trip through texel bytes exactly, and grid values through encode/decode', () => {
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 65535 }), { minLength: 1, maxLength: 64 }), fc.integer({ min: -30, max: 10 }), (codes, e) => {
    const c = Uint16Array.from(codes);
    assert.deepEqual(fromTexels(toTexels(c), c.length), c);
    const values = decode(c, e);
    // a value on the grid is stored exactly whatever the random draw
    const again = encode(values, e, lcg(codes[0]));
    assert.equal(again.saturated, 0);
    assert.deepEqual(again.codes, c);
  }), { numRuns: 100 });
});

test('host stochastic rounding: each store within one step, mean error over many stores tends to 0', () => {
  const e = -10, step = 2 ** e, M = 40000;
  for (const frac of [0.1, 0.5, 0.77]) {
    const v = (123 + frac) * step;
    const { codes } = encode(new Float32Array(M).fill(v), e, lcg(7));
    let sum = 0;
    for (const x of decode(codes, e)) {
      assert.ok(Math.abs(x - v) < step, `a store off by ${(x - v) / step} steps`);
      sum += x - v;
    }
    // error per store is -frac or 1-frac steps: std <= 0.5 step, so 5 sigma of the mean is 2.5/sqrt(M)
    assert.ok(Math.abs(sum / M) / step < 2.5 / Math.sqrt(M), `mean error ${sum / M / step} steps at frac ${frac}`);
  }
});

test('stepExponent leaves the asked headroom and no more than twice it', () => {
  fc.assert(fc.property(fc.double({ min: 1e-20, max: 1e20, noNaN: true }), fc.integer({ min: 0, max: 4 }), (m, hr) => {
    const e = stepExponent(m, hr);
    assert.ok(m * 2 ** hr <= Q16_MAX * 2 ** e);
    assert.ok(m * 2 ** hr > (Q16_MAX * 2 ** e) / 2);
  }));
});

/** An exact-fp32 GL tensor [N,C,H,W] holding `values`. */
const f32 = (g: GlEngine, shape: number[], values: Float32Array) => g.tensor(shape, values) as GlTensor;

test('GL stochastic store: each value within one step, mean error over many fragments and seeds tends to 0', () => {
  const g = gl();
  const shape = [8, 4, 16, 16], n = 8 * 4 * 16 * 16, e = -8, step = 2 ** e;
  for (const frac of [0.25, 0.5, 0.9]) {
    const v = (-37 + frac) * step;
    const x = f32(g, shape, new Float32Array(n).fill(v));
    let sum = 0, count = 0;
    for (const seed of [1, 2, 3, 4]) {
      const q = toQ16(g, x, e, seed);
      for (const got of readQ16(g, q).values) {
        assert.ok(Math.abs(got - v) < step, `a store off by ${(got - v) / step} steps`);
        sum += got - v; count++;
      }
      disposeQ16(g, q);
    }
    g.dispose(x);
    // 5 sigma of the mean if the draws were independent (2.5/sqrt(count) steps), plus 2^-9 steps for
    // the noise's own resolution (about 10 bits after fract of a 2^-16-ulp argument)
    const bound = 2.5 / Math.sqrt(count) + 2 ** -9;
    assert.ok(Math.abs(sum / count) / step < bound, `mean error ${sum / count / step} steps > ${bound} at frac ${frac}`);
  }
});

test('GL store of random values matches the host decode within one step, exact on grid values', () => {
  const g = gl();
  const shape = [2, 6, 5, 7], n = 2 * 6 * 5 * 7, e = -12;
  const rnd = lcg(11);
  const v = Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * 3);
  const grid = Float32Array.from(v, (x) => Math.round(x / 2 ** e) * 2 ** e);
  const q = toQ16(g, f32(g, shape, v), e, 5), qg = toQ16(g, f32(g, shape, grid), e, 6);
  const got = readQ16(g, q).values, gotGrid = readQ16(g, qg).values;
  for (let i = 0; i < n; i++) {
    assert.ok(Math.abs(got[i] - v[i]) < 2 ** e, `value ${i}: ${got[i]} vs ${v[i]}`);
    assert.equal(gotGrid[i], grid[i]);
  }
});

test('a saturated store is detected, and storeChecked redoes it at a larger step until nothing clips', () => {
  const g = gl();
  const shape = [2, 2, 6, 6], n = 144, rnd = lcg(3);
  const v = Float32Array.from({ length: n }, () => rnd() * 2 - 1);
  v[17] = 40; v[100] = -90; // out of range at step 2^-10 (|v| <= 32 there)
  const x = f32(g, shape, v);
  const q = toQ16(g, x, -10, 1);
  assert.equal(countSaturated(g, q), 2);
  const codes = readQ16(g, q).codes;
  assert.equal(codes[17], 0);
  assert.equal(codes[100], 0);
  disposeQ16(g, q);
  const { t, redos } = storeChecked(g, -10, (e) => toQ16(g, x, e, 2));
  assert.ok(redos >= 1 && t.e > -10 && 90 <= Q16_MAX * 2 ** t.e, `redos ${redos}, final step 2^${t.e}`);
  assert.equal(countSaturated(g, t), 0);
  const back = readQ16(g, t).values;
  for (let i = 0; i < n; i++) assert.ok(Math.abs(back[i] - v[i]) < 2 ** t.e);
});

test('16-bit conv2d (fp32 uniform weights, 2 outputs a fragment) matches the CPU twin within its stated bound', () => {
  const g = gl();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 3 }), CP: fc.integer({ min: 1, max: 3 }), OP: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 5, max: 10 }), K: fc.integer({ min: 1, max: 5 }), seed: fc.integer({ min: 1, max: 1e6 }),
    act: fc.constantFrom<Activation>('none', 'tanh', 'relu'),
  }), ({ N, CP, OP, H, K, seed, act }) => {
    const C = 2 * CP, O = 2 * OP, W = H + 1, P = H - K + 1, Q = W - K + 1;
    const rnd = lcg(seed);
    const xs = [N, C, H, W], ws = [O, C, K, K];
    const xv = Float32Array.from({ length: N * C * H * W }, () => rnd() * 2 - 1);
    const w = Float32Array.from({ length: O * C * K * K }, () => (rnd() * 2 - 1) * 0.4);
    const b = Float32Array.from({ length: O }, () => (rnd() * 2 - 1) * 0.2);
    const ex = -14;
    const { t: x, saturated } = uploadQ16(g, xs, xv, ex, rnd);
    assert.equal(saturated, 0);
    const xq = readQ16(g, x).values; // what the GPU holds: the twin's input
    const want = cconv.conv2d(xq, xs, w, ws, b, act);
    let maxAbs = 0;
    for (const y of want) maxAbs = Math.max(maxAbs, Math.abs(y));
    const eOut = stepExponent(maxAbs, 1);
    const before = g.stats.fetches;
    const y = conv2dQ16(g, x, w, ws, b, act, eOut, seed % 1000);
    assert.equal(g.stats.fetches - before, N * O / 2 * P * Q * CP * K * K, 'fetches: one a tap per output pair');
    const got = readQ16(g, y);
    assert.ok(got.codes.every((c) => c !== 0), 'a store saturated with headroom 1');
    // Bound, per output: one step 2^eOut from the stochastic store; the decode's < 0.007 step of x (q16.ts; 0.01 taken)
    // (q16.ts) times Σ|w|; fp32 accumulation of CKK terms, CKK·2^-23·Σ|w·x| (|x| <= 1); tanh16:
    // the relative error of e^{-2a} is <= 64·(2.6e-8 + 7·2^-24) = 2.9e-5 and d tanh/d(ln t) =
    // -2t/(1+t)^2 is at most 0.5 in size, so 1.5e-5, plus the reciprocal's 1e-10.
    const CKK = C * K * K;
    for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
      let sw = 0;
      for (let k = 0; k < CKK; k++) sw += Math.abs(w[o * CKK + k]);
      for (let i = 0; i < P * Q; i++) {
        const at = (n * O + o) * P * Q + i;
        const bound = 2 ** eOut + 0.01 * 2 ** ex * sw + CKK * 2 ** -23 * sw + (act === 'tanh' ? 1.5e-5 : 0);
        assert.ok(Math.abs(got.values[at] - want[at]) <= bound, `y[${at}] = ${got.values[at]}, twin ${want[at]}, bound ${bound}`);
      }
    }
    disposeQ16(g, x); disposeQ16(g, y);
  }), { numRuns: 6 });
});

test('16-bit dense (a 1x1 conv on transposed fp32 uniform weights) matches the CPU twin within its stated bound', () => {
  const g = gl();
  for (const [N, I, O] of [[3, 8, 4], [5, 40, 10], [2, 160, 2]]) {
    const rnd = lcg(N * I * O);
    const xv = Float32Array.from({ length: N * I }, () => rnd() * 2 - 1);
    const w = Float32Array.from({ length: I * O }, () => (rnd() * 2 - 1) * 0.1);
    const b = Float32Array.from({ length: O }, () => (rnd() * 2 - 1) * 0.1);
    const { t: x } = uploadQ16(g, [N, I, 1, 1], xv, -14, rnd);
    const xq = readQ16(g, x).values;
    const want = cdense.dense(xq, w, b, N, I, O, 'tanh');
    const eOut = stepExponent(1, 1);
    const got = readQ16(g, denseQ16(g, x, w, [I, O], b, 'tanh', eOut, 3)).values;
    for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
      let sw = 0;
      for (let i = 0; i < I; i++) sw += Math.abs(w[i * O + o]);
      // as for conv2d: one step, the decode's 0.01 step times Σ|w|, fp32 accumulation, tanh16
      const bound = 2 ** eOut + 0.01 * 2 ** -14 * sw + I * 2 ** -23 * sw + 1.5e-5;
      const at = n * O + o;
      assert.ok(Math.abs(got[at] - want[at]) <= bound, `[${N},${I}]x[${I},${O}] y[${at}] = ${got[at]}, twin ${want[at]}`);
    }
  }
});

test.after(() => engine?.destroy());
