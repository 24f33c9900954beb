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
  const values = Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * amp);
  const { t, saturated } = uploadQ16(g, shape, values, e, rnd, layout);
  if (saturated) throw new Error(`randomQ16: ${saturated} values saturated at step 2^${e}`);
  return { t, v: readQ16(g, t).values };
}
