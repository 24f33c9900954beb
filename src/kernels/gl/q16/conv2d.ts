// q16 convolution, forward and backward. Weights reach the shader as exact fp32 uniforms read
// with constant indices (an array indexed by a loop variable would become a texture load on vc4);
// accumulation is fp32 inside the fragment; the one rounding is the stochastic store of the result.
// CPU twin: cpu/conv2d.ts on the decoded inputs (tests: test/gl/vc4-16bit.test.ts, test/gl/q16-*.test.ts).
import type { Activation } from '../../engine';
import type { GlEngine } from '../engine';
import { glf } from '../glsl';
import { decodeUniforms } from '../q16';
import { act16, TANH16 } from './activation';
import { padQ16, toBatchPairs } from './relayout';
import { CONSTANTS, disposeQ16, PRELUDE, Q16Tensor, q16Rect } from './tensor';
import { weightGradQ16 } from './wgrad';

/**
 * conv2d on q16: x [N,C,H,W] (C even; or C = 1 in x-pairs) at step 2^x.e, weights [O,C,K,K] and bias
 * [O] as fp32 host arrays (the master copy), O even; y = act(conv(x, w) + b) [N,O,P,Q] stored at step
 * 2^eOut. One draw per output-channel pair into one target, each with its own weight uniforms, one
 * vec4 a fetch (conv2 of LeNet: 250), read by constant index. A fetch brings two values (two
 * channels, or in x-pairs two columns of the one channel), each multiplied into both outputs.
 */
export function conv2dQ16(g: GlEngine, x: Q16Tensor, w: Float32Array, wShape: readonly number[], b: Float32Array,
  act: Activation, eOut: number, seed: number): Q16Tensor {
  const [N, C, H, W] = x.shape, [O, C2, K] = wShape;
  if (C2 !== C) throw new Error(`conv2dQ16: weights [${wShape}] do not match input [${x.shape}]`);
  if (O % 2) throw new Error(`conv2dQ16: ${O} output channels; pairs need an even count`);
  if (x.layout === 'batch-pairs') throw new Error(`conv2dQ16: input [${x.shape}] is in batch pairs; it reads channel pairs or x-pairs`);
  const P = H - K + 1, Q = W - K + 1;
  // A fetch at texel offset (dx, dy) from the fragment's own position and the weights of its two
  // values: (value a -> output 0, value b -> output 0, a -> 1, b -> 1); past the kernel's edge, 0.
  const wAt = (o: number, c: number, i: number, j: number) => (j < K ? w[((o * C + c) * K + i) * K + j] : 0);
  const taps: { dx: number; dy: number; ws: (op: number) => number[] }[] = [];
  if (x.layout === 'x-pairs') {
    for (let i = 0; i < K; i++) for (let j = 0; j < K; j += 2)
      taps.push({ dx: j, dy: i, ws: (op) => [wAt(2 * op, 0, i, j), wAt(2 * op, 0, i, j + 1), wAt(2 * op + 1, 0, i, j), wAt(2 * op + 1, 0, i, j + 1)] });
  } else {
    for (let cp = 0; cp < C / 2; cp++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++)
      taps.push({ dx: cp * W + j, dy: i, ws: (op) => [wAt(2 * op, 2 * cp, i, j), wAt(2 * op, 2 * cp + 1, i, j), wAt(2 * op + 1, 2 * cp, i, j), wAt(2 * op + 1, 2 * cp + 1, i, j)] });
  }
  const T = taps.length;
  // the weights plus a few vectors of scalars must fit one draw's uniforms; splitting the taps
  // over draws would need a second accumulation format, which this path does not have yet
  const maxVec = Number(g.gl.getParameter(g.gl.MAX_FRAGMENT_UNIFORM_VECTORS));
  if (T + 8 > maxVec)
    throw new Error(`conv2dQ16: weights [${wShape}] need ${T} vec4 uniforms a draw, this context allows ${maxVec}`);
  const src = q16Rect(x.shape, x.layout), out = q16Rect([N, O, P, Q]);
  const target = g.allocRect(out.w, out.h);
  const lines = taps.map((t, k) =>
    `v = q16Decode(texture2D(u_x, base + vec2(${glf(t.dx / src.w)}, ${glf(t.dy / src.h)})), u_D, u_off); acc += v.x * u_W[${k}].xz + v.y * u_W[${k}].yw;`);
  const draws = [];
  const dec = decodeUniforms(x.e);
  for (let op = 0; op < O / 2; op++) {
    const Wt = new Float32Array(T * 4);
    taps.forEach((t, k) => Wt.set(t.ws(op), 4 * k));
    draws.push({
      x: op * Q, y: 0, w: Q, h: N * P,
      uniforms: { ...CONSTANTS, W: Wt, b: Float32Array.of(b[2 * op], b[2 * op + 1]), D: dec.D, off: dec.off, inv: 2 ** -eOut, seed: (seed + op * 0.37) % 4096, ox: op * Q },
    });
  }
  g.runRaw({
    name: `q16:conv2d:${act}`, key: `q16:conv2d:${act}|${x.shape}|${x.layout}|${wShape}`, target, fetches: T,
    inputs: [{ name: 'x', tex: x.ref.tex }],
    source: () => `${PRELUDE}
uniform sampler2D u_x;
uniform vec4 u_W[${T}];
uniform vec2 u_b;
uniform vec2 u_D;
uniform float u_off;
uniform float u_ox;
${TANH16}
void main() {
  // fragment (q, n·P + p) of the pair's Q-wide column; its tap (i, j) of channel pair cp is texel
  // (cp·W + q + j, n·H + p + i) of x (x-pairs: taps j, j+1 are texel (q + j, n·H + p + i))
  float q = floor(gl_FragCoord.x) - u_ox, y = floor(gl_FragCoord.y);
  float n = floor((y + 0.5) * ${glf(1 / P)}), p = y - n * ${glf(P)};
  vec2 base = vec2(q + 0.5, n * ${glf(H)} + p + 0.5) * vec2(${glf(1 / src.w)}, ${glf(1 / src.h)});
  vec2 acc = vec2(0.0), v;
  ${lines.join('\n  ')}
  vec2 s = acc + u_b;
  gl_FragColor = q16Store(vec2(${act16(act, 's.x')}, ${act16(act, 's.y')}), u_inv, gl_FragCoord.xy, u_seed);
}`,
    draws,
  });
  return new Q16Tensor([N, O, P, Q], eOut, target);
}


