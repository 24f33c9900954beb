// The naive CPU twins are the reference every other engine is held to, so their backward passes
// are checked here against central finite differences of their own forward passes. The scalar
// probed is L = Σ r·y for a random r, whose gradient with respect to y is r: feeding r as dy to
// the backward kernel must give dL/d(input). Conv and dense are linear in each argument, so a
// large step makes the difference quotient exact up to float32 rounding; the nonlinear kernels
// use small steps and avoid their kinks (relu at 0, max-pool near-ties).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { applyActivation, activationBackward } from '../../src/kernels/cpu/activation';
import { biasGrad } from '../../src/kernels/cpu/bias';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../../src/kernels/cpu/conv2d';
import { dense, denseBackwardInput, denseBackwardWeight } from '../../src/kernels/cpu/dense';
import { maxPool, maxPoolBackward } from '../../src/kernels/cpu/maxpool';
import { softmaxCrossEntropy } from '../../src/kernels/cpu/softmax_xent';
import { sgdUpdate } from '../../src/kernels/cpu/sgd';
import { mulberry32 } from '../../src/net/lenet';
import { dot, oneHotRandom, randArray } from './helpers';

const RUNS = { numRuns: 25 };

/** Central difference of f at coordinate i of a (mutated and restored). */
function centralDiff(a: Float32Array, i: number, eps: number, f: () => number): number {
  const v = a[i];
  a[i] = v + eps; const up = f();
  a[i] = v - eps; const down = f();
  a[i] = v;
  // the step actually taken after rounding to float32
  const h = Math.fround(v + eps) - Math.fround(v - eps);
  return (up - down) / h;
}

function someIndices(n: number, count: number, seed: number): number[] {
  const r = mulberry32(seed);
  const out = new Set<number>();
  while (out.size < Math.min(n, count)) out.add(Math.floor(r() * n));
  return [...out];
}

function near(got: number, want: number, atol: number, rtol: number, what: string): void {
  assert.ok(Math.abs(got - want) <= atol + rtol * Math.abs(want), `${what}: analytic ${got}, finite difference ${want}`);
}

const convShape = fc.record({
  N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), O: fc.integer({ min: 1, max: 3 }),
  K: fc.integer({ min: 1, max: 4 }), extraH: fc.integer({ min: 0, max: 4 }), extraW: fc.integer({ min: 0, max: 4 }),
  seed: fc.integer(),
});

test('conv2d backward (input, filter, bias) matches finite differences of conv2d', () => {
  fc.assert(fc.property(convShape, ({ N, C, O, K, extraH, extraW, seed }) => {
    const H = K + extraH, W = K + extraW, P = H - K + 1, Q = W - K + 1;
    const xs = [N, C, H, W], ws = [O, C, K, K];
    const x = randArray(N * C * H * W, seed), w = randArray(O * C * K * K, seed + 1), b = randArray(O, seed + 2);
    const r = randArray(N * O * P * Q, seed + 3);
    const L = () => dot(r, conv2d(x, xs, w, ws, b, 'none'));
    const dx = conv2dBackwardInput(r, w, xs, ws), dw = conv2dBackwardFilter(x, xs, r, ws), db = biasGrad(r, [N, O, P, Q]);
    for (const i of someIndices(x.length, 6, seed)) near(dx[i], centralDiff(x, i, 0.25, L), 1e-4, 1e-4, `dx[${i}]`);
    for (const i of someIndices(w.length, 6, seed)) near(dw[i], centralDiff(w, i, 0.25, L), 1e-4, 1e-4, `dw[${i}]`);
    for (let i = 0; i < O; i++) near(db[i], centralDiff(b, i, 0.25, L), 1e-4, 1e-4, `db[${i}]`);
  }), RUNS);
});

test('dense backward (input, weight, bias) matches finite differences of dense', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 4 }), I: fc.integer({ min: 1, max: 9 }), O: fc.integer({ min: 1, max: 9 }), seed: fc.integer(),
  }), ({ N, I, O, seed }) => {
    const x = randArray(N * I, seed), w = randArray(I * O, seed + 1), b = randArray(O, seed + 2), r = randArray(N * O, seed + 3);
    const L = () => dot(r, dense(x, w, b, N, I, O, 'none'));
    const dx = denseBackwardInput(r, w, N, I, O), dw = denseBackwardWeight(x, r, N, I, O), db = biasGrad(r, [N, O]);
    for (let i = 0; i < x.length; i++) near(dx[i], centralDiff(x, i, 0.25, L), 1e-4, 1e-4, `dx[${i}]`);
    for (let i = 0; i < w.length; i++) near(dw[i], centralDiff(w, i, 0.25, L), 1e-4, 1e-4, `dw[${i}]`);
    for (let i = 0; i < O; i++) near(db[i], centralDiff(b, i, 0.25, L), 1e-4, 1e-4, `db[${i}]`);
  }), RUNS);
});

