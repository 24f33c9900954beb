// GL: activation.ts  twin: cpu/activation.ts  fast: cpu/kernels.wat act_backward (forward: bias_act)
// tests: test/gl/kernels.test.ts, test/kernels/{cpu-engine,naive-fd,naive-tfjs}.test.ts
// GL kernels for the activations. The forward activation is fused into the producing pass
// (conv2d, dense) through actGlsl; the backward pass takes the activation's OUTPUT y, as the
// contract says: tanh' = 1 - y², relu' = [y > 0].
import type { Activation } from './engine';
import { elementwise } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

/** GLSL expression applying `act` to the float expression `s`. tanh uses the precise polynomial
 *  path (multiply/add only), so the vc4 SFU precision does not reach the activations. */
export function actGlsl(act: Activation, s: string): string {
  if (act === 'tanh') return `precTanh(${s})`;
  if (act === 'relu') return `max(${s}, 0.0)`;
  return s;
}

export function activationBackward(r: GlRunner, act: Activation, y: GlTensor, dy: GlTensor): GlTensor {
  const expr = act === 'tanh' ? 'g * (1.0 - v * v)' : act === 'relu' ? '(v > 0.0 ? g : 0.0)' : 'g';
  return elementwise(r, {
    name: `activationBackward:${act}`, inputs: [{ name: 'y', t: y }, { name: 'dy', t: dy }], outShape: dy.shape, fetches: 2,
    glsl: () => ({ stmts: `float v = fetch_y(i); float g = fetch_dy(i); return ${expr};` }),
  });
}
