// q16 convolution, forward and backward. Weights reach the shader as exact fp32 uniforms read
// with constant indices (an array indexed by a loop variable would become a texture load on vc4);
// accumulation is fp32 inside the fragment; the one rounding is the stochastic store of the result.
// CPU twin: cpu/conv2d.ts on the decoded inputs (tests: test/gl/vc4-16bit.test.ts, test/gl/q16-*.test.ts).
import type { Activation } from '../../engine';
import type { GlEngine } from '../engine';
import { glf } from '../glsl';
import { decodeUniforms } from '../q16';
import { act16, TANH16 } from './activation';
import { CONSTANTS, PRELUDE, Q16Tensor, q16Rect } from './tensor';

/**
 * conv2d on q16: x [N,C,H,W] (C even) at step 2^x.e, weights [O,C,K,K] and bias [O] as fp32 host
 * arrays (the master copy), O even; y = act(conv(x, w) + b) [N,O,P,Q] stored at step 2^eOut.
 * One draw per output-channel pair into one target, each with its own weight uniforms: C/2·K·K
 * vec4 (conv2 of LeNet: 250), read by constant index. One fetch per tap serves 4 multiply-adds.
 */
export function conv2dQ16(g: GlEngine, x: Q16Tensor, w: Float32Array, wShape: readonly number[], b: Float32Array,
  act: Activation, eOut: number, seed: number): Q16Tensor {
  const [N, C, H, W] = x.shape, [O, C2, K] = wShape;
  if (C2 !== C) throw new Error(`conv2dQ16: weights [${wShape}] do not match input [${x.shape}]`);
  if (O % 2) throw new Error(`conv2dQ16: ${O} output channels; pairs need an even count`);
  const P = H - K + 1, Q = W - K + 1, CP = C / 2;
  // the weights plus a few vectors of scalars must fit one draw's uniforms; splitting the taps
  // over draws would need a second accumulation format, which this path does not have yet
  const maxVec = Number(g.gl.getParameter(g.gl.MAX_FRAGMENT_UNIFORM_VECTORS));
  if (CP * K * K + 8 > maxVec)
    throw new Error(`conv2dQ16: weights [${wShape}] need ${CP * K * K} vec4 uniforms a draw, this context allows ${maxVec}`);
  const src = q16Rect(x.shape), out = q16Rect([N, O, P, Q]);
  const target = g.allocRect(out.w, out.h);
  const taps: string[] = [];
  for (let cp = 0, k = 0; cp < CP; cp++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++, k++) {
    taps.push(`v = q16Decode(texture2D(u_x, base + vec2(${glf((cp * W + j) / src.w)}, ${glf(i / src.h)})), u_D, u_off); acc += v.x * u_W[${k}].xz + v.y * u_W[${k}].yw;`);
  }
  const draws = [];
  const dec = decodeUniforms(x.e);
  for (let op = 0; op < O / 2; op++) {
    const Wt = new Float32Array(CP * K * K * 4);
    for (let cp = 0, k = 0; cp < CP; cp++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++, k++) {
      const at = (o: number, c: number) => w[((o * C + c) * K + i) * K + j];
      Wt.set([at(2 * op, 2 * cp), at(2 * op, 2 * cp + 1), at(2 * op + 1, 2 * cp), at(2 * op + 1, 2 * cp + 1)], 4 * k);
    }
    draws.push({
      x: op * Q, y: 0, w: Q, h: N * P,
      uniforms: { ...CONSTANTS, W: Wt, b: Float32Array.of(b[2 * op], b[2 * op + 1]), D: dec.D, off: dec.off, inv: 2 ** -eOut, seed: (seed + op * 0.37) % 4096, ox: op * Q },
    });
  }
  g.runRaw({
    name: `q16:conv2d:${act}`, key: `q16:conv2d:${act}|${x.shape}|${wShape}`, target, fetches: CP * K * K,
    inputs: [{ name: 'x', tex: x.ref.tex }],
    source: () => `${PRELUDE}
uniform sampler2D u_x;
uniform vec4 u_W[${CP * K * K}];
uniform vec2 u_b;
uniform vec2 u_D;
uniform float u_off;
uniform float u_ox;
${TANH16}
void main() {
  // fragment (q, n·P + p) of the pair's Q-wide column; its tap (i, j) of channel pair cp is texel
  // (cp·W + q + j, n·H + p + i) of x
  float q = floor(gl_FragCoord.x) - u_ox, y = floor(gl_FragCoord.y);
  float n = floor((y + 0.5) * ${glf(1 / P)}), p = y - n * ${glf(P)};
  vec2 base = vec2(q + 0.5, n * ${glf(H)} + p + 0.5) * vec2(${glf(1 / src.w)}, ${glf(1 / src.h)});
  vec2 acc = vec2(0.0), v;
  ${taps.join('\n  ')}
  vec2 s = acc + u_b;
  gl_FragColor = q16Store(vec2(${act16(act, 's.x')}, ${act16(act, 's.y')}), u_inv, gl_FragCoord.xy, u_seed);
}`,
    draws,
  });
  return new Q16Tensor([N, O, P, Q], eOut, target);
}

