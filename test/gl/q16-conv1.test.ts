// conv1 on q16 without a zero channel: a one-channel input uploaded in x-pairs (a texel holds columns
// w and w+1), so one fetch serves two taps of a row, against the CPU twin (cpu/conv2d.ts) on the
// values the GPU holds. GL tests fail (never skip) without a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stepExponent } from '../../src/kernels/gl/q16';
import { conv2dQ16, disposeQ16, readQ16 } from '../../src/kernels/gl/q16/index';
import * as cconv from '../../src/kernels/cpu/conv2d';
import type { Activation } from '../../src/kernels/engine';
import { lcg, randomQ16, vc4 } from './q16-helpers';

test('x-pairs hold each column once as a first value and once as its left neighbour\'s second; zero past the edge', () => {
  const g = vc4();
  const shape = [2, 1, 3, 5];
  const { t, v } = randomQ16(g, shape, 1, -12, lcg(4), 'x-pairs');
  const bytes = g.readRect(t.ref);
  const code = (texel: number, half: number) => (bytes[4 * texel + 2 * half] << 8) | bytes[4 * texel + 2 * half + 1];
  const back = readQ16(g, t).codes;
  for (let r = 0; r < 6; r++) for (let w = 0; w < 5; w++) {
    assert.equal(code(r * 5 + w, 0), back[r * 5 + w]);
    assert.equal(code(r * 5 + w, 1), w < 4 ? back[r * 5 + w + 1] : 32768);
  }
  assert.equal(v.length, 30);
  disposeQ16(g, t);
});

test('16-bit conv1 on x-pairs matches the CPU twin within its stated bound, with ceil(K/2) fetches a row', () => {
  const g = vc4();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 3 }), OP: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 5, max: 10 }),
    K: fc.integer({ min: 1, max: 5 }), seed: fc.integer({ min: 1, max: 1e6 }), act: fc.constantFrom<Activation>('none', 'tanh', 'relu'),
  }), ({ N, OP, H, K, seed, act }) => {
    const O = 2 * OP, W = H + 2, P = H - K + 1, Q = W - K + 1, rnd = lcg(seed), ex = -15;
    const { t: x, v: xv } = randomQ16(g, [N, 1, H, W], 1, ex, rnd, 'x-pairs');
    const w = Float32Array.from({ length: O * K * K }, () => (rnd() * 2 - 1) * 0.5);
    const b = Float32Array.from({ length: O }, () => (rnd() * 2 - 1) * 0.2);
    const want = cconv.conv2d(xv, [N, 1, H, W], w, [O, 1, K, K], b, act);
    const eOut = stepExponent(want.reduce((m, y) => Math.max(m, Math.abs(y)), 0), 1);
    const before = g.stats.fetches;
    const y = conv2dQ16(g, x, w, [O, 1, K, K], b, act, eOut, seed % 1000);
    assert.equal(g.stats.fetches - before, N * OP * P * Q * K * Math.ceil(K / 2));
    const got = readQ16(g, y);
    assert.ok(got.codes.every((c) => c !== 0));
    // as for the channel-pair conv (vc4-16bit.test.ts): one store step, the decode (0.01 step) times
    // Σ|w|, two fp32 K·K-term sums, tanh16's 1.5e-5
    for (let o = 0; o < O; o++) {
      let sw = 0;
      for (let k = 0; k < K * K; k++) sw += Math.abs(w[o * K * K + k]);
      const bound = 2 ** eOut + 0.01 * 2 ** ex * sw + K * K * 2 ** -23 * sw + (act === 'tanh' ? 1.5e-5 : 0);
      for (let n = 0; n < N; n++) for (let i = 0; i < P * Q; i++) {
        const at = (n * O + o) * P * Q + i;
        assert.ok(Math.abs(got.values[at] - want[at]) <= bound, `y[${at}] = ${got.values[at]}, twin ${want[at]}, bound ${bound}`);
      }
    }
    disposeQ16(g, x); disposeQ16(g, y);
  }), { numRuns: 8 });
});
