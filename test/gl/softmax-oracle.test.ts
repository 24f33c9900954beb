// The GL softmax and softmax cross-entropy against the independent float64 oracle
// (test/kernels/softmax-ref.ts), element by element, in both profiles, on large-margin rows whose
// losses (down to 4e-17) sit far below the ulp of the batch's largest loss.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glEngine, PROFILE_NAMES } from './helpers';
import { hardRows, softmaxRef, softmaxXentRef } from '../kernels/softmax-ref';

// Tolerances, per element. The GL kernels compute in float32 throughout: exp(z - m) by exact range
// reduction and a degree-9 polynomial (< 2e-9 truncation), reciprocal by Newton-Raphson, log1p by
// an atanh series; every step adds about one float32 rounding (6e-8). A probability passes through
// exp, a K-term sum and a reciprocal, a loss through those plus log1p: about 10 roundings along the
// longest chain, so 1e-6 relative; softmax_xent.ts measured 7e-4 at a loss of 1e-3 for the
// formulation it replaced, which this bound would catch by almost three orders of magnitude. The
// absolute floor is float32's smallest normal (2^-126): the packing flushes subnormals to zero.
// On top of that, precExp's range reduction rounds x·log2(e) to float32 before splitting off the
// integer part, an error of |x|·log2(e)·2^-24 in the exponent and so |x|·2^-24 relative in e^x
// (measured: 1.27e-6 relative at x = -30, on both profiles). Each row's tolerance therefore grows
// with its spread max(z) - min(z): 2^-23 per unit, twice the bound, for the rounding of the
// products around it. At a spread of 40 that is 5.8e-6, still 100x below the 7e-4 above.
const RTOL = 1e-6, ATOL = 2 ** -126;
const rowRtol = (z: Float32Array, N: number, K: number, perRow: number): Float64Array => {
  const out = new Float64Array(N * perRow);
  for (let n = 0; n < N; n++) {
    const row = z.subarray(n * K, n * K + K);
    const spread = Math.max(...row) - Math.min(...row);
    out.fill(RTOL + spread * 2 ** -23, n * perRow, (n + 1) * perRow);
  }
  return out;
};
/** |got - want| <= ATOL + rtol[i]·|want| for every i; names the first element that is off. */
function closeRows(got: Float32Array, want: Float64Array, rtol: Float64Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= ATOL + rtol[i] * Math.abs(want[i]))) assert.fail(`${what}: index ${i}: got ${got[i]}, want ${want[i]} (relative ${d / Math.abs(want[i])}, allowed ${rtol[i]})`);
  }
}

for (const profile of PROFILE_NAMES) {
  test(`softmax and cross-entropy on large-margin, tied and mixed rows match the float64 oracle per element (${profile})`, () => {
    const e = glEngine(profile);
    const { z, t, N, K } = hardRows();
    const zt = e.tensor([N, K], z), tt = e.tensor([N, K], t);
    const r = e.softmaxCrossEntropy(zt, tt);
    const ref = softmaxXentRef(z, t, N, K);
    const losses = e.read(r.losses);
    closeRows(losses, ref.losses, rowRtol(z, N, K, 1), `${profile}: losses`);
    closeRows(e.read(r.dLogits), ref.dLogits, rowRtol(z, N, K, K), `${profile}: dLogits`);
    closeRows(e.read(e.softmax(zt)), softmaxRef(z, N, K), rowRtol(z, N, K, K), `${profile}: softmax`);
    // the smallest loss in the batch must be there at all, not flushed to 0 by the row of ~30
    assert.ok(Math.min(...losses) > 0, `${profile}: a confident row's loss came back as 0`);
  });
}
