// CPU twin of src/kernels/conv2d.ts. N=batch, C=in channels, O=out channels, H,W=input side,
// K=kernel side, P=H-K+1, Q=W-K+1 (valid, stride 1). Layouts as in src/kernels/engine.ts.
import type { Activation } from '../engine';
import { applyActivation } from './activation';

export function conv2d(
  x: Float32Array, xShape: readonly number[], w: Float32Array, wShape: readonly number[],
  b: Float32Array, act: Activation,
): Float32Array {
  const [N, C, H, W] = xShape;
  const [O, , K] = wShape;
  const P = H - K + 1, Q = W - K + 1;
  const y = new Float32Array(N * O * P * Q);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let p = 0; p < P; p++)
        for (let q = 0; q < Q; q++) {
          let s = b[o];
          for (let c = 0; c < C; c++)
            for (let i = 0; i < K; i++)
              for (let j = 0; j < K; j++)
                s += x[((n * C + c) * H + p + i) * W + q + j] * w[((o * C + c) * K + i) * K + j];
          y[((n * O + o) * P + p) * Q + q] = s;
        }
  return applyActivation(act, y);
}

// dx(n,c,h,w) = Σ_o Σ_i Σ_j dy(n,o,h-i,w-j)·w(o,c,i,j) over the (h-i,w-j) that fall inside dy.
export function conv2dBackwardInput(
  dy: Float32Array, w: Float32Array, xShape: readonly number[], wShape: readonly number[],
): Float32Array {
  const [N, C, H, W] = xShape;
  const [O, , K] = wShape;
  const P = H - K + 1, Q = W - K + 1;
  const dx = new Float32Array(N * C * H * W);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++)
      for (let p = 0; p < P; p++)
        for (let q = 0; q < Q; q++) {
          const g = dy[((n * O + o) * P + p) * Q + q];
          for (let c = 0; c < C; c++)
            for (let i = 0; i < K; i++)
              for (let j = 0; j < K; j++)
                dx[((n * C + c) * H + p + i) * W + q + j] += g * w[((o * C + c) * K + i) * K + j];
        }
  return dx;
}

// dw(o,c,i,j) = Σ_n Σ_p Σ_q x(n,c,p+i,q+j)·dy(n,o,p,q)
export function conv2dBackwardFilter(
  x: Float32Array, xShape: readonly number[], dy: Float32Array, wShape: readonly number[],
): Float32Array {
  const [N, C, H, W] = xShape;
  const [O, , K] = wShape;
  const P = H - K + 1, Q = W - K + 1;
  const dw = new Float32Array(O * C * K * K);
  for (let o = 0; o < O; o++)
    for (let c = 0; c < C; c++)
      for (let i = 0; i < K; i++)
        for (let j = 0; j < K; j++) {
          let s = 0;
          for (let n = 0; n < N; n++)
            for (let p = 0; p < P; p++)
              for (let q = 0; q < Q; q++)
                s += x[((n * C + c) * H + p + i) * W + q + j] * dy[((n * O + o) * P + p) * Q + q];
          dw[((o * C + c) * K + i) * K + j] = s;
        }
  return dw;
}
