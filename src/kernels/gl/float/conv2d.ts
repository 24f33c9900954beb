// float: conv2d.ts  twin: cpu/conv2d.ts (and the RGBA8 GL kernels in kernels/conv2d.ts)
// tests: test/gl/float-kernels.test.ts
// conv2d (valid, stride 1) and its two gradients over RGBA32F rows (float/program.ts: a texel
// holds 4 neighbours along a row). A fragment computes 4 neighbouring outputs of a row: per input
// row and filter row it fetches the few texels covering the 4+K-1 inputs and the K weights, then
// makes K vec4 multiply-adds, so one fetch serves about 5 multiply-adds (LeNet's K = 5).
// Index names follow the CPU twin: N,C,H,W input; O,K filters; P,Q output side.
import type { Activation } from '../../engine';
import { glf } from '../glsl';
import { decompose } from '../reduce';
import { elt, win } from './program';
import type { FloatRunner, FloatTensor } from './engine';
import { actVec } from './activation';

const c4 = (n: number) => Math.ceil(n / 4);
const vars = (p: string, n: number) => Array.from({ length: n }, (_, i) => `${p}${i}`);

export function conv2d(r: FloatRunner, x: FloatTensor, w: FloatTensor, b: FloatTensor, act: Activation): FloatTensor {
  const [N, C, H, W] = x.shape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1, Wp = c4(W), Qp = c4(Q), Kp = c4(K);
  // The 4 outputs at q = 4*q4 .. 4*q4+3 read inputs 4*q4 .. 4*q4+K+2 of each row: nT texels.
  const nT = Math.floor((K + 2) / 4) + 1;
  const xs = vars('x', nT), ws = vars('w', Kp);
  const body = () => `
vec4 kernel(float j) {
  float row = idiv(j, ${glf(1 / Qp)}); float q4 = j - row * ${glf(Qp)};
  ${decompose('row', ['n', 'o', 'p'], [N, O, P])}
  float xb = (n * ${glf(C * H)} + p) * ${glf(Wp)} + q4;
  float wb = o * ${glf(C * K * Kp)};
  vec4 acc = vec4(0.0);
  for (int c = 0; c < ${C}; c++) {
    for (int ki = 0; ki < ${K}; ki++) {
      float xr = xb + float(c * ${H} + ki) * ${glf(Wp)};
      float wr = wb + float(c * ${K} + ki) * ${glf(Kp)};
      ${xs.map((v, i) => `vec4 ${v} = ld_x(xr + ${glf(i)});`).join(' ')}
      ${ws.map((v, i) => `vec4 ${v} = ld_w(wr + ${glf(i)});`).join(' ')}
      ${Array.from({ length: K }, (_, kj) => `acc += ${elt(ws, kj)} * ${win(xs, kj)};`).join('\n      ')}
    }
  }
  float o4 = floor(o * 0.25);
  float bias = dot(ld_b(o4), lane(o - o4 * 4.0));
  return ${actVec(act, 'acc + bias')};
}`;
  return r.run({
    name: `conv2d:${act}`, key: `K${K}`, precise: act === 'tanh',
    inputs: [{ name: 'x', shape: x.shape }, { name: 'w', shape: w.shape }, { name: 'b', shape: b.shape }],
    outShape: [N, O, P, Q], body, fetches: C * K * (nT + Kp) + 1,
  }, [x, w, b]);
}

// dx(n,c,h,w) = Σ_{o,i,j} dy(n,o,h-i,w-j)·w(o,c,i,j) over taps that land inside dy. The 4 outputs at
// w = 4*w4 .. 4*w4+3 read dy positions 4*(w4-m) .. 4*w4+3 of a row (m = ceil((K-1)/4) texels back);
// texels outside the row and rows outside dy are taken as zeros.
export function conv2dBackwardInput(r: FloatRunner, dy: FloatTensor, w: FloatTensor, xShape: readonly number[]): FloatTensor {
  const [N, C, H, W] = xShape, [O, , K] = w.shape;
  const P = H - K + 1, Q = W - K + 1, Wp = c4(W), Qp = c4(Q), Kp = c4(K);
  const m = Math.ceil((K - 1) / 4), nT = m + 1;
  const ys = vars('y', nT), ws = vars('w', Kp);
  const body = () => `
vec4 kernel(float j) {
  float row = idiv(j, ${glf(1 / Wp)}); float w4 = j - row * ${glf(Wp)};
  ${decompose('row', ['n', 'c', 'h'], [N, C, H])}
  ${ys.map((_, i) => `bool in${i} = w4 + ${glf(i - m)} >= 0.0 && w4 + ${glf(i - m)} < ${glf(Qp)};`).join(' ')}
  float yb = n * ${glf(O * P * Qp)} + w4 - ${glf(m)};
  float wb = c * ${glf(K * Kp)};
  vec4 acc = vec4(0.0);
  for (int o = 0; o < ${O}; o++) {
    for (int ki = 0; ki < ${K}; ki++) {
      float ph = h - float(ki);
      if (ph >= 0.0 && ph < ${glf(P)}) {
        float yr = yb + (float(o * ${P}) + ph) * ${glf(Qp)};
        float wr = wb + float(o * ${C * K} + ki) * ${glf(Kp)};
        ${ys.map((v, i) => `vec4 ${v} = in${i} ? ld_dy(yr + ${glf(i)}) : vec4(0.0);`).join(' ')}
        ${ws.map((v, i) => `vec4 ${v} = ld_w(wr + ${glf(i)});`).join(' ')}
        ${Array.from({ length: K }, (_, kj) => `acc += ${elt(ws, kj)} * ${win(ys, 4 * m - kj)};`).join('\n        ')}
      }
    }
  }
  return acc;
}`;
  return r.run({
    name: 'conv2dBackwardInput', key: `K${K}`,
    inputs: [{ name: 'dy', shape: dy.shape }, { name: 'w', shape: w.shape }],
    outShape: xShape, body, fetches: O * K * (nT + Kp),
  }, [dy, w]);
}

