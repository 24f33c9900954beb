// Every GL kernel against its naive CPU twin, on random shapes and values, in both profiles.
// The shapes reach past the vc4 fetch budget so the multi-pass reductions run too. Each property
// run goes through every activation, both tie patterns and every momentum/weight-decay
// combination (enumerated, not drawn), and fixed cases run the multi-pass conv2d and dense
// forwards (with their epilogue) for every activation, so no run of CI misses one. The fetch
// budget itself is counted in the emitted shaders by fetch-budget.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { closeRows, glEngine, relErr, rowRtol, PROFILE_NAMES } from './helpers';
import * as cconv from '../../src/kernels/cpu/conv2d';
import * as cdense from '../../src/kernels/cpu/dense';
import * as cbias from '../../src/kernels/cpu/bias';
import * as cpool from '../../src/kernels/cpu/maxpool';
import * as cact from '../../src/kernels/cpu/activation';
import * as cxent from '../../src/kernels/cpu/softmax_xent';
import * as csgd from '../../src/kernels/cpu/sgd';
import type { Activation } from '../../src/kernels/engine';
import type { GlEngine } from '../../src/kernels/gl/engine';
import { conv2dBackwardInputDirect } from '../../src/kernels/conv2d';

// Sums of up to ~100 products of values in [-1,1] in float32, in another order than the twin:
// a few float32 roundings (6e-8 each) per term, relative to the sum's scale. relErr scales by
// the tensor's largest value, which is right for these sums (a sum's error is set by the size of
// its terms, not of its result); softmax outputs are checked per element instead.
const TOL = 2e-5;
const RUNS = 3;
const ACTS: Activation[] = ['none', 'tanh', 'relu'];
const vals = (n: number, seed: number, scale = 1) => {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return ((s / 2 ** 32) * 2 - 1) * scale; });
};
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
const convShape = fc.record({
  N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 4 }),
  H: fc.integer({ min: 5, max: 12 }), W: fc.integer({ min: 5, max: 12 }), K: fc.integer({ min: 1, max: 5 }),
  seed: fc.integer(),
});

function check(e: GlEngine, name: string, got: Float32Array, want: Float32Array, tol = TOL): void {
  const r = relErr(got, want);
  assert.ok(r <= tol, `${name} (${e.profile.name}): relative error ${r} > ${tol}`);
}

