// GL: conv2d.ts  twin: cpu/conv2d.ts  fast: cpu/kernels.wat im2col/im2colT/col2im+gemm via cpu/ops.ts OP_CONV_*
// tests: test/gl/kernels.test.ts, test/kernels/{cpu-engine,naive-fd,naive-tfjs}.test.ts
// GL kernels for conv2d (valid, stride 1) and its two gradients. Each output element is a
// reduction; reduce() splits it over passes when the profile's fetch budget requires.
// Index names follow the CPU twin: N,C,H,W input; O,K filters; P,Q output side.
import type { Activation } from './engine';
import { actGlsl } from './activation';
import { glf } from './gl/glsl';
import { decompose, reduce } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function conv2d(r: GlRunner, x: GlTensor, w: GlTensor, b: GlTensor, act: Activation): GlTensor {
  const [N, C, H, W] = x.shape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1, CKK = C * K * K;
  return reduce(r, {
    name: `conv2d:${act}`, outShape: [N, O, P, Q], L: CKK,
    inputs: [{ name: 'x', t: x }, { name: 'w', t: w }],
    termFetches: 2,
    epilogue: { inputs: [{ name: 'b', t: b }], fetches: 1 },
    glsl: () => ({
      pre: `${decompose('i', ['n', 'o', 'p', 'q'], [N, O, P, Q])}
  float xb = n * ${glf(C * H * W)} + p * ${glf(W)} + q; float wb = o * ${glf(CKK)};`,
      term: `${decompose('k', ['c', 'ki', 'kj'], [C, K, K])}
    float t = fetch_x(xb + c * ${glf(H * W)} + ki * ${glf(W)} + kj) * fetch_w(wb + k);`,
      epilogue: {
        pre: `float oc = idiv(i, ${glf(1 / (P * Q))}); oc -= idiv(oc, ${glf(1 / O)}) * ${glf(O)};`,
        expr: actGlsl(act, 's + fetch_b(oc)'),
      },
    }),
  });
}

// dx(n,c,h,w) = Σ_{o,i,j} dy(n,o,h-i,w-j)·w(o,c,i,j) over taps that land inside dy.
// Done directly, most of the O·K·K terms of a border pixel fall outside dy and are fetched only
// to be masked (56% of them for LeNet's conv2). So it runs in two stages: per tap t=(i,j), the
// channel mix G[t,n,c,p,q] = Σ_o dy(n,o,p,q)·w(o,c,t) (no waste), then dx sums the K·K shifted
// taps of G that land inside (one fetch a tap). LeNet conv2 at batch 64: 210 M fetches, not 480 M.
export function conv2dBackwardInput(r: GlRunner, dy: GlTensor, w: GlTensor, xShape: readonly number[]): GlTensor {
  const [N, C, H, W] = xShape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1, KK = K * K;
  const side = r.profile.maxTextureSide;
  if (KK * N * C * P * Q > side * side) return conv2dBackwardInputDirect(r, dy, w, xShape);
  const g = reduce(r, {
    name: 'conv2dBackwardInput:mix', outShape: [KK, N, C, P, Q], L: O,
    inputs: [{ name: 'dy', t: dy }, { name: 'w', t: w }],
    termFetches: 2,
    glsl: () => ({
      pre: `${decompose('i', ['tap', 'n', 'c', 'p', 'q'], [KK, N, C, P, Q])}
  float db = n * ${glf(O * P * Q)} + p * ${glf(Q)} + q; float wb = c * ${glf(KK)} + tap;`,
      term: `float t = fetch_dy(db + k * ${glf(P * Q)}) * fetch_w(wb + k * ${glf(C * KK)});`,
    }),
  });
  const dx = reduce(r, {
    name: 'conv2dBackwardInput:taps', outShape: xShape, L: KK,
    inputs: [{ name: 'g', t: g }],
    termFetches: 1,
    glsl: () => ({
      pre: `${decompose('i', ['n', 'c', 'h', 'x'], [N, C, H, W])}
  float gb = (n * ${glf(C)} + c) * ${glf(P * Q)};`,
      term: `${decompose('k', ['ki', 'kj'], [K, K])}
${tapInside(P, Q)}
    float t = inside * fetch_g(k * ${glf(N * C * P * Q)} + gb + ph * ${glf(Q)} + qw);`,
    }),
  });
  r.dispose(g);
  return dx;
}

/** GLSL: tap (ki, kj) of input pixel (h, x) reads the output side (dy, or G) at (ph, qw); `inside`
 *  is 0 where that falls outside P x Q, and (ph, qw) are clamped so the masked fetch stays inside. */
function tapInside(P: number, Q: number): string {
  return `    float ph = h - ki, qw = x - kj;
    float inside = (ph >= 0.0 && ph < ${glf(P)} && qw >= 0.0 && qw < ${glf(Q)}) ? 1.0 : 0.0;
    ph = clamp(ph, 0.0, ${glf(P - 1)}); qw = clamp(qw, 0.0, ${glf(Q - 1)});`;
}

/** The one-stage form, for shapes whose tap-mix G would not fit a texture. */
export function conv2dBackwardInputDirect(r: GlRunner, dy: GlTensor, w: GlTensor, xShape: readonly number[]): GlTensor {
  const [N, C, H, W] = xShape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1;
  return reduce(r, {
    name: 'conv2dBackwardInput', outShape: xShape, L: O * K * K,
    inputs: [{ name: 'dy', t: dy }, { name: 'w', t: w }],
    termFetches: 2,
    glsl: () => ({
      pre: decompose('i', ['n', 'c', 'h', 'x'], [N, C, H, W]),
      term: `${decompose('k', ['o', 'ki', 'kj'], [O, K, K])}
${tapInside(P, Q)}
    float t = inside * fetch_dy(((n * ${glf(O)} + o) * ${glf(P)} + ph) * ${glf(Q)} + qw)
                     * fetch_w(((o * ${glf(C)} + c) * ${glf(K)} + ki) * ${glf(K)} + kj);`,
    }),
  });
}

// dw(o,c,i,j) = Σ_{n,p,q} x(n,c,p+i,q+j)·dy(n,o,p,q)
export function conv2dBackwardFilter(r: GlRunner, x: GlTensor, dy: GlTensor, wShape: readonly number[]): GlTensor {
  const [N, C, H, W] = x.shape, [O, , K] = wShape;
  const P = H - K + 1, Q = W - K + 1;
  return reduce(r, {
    name: 'conv2dBackwardFilter', outShape: wShape, L: N * P * Q,
    inputs: [{ name: 'x', t: x }, { name: 'dy', t: dy }],
    termFetches: 2,
    glsl: () => ({
      pre: decompose('i', ['o', 'c', 'ki', 'kj'], [O, C, K, K]),
      term: `${decompose('k', ['n', 'p', 'q'], [N, P, Q])}
    float t = fetch_x(((n * ${glf(C)} + c) * ${glf(H)} + p + ki) * ${glf(W)} + q + kj)
            * fetch_dy(((n * ${glf(O)} + o) * ${glf(P)} + p) * ${glf(Q)} + q);`,
    }),
  });
}
