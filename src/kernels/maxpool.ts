// GL: maxpool.ts  twin: cpu/maxpool.ts  fast: cpu/kernels.wat maxpool/maxpool_backward
// tests: test/gl/kernels.test.ts, test/kernels/{cpu-engine,naive-fd,naive-tfjs}.test.ts
// GL kernels for 2x2 stride-2 max-pooling and its gradient. Ties send the gradient to the first
// maximum in row-major order, as the CPU twin does, so the engines agree exactly.
import { glf } from './gl/glsl';
import { decompose, elementwise } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function maxPool(r: GlRunner, x: GlTensor): GlTensor {
  const [N, C, H, W] = x.shape;
  const Ho = H >> 1, Wo = W >> 1;
  return elementwise(r, {
    name: 'maxPool', inputs: [{ name: 'x', t: x }], outShape: [N, C, Ho, Wo], fetches: 4,
    glsl: () => ({
      stmts: `${decompose('i', ['nc', 'p', 'q'], [N * C, Ho, Wo])}
  float base = nc * ${glf(H * W)} + p * ${glf(2 * W)} + q * 2.0;
  return max(max(fetch_x(base), fetch_x(base + 1.0)), max(fetch_x(base + ${glf(W)}), fetch_x(base + ${glf(W + 1)})));`,
    }),
  });
}

// dx at (h,w) is dy of its window if (h,w) is the window's first maximum, else 0. The window's
// maximum is recomputed from x (it is exactly y), so y itself need not be fetched.
export function maxPoolBackward(r: GlRunner, x: GlTensor, _y: GlTensor, dy: GlTensor): GlTensor {
  const [N, C, H, W] = x.shape;
  const Ho = H >> 1, Wo = W >> 1;
  return elementwise(r, {
    name: 'maxPoolBackward', inputs: [{ name: 'x', t: x }, { name: 'dy', t: dy }], outShape: x.shape, fetches: 5,
    glsl: () => ({
      stmts: `${decompose('i', ['nc', 'h', 'w'], [N * C, H, W])}
  float p = idiv(h, 0.5), q = idiv(w, 0.5);
  float at = (h - 2.0 * p) * 2.0 + (w - 2.0 * q);
  float base = nc * ${glf(H * W)} + p * ${glf(2 * W)} + q * 2.0;
  float a = fetch_x(base), b = fetch_x(base + 1.0), c = fetch_x(base + ${glf(W)}), d = fetch_x(base + ${glf(W + 1)});
  float m = max(max(a, b), max(c, d));
  float first = a == m ? 0.0 : b == m ? 1.0 : c == m ? 2.0 : 3.0;
  bool inWindow = p < ${glf(Ho)} && q < ${glf(Wo)};
  p = min(p, ${glf(Ho - 1)}); q = min(q, ${glf(Wo - 1)});
  float g = fetch_dy((nc * ${glf(Ho)} + p) * ${glf(Wo)} + q);
  return (inWindow && first == at) ? g : 0.0;`,
    }),
  });
}
