// float: maxpool.ts  twin: cpu/maxpool.ts (and the RGBA8 GL kernels in kernels/maxpool.ts)
// tests: test/gl/float-kernels.test.ts
// 2x2 stride-2 max-pooling and its gradient over RGBA32F rows. Forward: 4 outputs of a row from 2
// texels of each of 2 input rows. Backward: 4 inputs of a row from 1 texel of each of the 2 rows
// of their windows and 1 texel of dy. Ties send the gradient to the first maximum in row-major
// order, as the CPU twin does, so the engines agree exactly.
import { glf } from '../glsl';
import { decompose } from '../reduce';
import type { FloatRunner, FloatTensor } from './engine';

const c4 = (n: number) => Math.ceil(n / 4);

export function maxPool(r: FloatRunner, x: FloatTensor): FloatTensor {
  const [N, C, H, W] = x.shape;
  const Ho = H >> 1, Wo = W >> 1, Wp = c4(W), Wop = c4(Wo);
  return r.run({
    name: 'maxPool', key: '', inputs: [{ name: 'x', shape: x.shape }], outShape: [N, C, Ho, Wo], fetches: 4,
    body: () => `
vec4 kernel(float j) {
  float row = idiv(j, ${glf(1 / Wop)}); float q4 = j - row * ${glf(Wop)};
  ${decompose('row', ['nc', 'p'], [N * C, Ho])}
  float t = (nc * ${glf(H)} + 2.0 * p) * ${glf(Wp)} + 2.0 * q4;
  vec4 a0 = ld_x(t), a1 = ld_x(t + 1.0), b0 = ld_x(t + ${glf(Wp)}), b1 = ld_x(t + ${glf(Wp + 1)});
  vec4 m0 = max(a0, b0), m1 = max(a1, b1);
  return vec4(max(m0.x, m0.y), max(m0.z, m0.w), max(m1.x, m1.y), max(m1.z, m1.w));
}`,
  }, [x]);
}

// dx at (h,w) is dy of its window if (h,w) is the window's first maximum, else 0. The window's
// maximum is recomputed from x (it is exactly y), so y itself need not be fetched.
export function maxPoolBackward(r: FloatRunner, x: FloatTensor, _y: FloatTensor, dy: FloatTensor): FloatTensor {
  const [N, C, H, W] = x.shape;
  const Ho = H >> 1, Wo = W >> 1, Wp = c4(W), Wop = c4(Wo);
  return r.run({
    name: 'maxPoolBackward', key: '', inputs: [{ name: 'x', shape: x.shape }, { name: 'dy', shape: dy.shape }], outShape: x.shape, fetches: 3,
    body: () => `
float firstMax(float a, float b, float c, float d) {
  float m = max(max(a, b), max(c, d));
  return a == m ? 0.0 : b == m ? 1.0 : c == m ? 2.0 : 3.0;
}
vec4 kernel(float j) {
  float row = idiv(j, ${glf(1 / Wp)}); float w4 = j - row * ${glf(Wp)};
  ${decompose('row', ['nc', 'h'], [N * C, H])}
  float p = floor(h * 0.5), hb = h - 2.0 * p;
  float t = (nc * ${glf(H)} + 2.0 * p) * ${glf(Wp)} + w4;
  vec4 a = ld_x(t), b = ld_x(t + ${glf(Wp)});
  float q2 = floor(w4 * 0.5);
  vec4 d = ld_dy((nc * ${glf(Ho)} + min(p, ${glf(Math.max(Ho - 1, 0))})) * ${glf(Wop)} + q2);
  vec2 g = w4 - 2.0 * q2 > 0.5 ? d.zw : d.xy;
  float f0 = firstMax(a.x, a.y, b.x, b.y), f1 = firstMax(a.z, a.w, b.z, b.w);
  vec4 at = vec4(0.0, 1.0, 0.0, 1.0) + 2.0 * hb;
  vec4 hit = vec4(equal(at, vec4(f0, f0, f1, f1)));
  vec4 wpos = w4 * 4.0 + vec4(0.0, 1.0, 2.0, 3.0);
  vec4 inside = vec4(lessThan(wpos, vec4(${glf(2 * Wo)}))) * (h < ${glf(2 * Ho)} ? 1.0 : 0.0);
  // selected, not multiplied: 0 * Inf would be NaN
  vec4 keep = hit * inside;
  return vec4(keep.x > 0.5 ? g.x : 0.0, keep.y > 0.5 ? g.x : 0.0, keep.z > 0.5 ? g.y : 0.0, keep.w > 0.5 ? g.y : 0.0);
}`,
  }, [x, dy]);
}
