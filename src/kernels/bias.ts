// GL: bias.ts  twin: cpu/bias.ts  fast: cpu/kernels.wat bias_grad (forward bias: bias_act, fused in conv/dense)
// tests: test/gl/kernels.test.ts (via conv2d/dense), test/kernels/{cpu-engine,naive-fd}.test.ts
// GL kernel for bias gradients: db[o] = Σ over every axis but axis 1 of dy ([N,O,...]).
import { glf } from './gl/glsl';
import { decompose, reduce } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function biasGrad(r: GlRunner, dy: GlTensor): GlTensor {
  const [N, O] = dy.shape;
  const inner = dy.shape.slice(2).reduce((a, b) => a * b, 1);
  return reduce(r, {
    name: 'biasGrad', outShape: [O], L: N * inner,
    inputs: [{ name: 'dy', t: dy }],
    termFetches: 1,
    glsl: () => ({
      pre: '',
      term: `${decompose('k', ['n', 'e'], [N, inner])}
    float t = fetch_dy((n * ${glf(O)} + i) * ${glf(inner)} + e);`,
    }),
  });
}
