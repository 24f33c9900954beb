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
