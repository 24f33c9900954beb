// float: bias.ts  twin: cpu/bias.ts (and the RGBA8 GL kernel in kernels/bias.ts)
// tests: test/gl/float-kernels.test.ts
// db[o] = Σ over every axis but axis 1 of dy ([N,O,...]); the forward bias is fused into conv2d
// and dense. For [N,O,P,Q] the sum runs in two passes, over each (n,o) plane and then over n, so
// that the long sums are spread over N·O/4 fragments instead of O/4.
import { glf } from '../glsl';
import type { FloatRunner, FloatTensor } from './engine';

const c4 = (n: number) => Math.ceil(n / 4);

export function biasGrad(r: FloatRunner, dy: FloatTensor): FloatTensor {
  const [N, O] = dy.shape, Op = c4(O);
  let rows = dy;
  if (dy.shape.length > 2) {
    const Q = dy.shape[dy.shape.length - 1], Qp = c4(Q);
    const P = dy.size / (N * O * Q);
    const plane = P * Qp;
    rows = r.run({
      name: 'biasGrad:planes', key: '', inputs: [{ name: 'dy', shape: dy.shape }], outShape: [N, O], fetches: 4 * plane,
      body: () => `
vec4 kernel(float j) {
  float n = idiv(j, ${glf(1 / Op)}); float o4 = j - n * ${glf(Op)};
  float b = (n * ${glf(O)} + o4 * 4.0) * ${glf(plane)};
  vec4 acc = vec4(0.0);
  for (int e = 0; e < ${plane}; e++) {
    float t = b + float(e);
    acc += vec4(dot(ld_dy(t), vec4(1.0)), dot(ld_dy(t + ${glf(plane)}), vec4(1.0)), dot(ld_dy(t + ${glf(2 * plane)}), vec4(1.0)), dot(ld_dy(t + ${glf(3 * plane)}), vec4(1.0)));
  }
  return acc;
}`,
    }, [dy]);
  }
  const out = r.run({
    name: 'biasGrad', key: '', inputs: [{ name: 'dy', shape: [N, O] }], outShape: [O], fetches: N,
    body: () => `
vec4 kernel(float j) {
  vec4 acc = vec4(0.0);
  for (int n = 0; n < ${N}; n++) acc += ld_dy(float(n * ${Op}) + j);
  return acc;
}`,
  }, [rows]);
  if (rows !== dy) r.dispose(rows);
  return out;
}
