// Every kernel of the float profile (RGBA32F rows, 4 values a texel) against its naive CPU twin,
// on random shapes and values. The shapes include rows whose length is not a multiple of 4 (the
// padded last texel, reads past a row's end) and LeNet's own K = 5 on 12-wide rows. Runs under
// xvfb-run; no context, or no complete RGBA32F framebuffer, is a failure that says why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { closeRows, relErr, rowRtol } from './helpers';
import { destroyFloatEngine, floatEngine } from './float-helpers';
import * as cconv from '../../src/kernels/cpu/conv2d';
import * as cdense from '../../src/kernels/cpu/dense';
import * as cbias from '../../src/kernels/cpu/bias';
import * as cpool from '../../src/kernels/cpu/maxpool';
import * as cact from '../../src/kernels/cpu/activation';
import * as cxent from '../../src/kernels/cpu/softmax_xent';
import * as csgd from '../../src/kernels/cpu/sgd';
import type { Activation } from '../../src/kernels/engine';
import { conv2dBackwardFilter } from '../../src/kernels/gl/float/conv2d';
import type { FloatTensor } from '../../src/kernels/gl/float/engine';


// Sums of up to a few hundred products of values in [-1,1] in float32, in another order than the
// twin: each term adds at most one float32 rounding (2^-24 relative) of the running sum, bounded by
// the sum of |terms|, which for these inputs stays within ~10x the result's scale: L · 6e-8 · 10 with
// L <= 300 terms is 1.8e-4 at worst; measured errors are ~1e-7. relErr scales by the tensor's largest
// value (a sum's error is set by the size of its terms, not its result).
const TOL = 1e-5;
const ACTS: Activation[] = ['none', 'tanh', 'relu'];
const vals = (n: number, seed: number, scale = 1) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return ((s / 2 ** 32) * 2 - 1) * scale; });
};
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function check(name: string, got: Float32Array, want: Float32Array, tol = TOL): void {
  const r = relErr(got, want);
  assert.ok(r <= tol, `${name} (float): relative error ${r} > ${tol}`);
}

/** Exactly equal values (-0 equals 0: which of two tied zeros a max returns is not the contract). */
function equalValues(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) assert.fail(`${what}: index ${i}: got ${got[i]}, want ${want[i]}`);
}

const convCase = fc.record({
  N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 6 }),
  H: fc.integer({ min: 5, max: 13 }), W: fc.integer({ min: 5, max: 13 }), K: fc.integer({ min: 1, max: 5 }),
  seed: fc.integer(),
});

test('float conv2d forward, input gradient, filter gradient and bias gradient match the CPU twin', () => {
  const e = floatEngine();
  const one = ({ N, C, O, H, W, K, seed }: { N: number; C: number; O: number; H: number; W: number; K: number; seed: number }) => {
    const xs = [N, C, H, W], ws = [O, C, K, K], P = H - K + 1, Q = W - K + 1, ys = [N, O, P, Q];
    const x = vals(size(xs), seed), w = vals(size(ws), seed + 1, 0.5), b = vals(O, seed + 2, 0.2), dy = vals(size(ys), seed + 3);
    const [gx, gw, gb, gdy] = [e.tensor(xs, x), e.tensor(ws, w), e.tensor([O], b), e.tensor(ys, dy)];
    const made = [gx, gw, gb, gdy];
    const keep = <T>(t: T) => { made.push(t as never); return t; };
    const tag = `N${N} C${C} O${O} ${H}x${W} K${K}`;
    for (const act of ACTS) check(`conv2d ${tag} ${act}`, e.read(keep(e.conv2d(gx, gw, gb, act))), cconv.conv2d(x, xs, w, ws, b, act));
    check(`conv2dBackwardInput ${tag}`, e.read(keep(e.conv2dBackwardInput(gdy, gw, xs))), cconv.conv2dBackwardInput(dy, w, xs, ws));
    check(`conv2dBackwardFilter ${tag}`, e.read(keep(e.conv2dBackwardFilter(gx, gdy, ws))), cconv.conv2dBackwardFilter(x, xs, dy, ws));
    // Partial sums over groups of n whose last group is short (N = 7 in groups of 2 or 3).
    for (const frags of [1, 3 * size(ws) / K]) {
      check(`conv2dBackwardFilter ${tag} split for ${frags} fragments`, e.read(keep(conv2dBackwardFilter(e, gx as FloatTensor, gdy as FloatTensor, ws, frags))), cconv.conv2dBackwardFilter(x, xs, dy, ws));
    }
    check(`biasGrad ${tag}`, e.read(keep(e.biasGrad(gdy))), cbias.biasGrad(dy, ys));
    for (const t of made) e.dispose(t);
  };
  // LeNet's conv2 in small (12-wide rows, K = 5), and the self-test's odd widths.
  one({ N: 2, C: 3, O: 5, H: 12, W: 12, K: 5, seed: 1 });
  one({ N: 2, C: 3, O: 4, H: 9, W: 9, K: 3, seed: 2 });
  // A batch larger than the filter-gradient split's group, so partial sums over n are added.
  one({ N: 9, C: 1, O: 2, H: 8, W: 8, K: 5, seed: 3 });
  one({ N: 7, C: 2, O: 3, H: 7, W: 10, K: 3, seed: 4 });
  fc.assert(fc.property(convCase, (c) => { one(c); }), { numRuns: 4, seed: 4 });
});

