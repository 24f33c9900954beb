// vc4 16-bit kernels over the q16 format (q16.ts): tensors [N, C, H, W] with C even, laid out as
// channel-pair planes side by side, texel (cp·W + w, n·H + h) = channels 2cp, 2cp+1 of (n, h, w).
// A tap of a convolution is then a constant texel offset from the fragment's own position, so
// the generated code is straight-line: one add and one fetch a tap, no index arithmetic.
// Weights reach the shader as exact fp32 uniforms read with constant indices (an array indexed by
// a loop variable would become a texture load on vc4); accumulation is fp32 inside the fragment;
// the one rounding is the stochastic store of the result.
// CPU twin: cpu/conv2d.ts on the decoded input (see test/gl/vc4-16bit.test.ts).
import type { Activation } from '../engine';
import type { GlEngine } from './engine';
import { glf, PACKING } from './glsl';
import { actGlsl } from '../activation';
import { decode, decodeUniforms, encode, fromTexels, Q16_GLSL, toTexels } from './q16';
import type { GlTensor, TexRef } from './tensor';

export class Q16Tensor {
  disposed = false;
  /** Values are (code - 32768)·2^e. */
  constructor(readonly shape: readonly number[], readonly e: number, public ref: TexRef) {}
  get size(): number { return this.shape.reduce((a, b) => a * b, 1); }
}

export function q16Rect(shape: readonly number[]): { w: number; h: number } {
  const [N, C, H, W] = shape;
  if (C % 2) throw new Error(`q16: a tensor of shape [${shape}] needs an even channel count (pad with a zero channel)`);
  return { w: (C / 2) * W, h: N * H };
}

/** Host flat order (NCHW) <-> q16 texel order. */
function texelOrder(shape: readonly number[]): Int32Array {
  const [N, C, H, W] = shape, { w } = q16Rect(shape);
  const at = new Int32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) {
    const texel = (n * H + h) * w + (c >> 1) * W + x;
    at[((n * C + c) * H + h) * W + x] = 2 * texel + (c & 1);
  }
  return at;
}

/** Uploads host values (NCHW) as a q16 tensor at step 2^e, rounding with rand. */
export function uploadQ16(g: GlEngine, shape: readonly number[], values: Float32Array, e: number, rand: () => number): { t: Q16Tensor; saturated: number } {
  const { codes, saturated } = encode(values, e, rand);
  const order = texelOrder(shape), placed = new Uint16Array(codes.length);
  for (let i = 0; i < codes.length; i++) placed[order[i]] = codes[i];
  const { w, h } = q16Rect(shape);
  const ref = g.allocRect(w, h);
  g.uploadRect(ref, toTexels(placed));
  return { t: new Q16Tensor([...shape], e, ref), saturated };
}

/** Reads a q16 tensor back as host values (NCHW) and its raw codes (0 = saturated store). */
export function readQ16(g: GlEngine, t: Q16Tensor): { values: Float32Array; codes: Uint16Array } {
  const placed = fromTexels(g.readRect(t.ref), t.size + (t.size & 1));
  const order = texelOrder(t.shape), codes = new Uint16Array(t.size);
  for (let i = 0; i < t.size; i++) codes[i] = placed[order[i]];
  return { values: decode(codes, t.e), codes };
}

export function disposeQ16(g: GlEngine, t: Q16Tensor): void {
  if (t.disposed) return;
  t.disposed = true;
  g.release(t.ref);
}

const PRELUDE = `precision highp float;
uniform float u_inf;
uniform float u_nan;
uniform float u_zero;
uniform float u_inv;
uniform float u_seed;
${Q16_GLSL}`;
const CONSTANTS = { inf: Infinity, nan: NaN, zero: 0 };

// tanh for a 16-bit store: abs error below 1.5e-5, a quarter of the 2^-14 step of a tanh output,
// in about 25 multiply-adds with no special function (precTanh's exact-fp32 path costs several
// times that; the SFU's 12 bits would not do). e^{-2a} = (e^{-a/32})^64: a degree-6 Taylor polynomial on
// [0, 0.29] (truncation 2.6e-8), six squarings (relative error x64, plus 6 roundings); then
// (1 - t)/(1 + t) with 1/d for d = (1 + t)/2 in [0.5, 1] by Newton from 48/17 - 32/17·d
// (error 1/17, 3 steps: 1e-10). Derivation of the bound in test/gl/vc4-16bit.test.ts.
const TANH16 = `
float tanh16(float x) {
  float y = min(abs(x), 9.0) * 0.03125;
  float e = 1.0 - y * (1.0 - y * (0.5 - y * (0.166666667 - y * (0.0416666667 - y * (0.00833333333 - y * 0.00138888889)))));
  e *= e; e *= e; e *= e; e *= e; e *= e; e *= e;
  float d = 0.5 + 0.5 * e;
  float r = 2.82352941 - 1.88235294 * d;
  r = r * (2.0 - d * r); r = r * (2.0 - d * r); r = r * (2.0 - d * r);
  return sign(x) * (1.0 - e) * r * 0.5;
}`;
const act16 = (act: Activation, s: string) => (act === 'tanh' ? `tanh16(${s})` : actGlsl(act, s));