test('activation backward (from the output) matches finite differences of tanh and relu', () => {
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 40 }), act: fc.constantFrom('tanh' as const, 'relu' as const), seed: fc.integer(),
  }), ({ n, act, seed }) => {
    const z = randArray(n, seed, -3, 3), r = randArray(n, seed + 1);
    const L = () => dot(r, applyActivation(act, Float32Array.from(z)));
    const y = applyActivation(act, Float32Array.from(z));
    const dz = activationBackward(act, y, r);
    const eps = 1e-2;
    for (let i = 0; i < n; i++) {
      if (act === 'relu' && Math.abs(z[i]) < 2 * eps) continue;
      near(dz[i], centralDiff(z, i, eps, L), 2e-4, 2e-3, `${act} dz[${i}] at z=${z[i]}`);
    }
  }), RUNS);
});

test('activation none passes the gradient through', () => {
  const dy = randArray(17, 5);
  assert.deepEqual(activationBackward('none', randArray(17, 6), dy), dy);
});

test('max-pool backward matches finite differences away from near-ties', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 2 }), C: fc.integer({ min: 1, max: 3 }), Ho: fc.integer({ min: 1, max: 4 }),
    Wo: fc.integer({ min: 1, max: 4 }), seed: fc.integer(),
  }), ({ N, C, Ho, Wo, seed }) => {
    const H = 2 * Ho, W = 2 * Wo, xs = [N, C, H, W];
    const x = randArray(N * C * H * W, seed), r = randArray(N * C * Ho * Wo, seed + 1);
    const eps = 1e-3;
    const y = maxPool(x, xs);
    const dx = maxPoolBackward(x, xs, y, r);
    const L = () => dot(r, maxPool(x, xs));
    for (let nc = 0; nc < N * C; nc++) for (let p = 0; p < Ho; p++) for (let q = 0; q < Wo; q++) {
      const base = nc * H * W + 2 * p * W + 2 * q;
      const idx = [base, base + 1, base + W, base + W + 1];
      const vals = idx.map((i) => x[i]).sort((a, b) => b - a);
      if (vals[0] - vals[1] < 4 * eps) continue;
      for (const i of idx) near(dx[i], centralDiff(x, i, eps, L), 1e-3, 1e-3, `dx[${i}]`);
    }
  }), RUNS);
});

test('max-pool sends a tied window\'s gradient to the first maximum in row-major order', () => {
  const x = Float32Array.from([1, 3, 3, 3, /* */ 2, 2, 2, 2, /* */ 5, 0, 0, 5, /* */ 0, 7, 7, 7]);
  // one 2x2 window per 4 values: shape [1,4,2,2]
  const xs = [1, 4, 2, 2];
  const y = maxPool(x, xs);
  assert.deepEqual([...y], [3, 2, 5, 7]);
  const dx = maxPoolBackward(x, xs, y, Float32Array.from([10, 20, 30, 40]));
  assert.deepEqual([...dx], [0, 10, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 0, 40, 0, 0]);
});

test('softmax cross-entropy: dLogits is the finite-difference gradient of the mean loss', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 4 }), K: fc.integer({ min: 2, max: 10 }), seed: fc.integer(),
  }), ({ N, K, seed }) => {
    const z = randArray(N * K, seed, -3, 3), t = oneHotRandom(N, K, seed + 1);
    const L = () => { const l = softmaxCrossEntropy(z, t, N, K).losses; let s = 0; for (const v of l) s += v; return s / N; };
    const { dLogits } = softmaxCrossEntropy(z, t, N, K);
    for (let i = 0; i < z.length; i++) near(dLogits[i], centralDiff(z, i, 1e-2, L), 5e-5, 2e-3, `dz[${i}]`);
  }), RUNS);
});

test('softmax cross-entropy stays finite for huge logits', () => {
  const z = Float32Array.from([1e30, -1e30, 0, 80, 90, 100]);
  const t = Float32Array.from([0, 1, 0, 1, 0, 0]);
  const { losses, dLogits } = softmaxCrossEntropy(z, t, 2, 3);
  for (const v of [...losses, ...dLogits]) assert.ok(Number.isFinite(v), `not finite: ${v}`);
  assert.ok(Math.abs(losses[1] - 20) < 1e-3, `loss ${losses[1]}`);
});

test('sgd update follows v = m·v + g + wd·w, w -= lr·v (float64 reference)', () => {
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 30 }), lr: fc.double({ min: 0, max: 1, noNaN: true }),
    momentum: fc.constantFrom(0, 0.5, 0.9), wd: fc.constantFrom(0, 1e-4, 0.1), seed: fc.integer(),
  }), ({ n, lr, momentum, wd, seed }) => {
    const w = randArray(n, seed), g = randArray(n, seed + 1), v = randArray(n, seed + 2);
    const w64 = Float64Array.from(w), v64 = Float64Array.from(v);
    for (let i = 0; i < n; i++) {
      if (momentum > 0) { v64[i] = momentum * v64[i] + g[i] + wd * w64[i]; w64[i] -= lr * v64[i]; }
      else w64[i] -= lr * (g[i] + wd * w64[i]);
    }
    const vBefore = Float32Array.from(v);
    sgdUpdate(w, g, v, { lr, momentum, weightDecay: wd });
    for (let i = 0; i < n; i++) near(w[i], w64[i], 1e-6, 1e-5, `w[${i}]`);
    if (momentum > 0) for (let i = 0; i < n; i++) near(v[i], v64[i], 1e-6, 1e-5, `v[${i}]`);
    else assert.deepEqual(v, vBefore, 'momentum 0 must not touch the velocity');
  }), RUNS);
});