/**
 * dx [N,C,H,W] (C even) = the full correlation of dy [N,O,P,Q] with the flipped weights: a valid
 * conv2dQ16 of dy padded by K-1 (padQ16, exact) with w'[c,o,i,j] = w[o,c,K-1-i,K-1-j] as uniforms,
 * so it is the forward kernel's straight-line code: O/2·K·K fetches a fragment pair (LeNet's conv2:
 * 625, 4 multiply-adds each), stored once at step 2^eOut.
 */
export function conv2dBackwardInputQ16(g: GlEngine, dy: Q16Tensor, w: Float32Array, wShape: readonly number[],
  xShape: readonly number[], eOut: number, seed: number): Q16Tensor {
  const [O, C, K] = wShape, [N, , H, W] = xShape;
  if (dy.shape.join() !== [N, O, H - K + 1, W - K + 1].join() || xShape[1] !== C)
    throw new Error(`conv2dBackwardInputQ16: dy [${dy.shape}], weights [${wShape}] and x [${xShape}] do not fit together`);
  const flipped = new Float32Array(C * O * K * K);
  for (let o = 0; o < O; o++) for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++)
    flipped[((c * O + o) * K + i) * K + j] = w[((o * C + c) * K + K - 1 - i) * K + K - 1 - j];
  const padded = K > 1 ? padQ16(g, dy, K - 1) : dy;
  const dx = conv2dQ16(g, padded, flipped, [C, O, K, K], new Float32Array(C), 'none', eOut, seed);
  if (padded !== dy) disposeQ16(g, padded);
  return dx;
}

/**
 * dW [O,C,K,K] and dB [O] in fp32 from x [N,Cx,H,W] (Cx >= C) and dy [N,O,P,Q]: relaid in batch
 * pairs (or given so: conv1's images can be uploaded in batch pairs from the host, beside the
 * x-pairs copy its forward pass reads), then wgrad.ts's exact partial sums.
 * `taps` caps the straight-line length of a fragment (2 fetches a tap).
 */
export function conv2dBackwardFilterQ16(g: GlEngine, x: Q16Tensor, dy: Q16Tensor, wShape: readonly number[], taps = 128): { dW: Float32Array; dB: Float32Array } {
  const pairs = (t: Q16Tensor) => (t.layout === 'batch-pairs' ? t : toBatchPairs(g, t));
  const xb = pairs(x), dyb = pairs(dy);
  try {
    const dW = Float32Array.from(weightGradQ16(g, xb, dyb, wShape, taps));
    const dB = Float32Array.from(weightGradQ16(g, null, dyb, [wShape[0], 1, 1, 1], taps));
    return { dW, dB };
  } finally {
    if (xb !== x) disposeQ16(g, xb);
    if (dyb !== dy) disposeQ16(g, dyb);
  }
}