for (const profile of PROFILE_NAMES) {
  test(`conv2d forward, input gradient and filter gradient match the CPU twin (${profile})`, () => {
    const e = glEngine(profile);
    const one = ({ N, C, O, H, W, K, seed }: { N: number; C: number; O: number; H: number; W: number; K: number; seed: number }) => {
      const xs = [N, C, H, W], ws = [O, C, K, K], P = H - K + 1, Q = W - K + 1, ys = [N, O, P, Q];
      const x = vals(size(xs), seed), w = vals(size(ws), seed + 1, 0.5), b = vals(O, seed + 2, 0.2), dy = vals(size(ys), seed + 3);
      const [gx, gw, gb, gdy] = [e.tensor(xs, x), e.tensor(ws, w), e.tensor([O], b), e.tensor(ys, dy)];
      for (const act of ACTS) check(e, `conv2d C${C} K${K} ${act}`, e.read(e.conv2d(gx, gw, gb, act)), cconv.conv2d(x, xs, w, ws, b, act));
      const want = cconv.conv2dBackwardInput(dy, w, xs, ws);
      check(e, 'conv2dBackwardInput', e.read(e.conv2dBackwardInput(gdy, gw, xs)), want);
      check(e, 'conv2dBackwardInputDirect', e.read(conv2dBackwardInputDirect(e, gdy as never, gw as never, xs)), want);
      check(e, 'conv2dBackwardFilter', e.read(e.conv2dBackwardFilter(gx, gdy, ws)), cconv.conv2dBackwardFilter(x, xs, dy, ws));
      check(e, 'biasGrad', e.read(e.biasGrad(gdy)), cbias.biasGrad(dy, ys));
    };
    // C·K·K = 50 terms > 32: on vc4 the forward pass is split and the epilogue (bias, activation)
    // runs in the folding pass, for every activation
    one({ N: 2, C: 2, O: 3, H: 7, W: 6, K: 5, seed: 17 });
    fc.assert(fc.property(convShape, one), { numRuns: RUNS });
  });

  test(`dense and its two gradients match the CPU twin (${profile})`, () => {
    const e = glEngine(profile);
    fc.assert(fc.property(fc.record({
      N: fc.integer({ min: 1, max: 5 }), I: fc.integer({ min: 1, max: 90 }), O: fc.integer({ min: 1, max: 40 }),
      seed: fc.integer(),
    }), ({ N, I, O, seed }) => {
      const x = vals(N * I, seed), w = vals(I * O, seed + 1, 0.3), b = vals(O, seed + 2, 0.1), dy = vals(N * O, seed + 3);
      const [gx, gw, gb, gdy] = [e.tensor([N, I], x), e.tensor([I, O], w), e.tensor([O], b), e.tensor([N, O], dy)];
      for (const act of ACTS) check(e, `dense I${I} ${act}`, e.read(e.dense(gx, gw, gb, act)), cdense.dense(x, w, b, N, I, O, act));
      check(e, 'denseBackwardInput', e.read(e.denseBackwardInput(gdy, gw)), cdense.denseBackwardInput(dy, w, N, I, O));
      check(e, 'denseBackwardWeight', e.read(e.denseBackwardWeight(gx, gdy)), cdense.denseBackwardWeight(x, dy, N, I, O));
      check(e, 'biasGrad', e.read(e.biasGrad(gdy)), cbias.biasGrad(dy, [N, O]));
      // I = 70 > 32 terms: on vc4 the forward is split and its epilogue runs in the folding pass
    }), { numRuns: RUNS, examples: [[{ N: 2, I: 70, O: 5, seed: 3 }]] });
  });

  test(`max-pool, its gradient (ties included) and activation gradients match the CPU twin (${profile})`, () => {
    const e = glEngine(profile);
    fc.assert(fc.property(fc.record({
      N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), H2: fc.integer({ min: 1, max: 8 }), W2: fc.integer({ min: 1, max: 8 }),
      seed: fc.integer(),
    }), ({ N, C, H2, W2, seed }) => {
      for (const ties of [false, true]) {
        const xs = [N, C, 2 * H2, 2 * W2], ys = [N, C, H2, W2];
        // coarse values make ties common, so first-maximum routing is exercised
        const x = ties ? vals(size(xs), seed).map((v) => Math.round(v * 2)) : vals(size(xs), seed);
        const dy = vals(size(ys), seed + 1);
        const [gx, gdy] = [e.tensor(xs, x), e.tensor(ys, dy)];
        const gy = e.maxPool(gx), cy = cpool.maxPool(x, xs);
        check(e, 'maxPool', e.read(gy), cy, 0);
        check(e, 'maxPoolBackward', e.read(e.maxPoolBackward(gx, gy, gdy)), cpool.maxPoolBackward(x, xs, cy, dy), 0);
        for (const act of ['tanh', 'relu', 'none'] as Activation[]) {
          const y = cact.applyActivation(act, Float32Array.from(x));
          check(e, `activationBackward ${act}`, e.read(e.activationBackward(act, e.tensor(xs, y), gx)), cact.activationBackward(act, y, x));
        }
      }
    }), { numRuns: RUNS });
  });

  test(`softmax, softmax cross-entropy and the SGD update match the CPU twin (${profile})`, () => {
    const e = glEngine(profile);
    fc.assert(fc.property(fc.record({
      N: fc.integer({ min: 1, max: 6 }), K: fc.integer({ min: 2, max: 12 }), seed: fc.integer(), scale: fc.constantFrom(0.1, 3, 30),
      lr: fc.double({ min: 0.001, max: 0.5, noNaN: true }),
    }), ({ N, K, seed, scale, lr }) => {
      const z = vals(N * K, seed, scale);
      const t = new Float32Array(N * K);
      for (let n = 0; n < N; n++) t[n * K + ((seed >>> 0) + n) % K] = 1;
      const [gz, gt] = [e.tensor([N, K], z), e.tensor([N, K], t)];
      const s = e.softmaxCrossEntropy(gz, gt), c = cxent.softmaxCrossEntropy(z, t, N, K);
      // per element: a confident row's tiny loss must not hide behind another row's large one
      closeRows(e.read(s.losses), c.losses, rowRtol(z, N, K, 1), `softmaxCrossEntropy losses (${profile})`);
      closeRows(e.read(s.dLogits), c.dLogits, rowRtol(z, N, K, K), `softmaxCrossEntropy dLogits (${profile})`);
      closeRows(e.read(e.softmax(gz)), cxent.softmax(z, N, K), rowRtol(z, N, K, K), `softmax (${profile})`);
      for (const [mom, wd] of [[0, 0], [0, 1e-3], [0.9, 0], [0.9, 1e-3]]) {
        const w = vals(N * K, seed + 5), g = vals(N * K, seed + 6), v = vals(N * K, seed + 7, 0.1);
        const [gw, gg, gv] = [e.tensor([N * K], w), e.tensor([N * K], g), e.tensor([N * K], v)];
        const opts = { lr, momentum: mom, weightDecay: wd };
        e.sgdUpdate(gw, gg, mom > 0 ? gv : null, opts);
        const cw = Float32Array.from(w), cv = Float32Array.from(v);
        csgd.sgdUpdate(cw, g, mom > 0 ? cv : null, opts);
        check(e, 'sgdUpdate w', e.read(gw), cw, 1e-6);
        if (mom > 0) check(e, 'sgdUpdate v', e.read(gv), cv, 1e-6);
      }
    }), { numRuns: RUNS });
  });
}

test('vc4 splits a LeNet-sized reduction over passes and folds the partial sums', () => {
  const e = glEngine('vc4');
  const xs = [4, 1, 28, 28], ws = [3, 1, 5, 5], ys = [4, 3, 24, 24];
  const x = vals(size(xs), 11), dy = vals(size(ys), 12);
  const before = e.stats.passes;
  const got = e.read(e.conv2dBackwardFilter(e.tensor(xs, x), e.tensor(ys, dy), ws));
  // 4*24*24 = 2304 terms: 72 partials of 32 terms, folded 24 at a time to 3, then summed
  assert.equal(e.stats.passes - before, 3);
  check(e, 'conv2dBackwardFilter (LeNet conv1 shape)', got, cconv.conv2dBackwardFilter(x, xs, dy, ws));
});
