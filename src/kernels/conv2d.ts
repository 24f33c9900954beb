// GL kernels for conv2d (valid, stride 1) and its two gradients. Each output element is a
// reduction; reduce() splits it over passes when the profile's fetch budget requires.
// CPU twin: cpu/conv2d.ts. Index names follow it: N,C,H,W input; O,K filters; P,Q output side.
import type { Activation } from './engine';
import { actGlsl } from './activation';
import { decompose, glf, reduce } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function conv2d(r: GlRunner, x: GlTensor, w: GlTensor, b: GlTensor, act: Activation): GlTensor {
  const [N, C, H, W] = x.shape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1, CKK = C * K * K;
  return reduce(r, {
    name: `conv2d:${act}`, outShape: [N, O, P, Q], L: CKK,
    inputs: [{ name: 'x', t: x }, { name: 'w', t: w }],
    pre: `${decompose('i', ['n', 'o', 'p', 'q'], [N, O, P, Q])}
  float xb = n * ${glf(C * H * W)} + p * ${glf(W)} + q; float wb = o * ${glf(CKK)};`,
    term: `${decompose('k', ['c', 'ki', 'kj'], [C, K, K])}
    float t = fetch_x(xb + c * ${glf(H * W)} + ki * ${glf(W)} + kj) * fetch_w(wb + k);`,
    termFetches: 2,
    epilogue: {
      inputs: [{ name: 'b', t: b }],
      pre: `float oc = idiv(i, ${glf(1 / (P * Q))}); oc -= idiv(oc, ${glf(1 / O)}) * ${glf(O)};`,
      expr: actGlsl(act, 's + fetch_b(oc)'), fetches: 1,
    },
  });
}

// dx(n,c,h,w) = Σ_{o,i,j} dy(n,o,h-i,w-j)·w(o,c,i,j) over taps that land inside dy.
export function conv2dBackwardInput(r: GlRunner, dy: GlTensor, w: GlTensor, xShape: readonly number[]): GlTensor {
  const [N, C, H, W] = xShape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1;
  return reduce(r, {
    name: 'conv2dBackwardInput', outShape: xShape, L: O * K * K,
    inputs: [{ name: 'dy', t: dy }, { name: 'w', t: w }],
    pre: decompose('i', ['n', 'c', 'h', 'x'], [N, C, H, W]),
    term: `${decompose('k', ['o', 'ki', 'kj'], [O, K, K])}
    float ph = h - ki, qw = x - kj;
    float inside = (ph >= 0.0 && ph < ${glf(P)} && qw >= 0.0 && qw < ${glf(Q)}) ? 1.0 : 0.0;
    ph = clamp(ph, 0.0, ${glf(P - 1)}); qw = clamp(qw, 0.0, ${glf(Q - 1)});
    float t = inside * fetch_dy(((n * ${glf(O)} + o) * ${glf(P)} + ph) * ${glf(Q)} + qw)
                     * fetch_w(((o * ${glf(C)} + c) * ${glf(K)} + ki) * ${glf(K)} + kj);`,
    termFetches: 2,
  });
}

// dw(o,c,i,j) = Σ_{n,p,q} x(n,c,p+i,q+j)·dy(n,o,p,q)
export function conv2dBackwardFilter(r: GlRunner, x: GlTensor, dy: GlTensor, wShape: readonly number[]): GlTensor {
  const [N, C, H, W] = x.shape, [O, , K] = wShape;
  const P = H - K + 1, Q = W - K + 1;
  return reduce(r, {
    name: 'conv2dBackwardFilter', outShape: wShape, L: N * P * Q,
    inputs: [{ name: 'x', t: x }, { name: 'dy', t: dy }],
    pre: decompose('i', ['o', 'c', 'ki', 'kj'], [O, C, K, K]),
    term: `${decompose('k', ['n', 'p', 'q'], [N, P, Q])}
    float t = fetch_x(((n * ${glf(C)} + c) * ${glf(H)} + p + ki) * ${glf(W)} + q + kj)
            * fetch_dy(((n * ${glf(O)} + o) * ${glf(P)} + p) * ${glf(Q)} + q);`,
    termFetches: 2,
  });
}
