// float: activation.ts  twin: cpu/activation.ts (and the RGBA8 GL kernels in kernels/activation.ts)
// tests: test/gl/float-kernels.test.ts
// The forward activation is fused into the producing pass (conv2d, dense) through actVec; the
// backward pass takes the activation's OUTPUT y, as the contract says: tanh' = 1 - y², relu' = [y > 0].
import type { Activation } from '../../engine';
import type { FloatRunner, FloatTensor } from './engine';

/** GLSL applying `act` to the vec4 expression `s`. tanh is the multiply/add polynomial of glsl.ts
 *  (precTanh), the same as the other profiles use, so the engines agree to float32 rounding. */
export function actVec(act: Activation, s: string): string {
  if (act === 'tanh') return `tanh4(${s})`;
  if (act === 'relu') return `max(${s}, vec4(0.0))`;
  return `(${s})`;
}

export function activationBackward(r: FloatRunner, act: Activation, y: FloatTensor, dy: FloatTensor): FloatTensor {
  const expr = act === 'tanh' ? 'g * (1.0 - v * v)' : act === 'relu' ? 'g * vec4(greaterThan(v, vec4(0.0)))' : 'g';
  return r.run({
    name: `activationBackward:${act}`, key: '',
    inputs: [{ name: 'y', shape: y.shape }, { name: 'dy', shape: dy.shape }], outShape: dy.shape, fetches: 2,
    body: () => `vec4 kernel(float j) { vec4 v = ld_y(j); vec4 g = ld_dy(j); return ${expr}; }`,
  }, [y, dy]);
}
