// q16 dense layers, forward and backward, as 1x1 convolutions over [N, I, 1, 1] (conv2d.ts), so one
// fetch serves 4 multiply-adds. CPU twin: cpu/dense.ts on the decoded inputs.
import type { Activation } from '../../engine';
import type { GlEngine } from '../engine';
import { conv2dBackwardFilterQ16, conv2dQ16 } from './conv2d';
import { Q16Tensor } from './tensor';

/**
 * dense on q16: x [N, I] (I even) held as [N, I, 1, 1], weights [I, O] and bias [O] as fp32 host
 * arrays, O even: a 1x1 convolution with the weights transposed on the host, so one fetch serves
 * 4 multiply-adds here too. Per draw I/2 vec4 uniforms (LeNet's dense1: 400).
 */
export function denseQ16(g: GlEngine, x: Q16Tensor, w: Float32Array, wShape: readonly number[], b: Float32Array,
  act: Activation, eOut: number, seed: number): Q16Tensor {
  const [I, O] = wShape, [N] = x.shape;
  if (x.size !== N * I) throw new Error(`denseQ16: input [${x.shape}] does not match weights [${wShape}]`);
  const wT = new Float32Array(I * O);
  for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) wT[o * I + i] = w[i * O + o];
  const x4 = new Q16Tensor([N, I, 1, 1], x.e, x.ref);
  const y = conv2dQ16(g, x4, wT, [O, I, 1, 1], b, act, eOut, seed);
  return new Q16Tensor([N, O, 1, 1], y.e, y.ref);
}


/** dx [N,I,1,1] = dy [N,O,1,1]·wᵀ: a 1x1 conv2dQ16 whose weights [I,O] are already [out I][in O]. */
export function denseBackwardInputQ16(g: GlEngine, dy: Q16Tensor, w: Float32Array, wShape: readonly number[], eOut: number, seed: number): Q16Tensor {
  const [I, O] = wShape, [N] = dy.shape;
  if (dy.size !== N * O) throw new Error(`denseBackwardInputQ16: dy [${dy.shape}] does not match weights [${wShape}]`);
  return conv2dQ16(g, new Q16Tensor([N, O, 1, 1], dy.e, dy.ref), w, [I, O, 1, 1], new Float32Array(I), 'none', eOut, seed);
}

/** dW [I,O] = xᵀ·dy and dB [O] = Σ_n dy in fp32 (wgrad.ts: batch pairs, exact partial sums). */
export function denseBackwardWeightQ16(g: GlEngine, x: Q16Tensor, dy: Q16Tensor, taps = 128): { dW: Float32Array; dB: Float32Array } {
  const [N] = x.shape, I = x.size / N, O = dy.size / N;
  const x4 = new Q16Tensor([N, I, 1, 1], x.e, x.ref), dy4 = new Q16Tensor([N, O, 1, 1], dy.e, dy.ref);
  const { dW: dWt, dB } = conv2dBackwardFilterQ16(g, x4, dy4, [O, I, 1, 1], taps);
  const dW = new Float32Array(I * O);
  for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) dW[i * O + o] = dWt[o * I + i];
  return { dW, dB };
}