const denseCase = fc.record({
  N: fc.integer({ min: 1, max: 5 }), I: fc.integer({ min: 1, max: 37 }), O: fc.integer({ min: 1, max: 13 }), seed: fc.integer(),
});

test('float dense forward, input gradient, weight gradient and bias gradient match the CPU twin', () => {
  const e = floatEngine();
  const one = ({ N, I, O, seed }: { N: number; I: number; O: number; seed: number }) => {
    const x = vals(N * I, seed), w = vals(I * O, seed + 1, 0.5), b = vals(O, seed + 2, 0.2), dy = vals(N * O, seed + 3);
    const [gx, gw, gb, gdy] = [e.tensor([N, I], x), e.tensor([I, O], w), e.tensor([O], b), e.tensor([N, O], dy)];
    const made = [gx, gw, gb, gdy];
    const keep = <T>(t: T) => { made.push(t as never); return t; };
    const tag = `N${N} I${I} O${O}`;
    for (const act of ACTS) check(`dense ${tag} ${act}`, e.read(keep(e.dense(gx, gw, gb, act))), cdense.dense(x, w, b, N, I, O, act));
    check(`denseBackwardInput ${tag}`, e.read(keep(e.denseBackwardInput(gdy, gw))), cdense.denseBackwardInput(dy, w, N, I, O));
    check(`denseBackwardWeight ${tag}`, e.read(keep(e.denseBackwardWeight(gx, gdy))), cdense.denseBackwardWeight(x, dy, N, I, O));
    check(`biasGrad ${tag}`, e.read(keep(e.biasGrad(gdy))), cbias.biasGrad(dy, [N, O]));
    for (const t of made) e.dispose(t);
  };
  one({ N: 3, I: 800, O: 10, seed: 5 });
  fc.assert(fc.property(denseCase, (c) => { one(c); }), { numRuns: 5, seed: 6 });
});

test('float max-pool, its gradient (ties to the first maximum) and activation gradients match the CPU twin', () => {
  const e = floatEngine();
  for (const [N, C, H, W, seed] of [[2, 3, 24, 24, 7], [1, 2, 7, 9, 8], [2, 1, 6, 10, 9], [1, 1, 4, 4, 10]]) {
    const xs = [N, C, H, W], Ho = H >> 1, Wo = W >> 1, ps = [N, C, Ho, Wo];
    // Values on a coarse grid, so that windows hold ties.
    const x = vals(size(xs), seed).map((v) => Math.round(v * 3) / 3), dy = vals(size(ps), seed + 1);
    const gx = e.tensor(xs, x), gdy = e.tensor(ps, dy);
    const y = cpool.maxPool(x, xs);
    const gy = e.maxPool(gx);
    equalValues(e.read(gy), y, `maxPool [${xs}]`);
    const got = e.maxPoolBackward(gx, gy, gdy);
    equalValues(e.read(got), cpool.maxPoolBackward(x, xs, y, dy), `maxPoolBackward [${xs}]`);
    const a = vals(size(xs), seed + 2), g = vals(size(xs), seed + 3);
    const ga = e.tensor(xs, a), gg = e.tensor(xs, g);
    for (const act of ACTS) {
      const r = e.activationBackward(act, ga, gg);
      check(`activationBackward ${act} [${xs}]`, e.read(r), cact.activationBackward(act, a, g), 1e-6);
      e.dispose(r);
    }
    for (const t of [gx, gdy, gy, got, ga, gg]) e.dispose(t);
  }
});

