// Shared helpers of the CPU kernel tests: seeded random tensors, a closeness check that reports
// the worst element, and TensorFlow.js on its CPU backend (the independent reference).
import * as assert from 'node:assert/strict';
import { mulberry32 } from '../../src/net/lenet';

export function randArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * r();
  return a;
}

export function oneHotRandom(N: number, K: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const t = new Float32Array(N * K);
  for (let n = 0; n < N; n++) t[n * K + Math.floor(r() * K)] = 1;
  return t;
}

/** |a-b| <= atol + rtol·|b| elementwise; the message names the first offending index. */
export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= atol + rtol * Math.abs(b[i]))) {
      assert.fail(`${what}: index ${i} of ${a.length}: got ${a[i]}, want ${b[i]} (diff ${d})`);
    }
  }
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

let tfCache: typeof import('@tensorflow/tfjs') | null = null;
/** TensorFlow.js pinned to its pure-JS CPU backend, loaded once (its Node banner silenced). */
export async function tfCpu(): Promise<typeof import('@tensorflow/tfjs')> {
  if (tfCache) return tfCache;
  const log = console.log, warn = console.warn;
  console.log = () => {}; console.warn = () => {};
  try {
    const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    await tf.ready();
    tfCache = tf;
    return tf;
  } finally {
    console.log = log; console.warn = warn;
  }
}

/** NCHW <-> NHWC for tfjs, whose CPU conv kernels only take NHWC. */
export function nchwToNhwc(x: Float32Array, N: number, C: number, H: number, W: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
    y[((n * H + h) * W + w) * C + c] = x[((n * C + c) * H + h) * W + w];
  return y;
}
export function nhwcToNchw(x: Float32Array, N: number, C: number, H: number, W: number): Float32Array {
  const y = new Float32Array(x.length);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let w = 0; w < W; w++)
    y[((n * C + c) * H + h) * W + w] = x[((n * H + h) * W + w) * C + c];
  return y;
}
/** [O,C,K,K] -> [K,K,C,O] (tfjs filter layout) and back. */
export function ockkToKkco(w: Float32Array, O: number, C: number, K: number): Float32Array {
  const y = new Float32Array(w.length);
  for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++)
    y[((i * K + j) * C + c) * O + o] = w[((o * C + c) * K + i) * K + j];
  return y;
}
export function kkcoToOckk(w: Float32Array, O: number, C: number, K: number): Float32Array {
  const y = new Float32Array(w.length);
  for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++)
    y[((o * C + c) * K + i) * K + j] = w[((i * K + j) * C + c) * O + o];
  return y;
}
