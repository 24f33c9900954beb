// 16-bit conv2d backward (input gradient, weight and bias gradients) against the CPU twin
// (cpu/conv2d.ts, cpu/bias.ts) run on the values the GPU holds. GL tests fail (never skip) without a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stepExponent } from '../../src/kernels/gl/q16';
import { conv2dBackwardFilterQ16, conv2dBackwardInputQ16, disposeQ16, readQ16 } from '../../src/kernels/gl/q16/index';
import * as cconv from '../../src/kernels/cpu/conv2d';
import { biasGrad } from '../../src/kernels/cpu/bias';
import { lcg, randomQ16, vc4 } from './q16-helpers';

test('16-bit conv input gradient (padded dy, flipped fp32 uniform weights) matches the CPU twin within its stated bound', () => {
  const g = vc4();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 2 }), CP: fc.integer({ min: 1, max: 2 }), OP: fc.integer({ min: 1, max: 3 }),
    H: fc.integer({ min: 5, max: 9 }), K: fc.integer({ min: 1, max: 5 }), seed: fc.integer({ min: 1, max: 1e6 }),
  }), ({ N, CP, OP, H, K, seed }) => {
    const C = 2 * CP, O = 2 * OP, W = H + 1, P = H - K + 1, Q = W - K + 1, rnd = lcg(seed), ey = -16;
    const { t: dy, v: dyv } = randomQ16(g, [N, O, P, Q], 0.4, ey, rnd);
    const w = Float32Array.from({ length: O * C * K * K }, () => (rnd() * 2 - 1) * 0.4);
    const want = cconv.conv2dBackwardInput(dyv, w, [N, C, H, W], [O, C, K, K]);
    const eOut = stepExponent(want.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 1);
    const before = g.stats.fetches;
    const dx = conv2dBackwardInputQ16(g, dy, w, [O, C, K, K], [N, C, H, W], eOut, seed % 1000);
    const padFetches = K > 1 ? N * O / 2 * (P + 2 * K - 2) * (Q + 2 * K - 2) : 0;
    assert.equal(g.stats.fetches - before, padFetches + N * CP * H * W * OP * K * K, 'fetches: pad once a texel, then one a tap per input-channel pair');
    const got = readQ16(g, dx);
    assert.ok(got.codes.every((c) => c !== 0), 'a store saturated with headroom 1');
    let maxDy = 0;
    for (const v of dyv) maxDy = Math.max(maxDy, Math.abs(v));
    // Bound, per value of dx[n,c]: one step 2^eOut (stochastic store); the decode of dy, within 0.01
    // of a step (wgrad.ts derives 0.008), times Σ|w[·,c]|; fp32 accumulation of O·K·K terms on the GPU
    // and again in the twin, 2·OKK·2^-24·Σ|w·dy| <= OKK·2^-23·max|dy|·Σ|w[·,c]|.
    const OKK = O * K * K;
    for (let c = 0; c < C; c++) {
      let sw = 0;
      for (let o = 0; o < O; o++) for (let k = 0; k < K * K; k++) sw += Math.abs(w[(o * C + c) * K * K + k]);
      const bound = 2 ** eOut + 0.01 * 2 ** ey * sw + OKK * 2 ** -23 * maxDy * sw;
      for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) {
        const at = (n * C + c) * H * W + i;
        assert.ok(Math.abs(got.values[at] - want[at]) <= bound, `dx[${at}] = ${got.values[at]}, twin ${want[at]}, bound ${bound}`);
      }
    }
    disposeQ16(g, dy); disposeQ16(g, dx);
  }), { numRuns: 6 });
});

