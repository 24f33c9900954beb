// Shared by the q16 kernel tests: a seeded generator and q16 tensors with random codes.
import { glEngine } from './helpers';
import type { GlEngine } from '../../src/kernels/gl/engine';
import { uploadQ16, readQ16, type Q16Layout, type Q16Tensor } from '../../src/kernels/gl/q16/index';

export const vc4 = (): GlEngine => glEngine('vc4');

export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

/** A q16 tensor of values uniform in (-amp, amp) at step 2^e, and the values the GPU holds (the twin's input). */
export function randomQ16(g: GlEngine, shape: number[], amp: number, e: number, rnd: () => number,
  layout: Q16Layout = 'channel-pairs'): { t: Q16Tensor; v: Float32Array } {
  const n = shape.reduce((a, b) => a * b, 1);
  // No farther out than the largest code, (2^15 - 1) steps: a value above it can round up past it,
  // which uploadQ16 reports as saturated and this helper refuses. At amp 1 and step 2^-15 that was
  // about one draw in 65,000 (CI at ca0c5fb: q16-conv1, {N 3, OP 1, H 9, K 1, seed 480172}; at 0587c21
  // q16-pointwise, seed 804230).
  const a = Math.min(amp, (2 ** 15 - 1) * 2 ** e);
  const values = Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * a);
  const { t, saturated } = uploadQ16(g, shape, values, e, rnd, layout);
  if (saturated) throw new Error(`randomQ16: ${saturated} values saturated at step 2^${e}`);
  return { t, v: readQ16(g, t).values };
}
