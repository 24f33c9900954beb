// Shared by the GL tests. No context is a FAILURE with the reason, never a skip: CI runs these
// under xvfb-run, and a GPU suite that quietly skips proves nothing.
import assert from 'node:assert/strict';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import type { Activation, Engine } from '../../src/kernels/engine';
import { GlEngine } from '../../src/kernels/gl/engine';
import type { ProfileName } from '../../src/kernels/gl/profile';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import { paramOffsets } from '../../src/net/spec';

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


/** n random images with labels, the same for a seed. */
export function batch(n: number, seed: number): { images: Float32Array; labels: number[] } {
  const rnd = mulberry32(seed);
  return { images: Float32Array.from({ length: n * 784 }, () => rnd()), labels: Array.from({ length: n }, () => Math.floor(rnd() * 10)) };
}

/** Asserts that one LeNet step's gradients on `e` (a batch of 4) match the CPU engine's: per
 *  parameter tensor, relErr <= tol. */
export function assertStepGradients(e: Engine, act: Activation, tol: number): void {
  const { images, labels } = batch(4, 5);
  const params = initParams(5);
  const g = new LeNet(e, params, act, 0), c = new LeNet(new CpuEngine(), params, act, 0);
  const a = g.gradients(images, labels), b = c.gradients(images, labels);
  g.destroy();
  c.destroy();
  for (const p of paramOffsets()) {
    const r = relErr(a.subarray(p.offset, p.offset + p.size), b.subarray(p.offset, p.offset + p.size));
    assert.ok(r <= tol, `${p.name} gradient relative error ${r}`);
  }
}

/** Asserts that ten SGD steps (momentum 0.9, batches of 8) on `e` and on the CPU engine give each
 *  step's loss within lossTol and the parameters' change within relErr changeTol. The change, not
 *  the parameters: an engine that did nothing could not pass on the shared start. */
export function assertTenSteps(e: Engine, act: Activation, lossTol: number, changeTol: number): void {
  const p0 = initParams(9);
  const g = new LeNet(e, p0, act, 0.9), c = new LeNet(new CpuEngine(), p0, act, 0.9);
  const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 };
  for (let s = 0; s < 10; s++) {
    const { images, labels } = batch(8, 100 + s);
    const lg = g.step(images, labels, sgd).loss, lc = c.step(images, labels, sgd).loss;
    assert.ok(Math.abs(lg - lc) <= lossTol, `step ${s}: loss ${lg} vs ${lc}`);
  }
  const pg = g.getParams(), pc = c.getParams();
  const dg = pg.map((v, i) => v - p0[i]), dc = pc.map((v, i) => v - p0[i]);
  assert.ok(dc.some((v) => v !== 0), 'the CPU run changed the parameters');
  assert.ok(relErr(dg, dc) <= changeTol, `parameter change after 10 steps: relative error ${relErr(dg, dc)}`);
  g.destroy();
  c.destroy();
}