// dw(o,c,i,j) = Σ_{n,p,q} x(n,c,p+i,q+j)·dy(n,o,p,q). A fragment computes 4 neighbouring j of one
// (o,c,i): per dy texel (4 q) it fetches the 2 x texels covering q+j and makes 4 vec4
// multiply-adds, keeping the second x texel for the next 4 q (2 fetches a step along the row).
// Few outputs with long sums leave the GPU's (or llvmpipe's) threads idle, so the sum over n is
// split into S partial sums, added by a second pass: about 64k fragments in all (on llvmpipe,
// loaded, LeNet's conv2 filter gradient took 140-170 ms so against 170-200 ms at 16k).
/** `fragments`: how many fragments the partial sums aim at (tests make it small to split small shapes). */
export function conv2dBackwardFilter(r: FloatRunner, x: FloatTensor, dy: FloatTensor, wShape: readonly number[], fragments = 65536): FloatTensor {
  const [N, C, H, W] = x.shape, [O, , K] = wShape;
  const P = H - K + 1, Q = W - K + 1, Wp = c4(W), Qp = c4(Q), Kp = c4(K);
  const outTexels = O * C * K * Kp;
  const S = Math.min(N, Math.max(1, Math.ceil(fragments / outTexels)));
  const G = Math.ceil(N / S);
  const partShape = S > 1 ? [S, O, C, K, K] : wShape;
  const body = () => `
vec4 kernel(float j) {
  float row = idiv(j, ${glf(1 / Kp)}); float kj4 = j - row * ${glf(Kp)};
  ${decompose('row', ['s', 'o', 'c', 'ki'], [S, O, C, K])}
  vec4 acc = vec4(0.0);
  for (int nn = 0; nn < ${G}; nn++) {
    float n = s * ${glf(G)} + float(nn);
    if (n < ${glf(N)}) {
      float xb = (n * ${glf(C * H)} + c * ${glf(H)} + ki) * ${glf(Wp)} + kj4;
      float yb = (n * ${glf(O)} + o) * ${glf(P * Qp)};
      for (int p = 0; p < ${P}; p++) {
        float xr = xb + float(p * ${Wp});
        vec4 x0 = ld_x(xr);
        for (int q4 = 0; q4 < ${Qp}; q4++) {
          vec4 d = ld_dy(yb + float(p * ${Qp} + q4));
          vec4 x1 = ld_x(xr + float(q4 + 1));
          acc += d.x * x0 + d.y * ${win(['x0', 'x1'], 1)} + d.z * ${win(['x0', 'x1'], 2)} + d.w * ${win(['x0', 'x1'], 3)};
          // the next 4 q read the texel this one read second
          x0 = x1;
        }
      }
    }
  }
  return acc;
}`;
  const part = r.run({
    name: S > 1 ? 'conv2dBackwardFilter:partial' : 'conv2dBackwardFilter', key: `K${K}:S${S}`,
    inputs: [{ name: 'x', shape: x.shape }, { name: 'dy', shape: dy.shape }],
    outShape: partShape, body, fetches: G * P * (2 * Qp + 1),
  }, [x, dy]);
  if (S === 1) return part;
  const out = r.run({
    name: 'conv2dBackwardFilter:sum', key: `S${S}`, inputs: [{ name: 'part', shape: partShape }], outShape: wShape,
    body: () => `
vec4 kernel(float j) {
  vec4 acc = vec4(0.0);
  for (int s = 0; s < ${S}; s++) acc += ld_part(float(s) * ${glf(outTexels)} + j);
  return acc;
}`,
    fetches: S,
  }, [part]);
  r.dispose(part);
  return out;
}
