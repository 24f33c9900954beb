// Shared by the GL tests. No context is a FAILURE with the reason, never a skip: CI runs these
// under xvfb-run, and a GPU suite that quietly skips proves nothing.
import assert from 'node:assert/strict';
import { GlEngine } from '../../src/kernels/gl/engine';
import type { ProfileName } from '../../src/kernels/gl/profile';

const engines = new Map<ProfileName, GlEngine>();

export function glEngine(profile: ProfileName): GlEngine {
  const hit = engines.get(profile);
  if (hit) return hit;
  let e: GlEngine;
  try {
    e = GlEngine.create({ profile });
  } catch (err) {
    assert.fail(`no GL context for the GL tests: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
  engines.set(profile, e);
  return e;
}

/** Largest |a-b| relative to the largest |b| (floored at 1e-30). */
export function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let scale = 1e-30, err = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    err = Math.max(err, Number.isNaN(d) ? Infinity : d);
  }
  return err / scale;
}

export const PROFILE_NAMES: ProfileName[] = ['vc4', 'desktop'];

// Tolerances of the softmax kernels, per element. The GL kernels compute in float32 throughout:
// exp(z - m) by range reduction and a degree-9 polynomial (< 2e-9 truncation), reciprocal by Newton-Raphson, log1p by
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
export const SOFTMAX_RTOL = 1e-6, SOFTMAX_ATOL = 2 ** -126;
/** Per-element relative tolerance of softmax-like outputs, perRow values per row of z [N,K]. */
export const rowRtol = (z: Float32Array, N: number, K: number, perRow: number): Float64Array => {
  const out = new Float64Array(N * perRow);
  for (let n = 0; n < N; n++) {
    const row = z.subarray(n * K, n * K + K);
    const spread = Math.max(...row) - Math.min(...row);
    out.fill(SOFTMAX_RTOL + spread * 2 ** -23, n * perRow, (n + 1) * perRow);
  }
  return out;
};
/** |got - want| <= SOFTMAX_ATOL + rtol[i]·|want| for every i; names the first element that is off. */
export function closeRows(got: Float32Array, want: ArrayLike<number>, rtol: Float64Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= SOFTMAX_ATOL + rtol[i] * Math.abs(want[i]))) assert.fail(`${what}: index ${i}: got ${got[i]}, want ${want[i]} (relative ${d / Math.abs(want[i])}, allowed ${rtol[i]})`);
  }
}