/** |got - want| within the bound stated in the test below, for each weight. */
function checkGrad(name: string, got: Float32Array, want: Float32Array, terms: (k: number) => { sAB: number; sA: number; sB: number; n: number },
  ex: number, ey: number, taps: number): void {
  for (let k = 0; k < want.length; k++) {
    const { sAB, sA, sB, n } = terms(k);
    // decode of each operand within 0.01 of its step: |Δ(ab)| <= 0.01·2^ex·|b| + 0.01·2^ey·|a| + 1e-4·2^(ex+ey);
    // fp32 accumulation: a chunk of `taps` taps (2 products each) on the GPU, the float32 result,
    // and the twin's n-term fp32 sum: (2·taps + n + 2)·2^-24·Σ|ab|.
    const bound = 0.01 * 2 ** ex * sB + 0.01 * 2 ** ey * sA + 1e-4 * n * 2 ** (ex + ey) + (2 * taps + n + 2) * 2 ** -24 * sAB;
    assert.ok(Math.abs(got[k] - want[k]) <= bound, `${name}[${k}] = ${got[k]}, twin ${want[k]}, bound ${bound}`);
  }
}

test('16-bit conv weight and bias gradients (batch pairs, exact fp32 partials) match the CPU twin within their stated bound', () => {
  const g = vc4();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 5 }), C: fc.integer({ min: 1, max: 3 }), OP: fc.integer({ min: 1, max: 2 }),
    H: fc.integer({ min: 4, max: 9 }), K: fc.integer({ min: 1, max: 4 }), taps: fc.constantFrom(4, 16, 64, 128),
    // dy of a few codes too: partial sums near 1 code², whose float32 exponent the packing must get right
    dyAmp: fc.constantFrom(0.1, 2 ** -15), seed: fc.integer({ min: 1, max: 1e6 }),
  }), ({ N, C, OP, H, K, taps, dyAmp, seed }) => {
    const O = 2 * OP, Cx = C + (C & 1), W = H + 2, P = H - K + 1, Q = W - K + 1, rnd = lcg(seed), ex = -14, ey = -18;
    // x holds Cx >= C channels (even), as conv1's input padded to 2 does; the kernel reads the first C
    const { t: x, v: xvAll } = randomQ16(g, [N, Cx, H, W], 1, ex, rnd);
    const { t: dy, v: dyv } = randomQ16(g, [N, O, P, Q], dyAmp, ey, rnd);
    const xv = new Float32Array(N * C * H * W);
    for (let n = 0; n < N; n++) xv.set(xvAll.subarray(n * Cx * H * W, (n * Cx + C) * H * W), n * C * H * W);
    const wantW = cconv.conv2dBackwardFilter(xv, [N, C, H, W], dyv, [O, C, K, K]);
    const wantB = biasGrad(dyv, [N, O, P, Q]);
    const { dW, dB } = conv2dBackwardFilterQ16(g, x, dy, [O, C, K, K], taps);
    checkGrad('dW', dW, wantW, (k) => {
      const j = k % K, i = Math.floor(k / K) % K, c = Math.floor(k / (K * K)) % C, o = Math.floor(k / (C * K * K));
      let sAB = 0, sA = 0, sB = 0;
      for (let n = 0; n < N; n++) for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) {
        const a = Math.abs(xv[((n * C + c) * H + p + i) * W + q + j]), b = Math.abs(dyv[((n * O + o) * P + p) * Q + q]);
        sAB += a * b; sA += a; sB += b;
      }
      return { sAB, sA, sB, n: N * P * Q };
    }, ex, ey, taps);
    // dB: the x operand is exactly 1 (Σ|a| = n, no decode error of its own), so only dy's decode and the sums count
    checkGrad('dB', dB, wantB, (o) => {
      let sB = 0;
      for (let n = 0; n < N; n++) for (let k = 0; k < P * Q; k++) sB += Math.abs(dyv[(n * O + o) * P * Q + k]);
      return { sAB: sB, sA: N * P * Q, sB: 0, n: N * P * Q };
    }, 0, ey, taps);
    disposeQ16(g, x); disposeQ16(g, dy);
  }), { numRuns: 10 });
});
