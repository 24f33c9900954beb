// 16-bit activation gradient, max-pool forward/backward and softmax cross-entropy against their CPU
// twins (cpu/activation.ts, cpu/maxpool.ts, cpu/softmax_xent.ts) on the values the GPU holds.
// GL tests fail (never skip) without a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stepExponent } from '../../src/kernels/gl/q16';
import { activationBackwardQ16, disposeQ16, maxPoolBackwardQ16, maxPoolQ16, readQ16, softmaxCrossEntropyQ16, uploadQ16 } from '../../src/kernels/gl/q16/index';
import { activationBackward } from '../../src/kernels/cpu/activation';
import * as cpool from '../../src/kernels/cpu/maxpool';
import { softmaxCrossEntropy } from '../../src/kernels/cpu/softmax_xent';
import type { Activation } from '../../src/kernels/engine';
import { lcg, randomQ16, vc4 } from './q16-helpers';

test('16-bit activation gradient (tanh, relu, none) matches the CPU twin within its stated bound', () => {
  const g = vc4();
  fc.assert(fc.property(fc.constantFrom<Activation>('tanh', 'relu', 'none'), fc.integer({ min: 1, max: 1e6 }), (act, seed) => {
    const rnd = lcg(seed), shape = [2, 4, 5, 3], ey = -15, ed = -20;
    const { t: y, v: yv } = randomQ16(g, shape, 1, ey, rnd);
    const { t: dy, v: dyv } = randomQ16(g, shape, 0.01, ed, rnd);
    const want = activationBackward(act, yv, dyv);
    const eOut = stepExponent(want.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 1);
    const got = readQ16(g, activationBackwardQ16(g, act, y, dy, eOut, seed % 997));
    for (let i = 0; i < want.length; i++) {
      // one step of the stochastic store; the decodes, within 0.01 of a step each (wgrad.ts):
      // dy's times |f'(y)| <= 1, y's times |d f'/dy|·|dy| = 2|y||dy| (tanh); fp32 products, 4·2^-24 relative
      const bound = 2 ** eOut + 0.01 * 2 ** ed + (act === 'tanh' ? 0.01 * 2 ** ey * 2 * Math.abs(yv[i] * dyv[i]) : 0) + 4 * 2 ** -24 * Math.abs(dyv[i]);
      assert.ok(Math.abs(got.values[i] - want[i]) <= bound, `${act} dz[${i}] = ${got.values[i]}, twin ${want[i]}, bound ${bound}`);
    }
    assert.ok(got.codes.every((c) => c !== 0));
  }), { numRuns: 6 });
});

test('16-bit max-pool forward and backward equal the CPU twin exactly, ties to the first maximum', () => {
  const g = vc4();
  fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 1e6 }), (N, CP, S, seed) => {
    const rnd = lcg(seed), shape = [N, 2 * CP, 2 * S, 2 * S + 2], e = -10;
    // few distinct values, so that windows hold ties, negative and positive
    const xv = Float32Array.from({ length: N * 2 * CP * 2 * S * (2 * S + 2) }, () => (Math.floor(rnd() * 5) - 2) * 2 ** e);
    const { t: x } = uploadQ16(g, shape, xv, e, rnd);
    const y = maxPoolQ16(g, x), yv = readQ16(g, y).values;
    const want = cpool.maxPool(xv, shape);
    assert.deepEqual(yv, want);
    assert.equal(y.e, e);
    const { t: dy, v: dyv } = randomQ16(g, y.shape.slice(), 1, -13, rnd);
    const dx = readQ16(g, maxPoolBackwardQ16(g, x, dy));
    assert.deepEqual(dx.values, cpool.maxPoolBackward(xv, shape, want, dyv));
    assert.ok(dx.codes.every((c) => c !== 0));
    disposeQ16(g, x); disposeQ16(g, y); disposeQ16(g, dy);
  }), { numRuns: 8 });
});

test('softmax cross-entropy from q16 logits: the twin\'s loss exactly, dLogits stored within one step', () => {
  const g = vc4();
  const N = 6, K = 10, rnd = lcg(5);
  const { t: z, v: zv } = randomQ16(g, [N, K, 1, 1], 8, -10, rnd);
  const labels = Array.from({ length: N }, (_, n) => (n * 7) % K);
  const onehot = new Float32Array(N * K);
  labels.forEach((l, n) => { onehot[n * K + l] = 1; });
  const want = softmaxCrossEntropy(zv, onehot, N, K);
  const r = softmaxCrossEntropyQ16(g, z, labels, 3);
  assert.deepEqual(r.losses, want.losses);
  assert.deepEqual(r.dLogitsHost, want.dLogits);
  let mean = 0;
  for (const l of want.losses) mean += l / N;
  assert.ok(Math.abs(r.loss - mean) <= 1e-12 * N);
  const got = readQ16(g, r.dLogits).values, step = 2 ** r.dLogits.e;
  assert.ok(Math.max(...want.dLogits.map(Math.abs)) * 2 <= 32767 * step, 'headroom 1');
  for (let i = 0; i < N * K; i++) assert.ok(Math.abs(got[i] - want.dLogits[i]) < step, `dLogits[${i}] = ${got[i]}, exact ${want.dLogits[i]}`);
  assert.throws(() => softmaxCrossEntropyQ16(g, z, labels.map(() => 10), 3), /label 10 of sample 0 is not a class of 10/);
});