/** An exact-fp32 GL tensor (the engine's RGBA8 float packing) stored as q16 at step 2^e. */
export function toQ16(g: GlEngine, x: GlTensor, e: number, seed: number): Q16Tensor {
  const shape = x.shape, [, C, H, W] = shape, { w, h } = q16Rect(shape);
  const src = x.ref, out = g.allocRect(w, h);
  const addr = (j: string) => `texture2D(u_x, vec2((${j} - floor((${j} + 0.5) * ${glf(1 / src.w)}) * ${glf(src.w)} + 0.5) * ${glf(1 / src.w)}, (floor((${j} + 0.5) * ${glf(1 / src.w)}) + 0.5) * ${glf(1 / src.h)}))`;
  g.runRaw({
    name: 'q16:encode', key: `q16:encode|${shape}`, target: out, fetches: 2,
    inputs: [{ name: 'x', tex: src.tex }],
    source: () => `${PRELUDE}
uniform sampler2D u_x;
${PACKING}
void main() {
  vec2 fc = floor(gl_FragCoord.xy);
  float cp = floor((fc.x + 0.5) * ${glf(1 / W)}), xw = fc.x - cp * ${glf(W)};
  float n = floor((fc.y + 0.5) * ${glf(1 / H)}), hh = fc.y - n * ${glf(H)};
  float j = ((n * ${glf(C)} + 2.0 * cp) * ${glf(H)} + hh) * ${glf(W)} + xw;
  float j1 = j + ${glf(H * W)};
  vec2 v = vec2(unpackFloat(${addr('j')}), unpackFloat(${addr('j1')}));
  gl_FragColor = q16Store(v, u_inv, gl_FragCoord.xy, u_seed);
}`,
    draws: [{ x: 0, y: 0, w, h, uniforms: { ...CONSTANTS, inv: 2 ** -e, seed: seed % 4096 } }],
  });
  return new Q16Tensor([...shape], e, out);
}

/** Saturated stores (code 0) in a q16 tensor: a GPU pass counts them per 32 texels of a row, the
 *  host adds up the small result. */
export function countSaturated(g: GlEngine, t: Q16Tensor): number {
  const { w, h } = q16Rect(t.shape), cw = Math.ceil(w / 32);
  const out = g.allocRect(cw, h);
  const taps: string[] = [];
  for (let k = 0; k < 32; k++) {
    taps.push(`t = texture2D(u_q, vec2(x0 + ${glf(k + 0.5)}, fy) * inv); live = x0 + ${glf(k)} < ${glf(w)} ? 1.0 : 0.0;
  n += live * ((t.r + t.g == 0.0 ? 1.0 : 0.0) + (t.b + t.a == 0.0 ? 1.0 : 0.0));`);
  }
  g.runRaw({
    name: 'q16:saturated', key: `q16:saturated|${w}x${h}`, target: out, fetches: 32,
    inputs: [{ name: 'q', tex: t.ref.tex }],
    source: () => `precision highp float;
uniform sampler2D u_q;
void main() {
  vec2 inv = vec2(${glf(1 / w)}, ${glf(1 / h)});
  float x0 = floor(gl_FragCoord.x) * 32.0, fy = gl_FragCoord.y;
  vec4 t; float live; float n = 0.0;
  ${taps.join('\n  ')}
  gl_FragColor = vec4(n * ${glf(1 / 255)}, 0.0, 0.0, 0.0);
}`,
    draws: [{ x: 0, y: 0, w: cw, h, uniforms: {} }],
  });
  const bytes = g.readRect(out);
  g.release(out);
  let n = 0;
  for (let i = 0; i < bytes.length; i += 4) n += bytes[i];
  return n;
}

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

/**
 * dense on q16: x [N, I] (I even) held as [N, I, 1, 1], weights [I, O] and bias [O] as fp32 host
 * arrays, O even: a 1x1 convolution with the weights transposed on the host, so one fetch serves
 * 4 multiply-adds here too. Per draw I/2 vec4 uniforms (LeNet's dense1: 400).
 */
export function denseQ16(g: GlEngine, x: Q16Tensor, w: Float32Array, wShape: readonly number[], b: Float32Array,
  act: Activation, eOut: number, seed: number): Q16Tensor {
  const [I, O] = wShape, [N] = x.shape;
  if (x.size !== N * I) throw new Error(`denseQ16: input [${x.shape}] does not match weights [${wShape}]`);
  const wT = new Float32Array(I * O);
  for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) wT[o * I + i] = w[i * O + o];
  const x4 = new Q16Tensor([N, I, 1, 1], x.e, x.ref);
  const y = conv2dQ16(g, x4, wT, [O, I, 1, 1], b, act, eOut, seed);
  return new Q16Tensor([N, O, 1, 1], y.e, y.ref);
}

/**
 * Runs a q16 store at step 2^e and, while any value saturated, redoes it `grow` doublings larger
 * (never a silent clip). Returns the tensor and how many redos it took.
 */
export function storeChecked(g: GlEngine, e: number, run: (e: number) => Q16Tensor, grow = 2, maxTries = 16): { t: Q16Tensor; redos: number } {
  for (let redo = 0; redo < maxTries; redo++, e += grow) {
    const t = run(e);
    if (countSaturated(g, t) === 0) return { t, redos: redo };
    disposeQ16(g, t);
  }
  throw new Error(`q16: a store still saturated after ${maxTries} rescales (step 2^${e}); a value is not finite?`);
}
