// GL: dense.ts  twin: cpu/dense.ts  fast: cpu/kernels.wat gemm/bias_act/transpose via cpu/ops.ts OP_DENSE_*
// tests: test/gl/kernels.test.ts, test/kernels/{cpu-engine,naive-fd,naive-tfjs}.test.ts
// GL kernels for dense (y = act(x·W + b), x [N,I], W [I,O]) and its two gradients.
import type { Activation } from './engine';
import { actGlsl } from './activation';
import { glf } from './gl/glsl';
import { decompose, reduce } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function dense(r: GlRunner, x: GlTensor, w: GlTensor, b: GlTensor, act: Activation): GlTensor {
  const [N, I] = x.shape, O = w.shape[1];
  return reduce(r, {
    name: `dense:${act}`, outShape: [N, O], L: I,
    inputs: [{ name: 'x', t: x }, { name: 'w', t: w }],
    termFetches: 2,
    epilogue: { inputs: [{ name: 'b', t: b }], fetches: 1 },
    glsl: () => ({
      pre: decompose('i', ['n', 'o'], [N, O]),
      term: `float t = fetch_x(n * ${glf(I)} + k) * fetch_w(k * ${glf(O)} + o);`,
      epilogue: { pre: `float oc = i - idiv(i, ${glf(1 / O)}) * ${glf(O)};`, expr: actGlsl(act, 's + fetch_b(oc)') },
    }),
  });
}

// dx = dy·Wᵀ  [N,I]
export function denseBackwardInput(r: GlRunner, dy: GlTensor, w: GlTensor): GlTensor {
  const [I, O] = w.shape, N = dy.shape[0];
  return reduce(r, {
    name: 'denseBackwardInput', outShape: [N, I], L: O,
    inputs: [{ name: 'dy', t: dy }, { name: 'w', t: w }],
    termFetches: 2,
    glsl: () => ({
      pre: decompose('i', ['n', 'x'], [N, I]),
      term: `float t = fetch_dy(n * ${glf(O)} + k) * fetch_w(x * ${glf(O)} + k);`,
    }),
  });
}

// dW = xᵀ·dy  [I,O]
export function denseBackwardWeight(r: GlRunner, x: GlTensor, dy: GlTensor): GlTensor {
  const [N, I] = x.shape, O = dy.shape[1];
  return reduce(r, {
    name: 'denseBackwardWeight', outShape: [I, O], L: N,
    inputs: [{ name: 'x', t: x }, { name: 'dy', t: dy }],
    termFetches: 2,
    glsl: () => ({
      pre: decompose('i', ['x', 'o'], [I, O]),
      term: `float t = fetch_x(k * ${glf(I)} + x) * fetch_dy(k * ${glf(O)} + o);`,
    }),
  });
}