test('float softmax cross-entropy (losses, dLogits) and softmax match the CPU twin per element', () => {
  const e = floatEngine();
  for (const [N, K, spread, seed] of [[64, 10, 8, 11], [5, 10, 40, 12], [3, 7, 3, 13], [6, 4, 1, 14]]) {
    const z = vals(N * K, seed, spread);
    // A row with a tie at the maximum, and a confident row, as the twin's formulation must handle.
    z[1] = z[0] = spread + 1;
    const t = new Float32Array(N * K);
    for (let n = 0; n < N; n++) t[n * K + ((n * 3) % K)] = 1;
    const gz = e.tensor([N, K], z), gt = e.tensor([N, K], t);
    const want = cxent.softmaxCrossEntropy(z, t, N, K);
    const got = e.softmaxCrossEntropy(gz, gt);
    closeRows(e.read(got.losses), want.losses, rowRtol(z, N, K, 1), `losses N${N} K${K}`);
    closeRows(e.read(got.dLogits), want.dLogits, rowRtol(z, N, K, K), `dLogits N${N} K${K}`);
    const p = e.softmax(gz);
    closeRows(e.read(p), cxent.softmax(z, N, K), rowRtol(z, N, K, K), `softmax N${N} K${K}`);
    for (const x of [gz, gt, got.losses, got.dLogits, p]) e.dispose(x);
  }
});

test('float SGD (plain, weight decay, momentum) matches the CPU twin; reshape keeps the values', () => {
  const e = floatEngine();
  for (const [shape, mom, wd] of [[[7, 5], 0, 0], [[6, 3, 5, 5], 0.9, 1e-4], [[10], 0.5, 0]] as [number[], number, number][]) {
    const n = size(shape);
    const w = vals(n, 21), g = vals(n, 22), v = vals(n, 23, 0.1);
    const gw = e.tensor(shape, w), gg = e.tensor(shape, g), gv = e.tensor(shape, v);
    const o = { lr: 0.05, momentum: mom, weightDecay: wd };
    e.sgdUpdate(gw, gg, mom > 0 ? gv : null, o);
    csgd.sgdUpdate(w, g, mom > 0 ? v : null, o);
    check(`sgd [${shape}] momentum ${mom}`, e.read(gw), w, 1e-6);
    if (mom > 0) check(`sgd velocity [${shape}]`, e.read(gv), v, 1e-6);
    for (const t of [gw, gg, gv]) e.dispose(t);
  }
  // Free (shared texels) and re-padding reshapes, there and back.
  for (const [a, b] of [[[3, 8, 4, 4], [3, 128]], [[3, 5, 2, 3], [3, 30]], [[2, 10], [4, 5]], [[5, 7], [35]]]) {
    const d = vals(size(a), 31);
    const t = e.tensor(a, d);
    const r = e.reshape(t, b);
    assert.deepEqual([...e.read(r)], [...d], `reshape [${a}] -> [${b}]`);
    const back = e.reshape(r, a);
    assert.deepEqual([...e.read(back)], [...d], `reshape [${b}] -> [${a}]`);
    for (const x of [t, r, back]) e.dispose(x);
  }
});

test('the float engine reports its passes and fetches, and a wrong-size write names the tensor size', () => {
  const e = floatEngine();
  const p0 = e.stats.passes, f0 = e.stats.fetches;
  const x = e.tensor([2, 8], vals(16, 41));
  const y = e.activationBackward('tanh', x, x);
  assert.equal(e.stats.passes - p0, 1);
  assert.ok(e.stats.fetches - f0 >= 2 * 4, 'two fetches for each of the 4 output texels');
  assert.throws(() => e.write(x, new Float32Array(3)), /tensor holds 16 values, got 3/);
  e.dispose(x); e.dispose(y);
});

test.after(destroyFloatEngine);
