// CPU twin of src/kernels/dense.ts. x [N,I], w [I,O], b [O]; y = act(x·w + b).
import type { Activation } from '../engine';
import { applyActivation } from './activation';

export function dense(
  x: Float32Array, w: Float32Array, b: Float32Array, N: number, I: number, O: number, act: Activation,
): Float32Array {
  const y = new Float32Array(N * O);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < O; o++) y[n * O + o] = b[o];
    for (let i = 0; i < I; i++) {
      const xv = x[n * I + i];
      for (let o = 0; o < O; o++) y[n * O + o] += xv * w[i * O + o];
    }
  }
  return applyActivation(act, y);
}

// dx = dy·wᵀ  [N,I]
export function denseBackwardInput(dy: Float32Array, w: Float32Array, N: number, I: number, O: number): Float32Array {
  const dx = new Float32Array(N * I);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < I; i++) {
      let s = 0;
      for (let o = 0; o < O; o++) s += dy[n * O + o] * w[i * O + o];
      dx[n * I + i] = s;
    }
  return dx;
}

// dw = xᵀ·dy  [I,O]
export function denseBackwardWeight(x: Float32Array, dy: Float32Array, N: number, I: number, O: number): Float32Array {
  const dw = new Float32Array(I * O);
  for (let n = 0; n < N; n++)
    for (let i = 0; i < I; i++) {
      const xv = x[n * I + i];
      for (let o = 0; o < O; o++) dw[i * O + o] += xv * dy[n * O + o];
    }
  return dw;
}
