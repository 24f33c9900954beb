// q16 activations: the forward activation fused into the producing kernel (tanh16 below), and the
// activation gradient dz = dy·f'(y) from the activation's stored OUTPUT y, as the Engine contract
// has it (tanh' = 1 - y², relu' = [y > 0]). CPU twin: cpu/activation.ts on the decoded inputs.
import type { Activation } from '../../engine';
import { actGlsl } from '../../activation';
import type { GlEngine } from '../engine';
import { glf } from '../glsl';
import { decodeUniforms } from '../q16';
import { expectLayout, PRELUDE, Q16Tensor } from './tensor';

// tanh for a 16-bit store: abs error below 1.5e-5, a quarter of the 2^-14 step of a tanh output,
// in about 25 multiply-adds with no special function (precTanh's exact-fp32 path costs several
// times that; the SFU's 12 bits would not do). e^{-2a} = (e^{-a/32})^64: a degree-6 Taylor polynomial on
// [0, 0.29] (truncation 2.6e-8), six squarings (relative error x64, plus 6 roundings); then
// (1 - t)/(1 + t) with 1/d for d = (1 + t)/2 in [0.5, 1] by Newton from 48/17 - 32/17·d
// (error 1/17, 3 steps: 1e-10). Derivation of the bound in test/gl/vc4-16bit.test.ts.
export const TANH16 = `
float tanh16(float x) {
  float y = min(abs(x), 9.0) * 0.03125;
  float e = 1.0 - y * (1.0 - y * (0.5 - y * (0.166666667 - y * (0.0416666667 - y * (0.00833333333 - y * 0.00138888889)))));
  e *= e; e *= e; e *= e; e *= e; e *= e; e *= e;
  float d = 0.5 + 0.5 * e;
  float r = 2.82352941 - 1.88235294 * d;
  r = r * (2.0 - d * r); r = r * (2.0 - d * r); r = r * (2.0 - d * r);
  return sign(x) * (1.0 - e) * r * 0.5;
}`;
export const act16 = (act: Activation, s: string) => (act === 'tanh' ? `tanh16(${s})` : actGlsl(act, s));


/** dz = dy·f'(y) from the activation's output y and dy (same shape and layout), stored at step 2^eOut. */
export function activationBackwardQ16(g: GlEngine, act: Activation, y: Q16Tensor, dy: Q16Tensor, eOut: number, seed: number): Q16Tensor {
  expectLayout('activationBackwardQ16', y, dy.layout);
  if (y.shape.join() !== dy.shape.join()) throw new Error(`activationBackwardQ16: y [${y.shape}] and dy [${dy.shape}] differ`);
  const { w, h } = dy.ref, target = g.allocRect(w, h);
  const grad = act === 'tanh' ? 'd * (1.0 - v * v)' : act === 'relu' ? 'vec2(v.x > 0.0 ? d.x : 0.0, v.y > 0.0 ? d.y : 0.0)' : 'd';
  const dy_ = decodeUniforms(dy.e), y_ = decodeUniforms(y.e);
  g.runRaw({
    name: `q16:activationBackward:${act}`, key: `q16:activationBackward:${act}|${w}x${h}`, target, fetches: act === 'none' ? 1 : 2,
    inputs: [{ name: 'y', tex: y.ref.tex }, { name: 'dy', tex: dy.ref.tex }],
    source: () => `${PRELUDE}
uniform sampler2D u_y;
uniform sampler2D u_dy;
uniform vec2 u_Dy;
uniform float u_offy;
uniform vec2 u_Dd;
uniform float u_offd;
void main() {
  vec2 at = gl_FragCoord.xy * vec2(${glf(1 / w)}, ${glf(1 / h)});
  vec2 d = q16Decode(texture2D(u_dy, at), u_Dd, u_offd);
  ${act === 'none' ? '' : 'vec2 v = q16Decode(texture2D(u_y, at), u_Dy, u_offy);'}
  gl_FragColor = q16Store(${grad}, u_inv, gl_FragCoord.xy, u_seed);
}`,
    draws: [{ x: 0, y: 0, w, h, uniforms: { inv: 2 ** -eOut, seed: seed % 4096, Dy: y_.D, offy: y_.off, Dd: dy_.D, offd: dy_.off } }],
  });
  return new Q16Tensor([...dy.shape], eOut, target, dy.layout);
}
