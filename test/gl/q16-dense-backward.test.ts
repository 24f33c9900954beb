// 16-bit dense backward (input gradient through fp32 uniform weights, weight and bias gradients as
// exact fp32 partial sums) against the CPU twin (cpu/dense.ts, cpu/bias.ts) on the values the GPU
// holds. GL tests fail (never skip) without a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stepExponent } from '../../src/kernels/gl/q16';
import { denseBackwardInputQ16, denseBackwardWeightQ16, disposeQ16, readQ16 } from '../../src/kernels/gl/q16/index';
import * as cdense from '../../src/kernels/cpu/dense';
import { biasGrad } from '../../src/kernels/cpu/bias';
import { lcg, randomQ16, vc4 } from './q16-helpers';

test('16-bit dense input gradient matches the CPU twin within its stated bound', () => {
  const g = vc4();
  for (const [N, I, O] of [[3, 8, 4], [5, 40, 10], [2, 6, 160]]) {
    const rnd = lcg(N * I * O), ey = -18;
    const { t: dy, v: dyv } = randomQ16(g, [N, O, 1, 1], 0.05, ey, rnd);
    const w = Float32Array.from({ length: I * O }, () => (rnd() * 2 - 1) * 0.1);
    const want = cdense.denseBackwardInput(dyv, w, N, I, O);
    const eOut = stepExponent(want.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 1);
    const dx = denseBackwardInputQ16(g, dy, w, [I, O], eOut, 7);
    assert.deepEqual(dx.shape, [N, I, 1, 1]);
    const got = readQ16(g, dx);
    assert.ok(got.codes.every((c) => c !== 0));
    let maxDy = 0;
    for (const v of dyv) maxDy = Math.max(maxDy, Math.abs(v));
    for (let i = 0; i < I; i++) {
      let sw = 0;
      for (let o = 0; o < O; o++) sw += Math.abs(w[i * O + o]);
      // as for the conv input gradient: one store step, dy's decode (0.01 step) times Σ|w[i,·]|, two fp32 O-term sums
      const bound = 2 ** eOut + 0.01 * 2 ** ey * sw + O * 2 ** -23 * maxDy * sw;
      for (let n = 0; n < N; n++) {
        const at = n * I + i;
        assert.ok(Math.abs(got.values[at] - want[at]) <= bound, `[${N},${I},${O}] dx[${at}] = ${got.values[at]}, twin ${want[at]}, bound ${bound}`);
      }
    }
    disposeQ16(g, dy); disposeQ16(g, dx);
  }
});

test('16-bit dense weight and bias gradients match the CPU twin within their stated bound', () => {
  const g = vc4();
  for (const [N, I, O, taps] of [[4, 6, 4, 64], [7, 10, 2, 2], [64, 20, 10, 64]]) {
    const rnd = lcg(N + I + O), ex = -14, ey = -20;
    const { t: x, v: xv } = randomQ16(g, [N, I, 1, 1], 1, ex, rnd);
    const { t: dy, v: dyv } = randomQ16(g, [N, O, 1, 1], 0.02, ey, rnd);
    const wantW = cdense.denseBackwardWeight(xv, dyv, N, I, O), wantB = biasGrad(dyv, [N, O]);
    const { dW, dB } = denseBackwardWeightQ16(g, x, dy, taps);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) {
      let sAB = 0, sA = 0, sB = 0;
      for (let n = 0; n < N; n++) { const a = Math.abs(xv[n * I + i]), b = Math.abs(dyv[n * O + o]); sAB += a * b; sA += a; sB += b; }
      // decodes within 0.01 step each; fp32: a chunk of `taps` taps (2 products each), the float32 result, the twin's N-term sum
      const bound = 0.01 * 2 ** ex * sB + 0.01 * 2 ** ey * sA + 1e-4 * N * 2 ** (ex + ey) + (2 * taps + N + 2) * 2 ** -24 * sAB;
      const k = i * O + o;
      assert.ok(Math.abs(dW[k] - wantW[k]) <= bound, `[${N},${I},${O}] dW[${k}] = ${dW[k]}, twin ${wantW[k]}, bound ${bound}`);
    }
    for (let o = 0; o < O; o++) {
      let sB = 0;
      for (let n = 0; n < N; n++) sB += Math.abs(dyv[n * O + o]);
      const bound = 0.0101 * N * 2 ** ey + (2 * taps + N + 2) * 2 ** -24 * sB;
      assert.ok(Math.abs(dB[o] - wantB[o]) <= bound, `dB[${o}] = ${dB[o]}, twin ${wantB[o]}, bound ${bound}`);
    }
    disposeQ16(g, x); disposeQ16(g, dy);
  }
});
