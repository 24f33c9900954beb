// The q16 tensor (format: ../q16.ts): [N, C, H, W] with C even, laid out as channel-pair planes
// side by side, texel (cp·W + w, n·H + h) = channels 2cp, 2cp+1 of (n, h, w). A tap of a
// convolution is then a constant texel offset from the fragment's own position, so generated code
// is straight-line: one add and one fetch a tap, no index arithmetic. Host upload/readback, the
// exact-fp32 -> q16 store, the saturation count and the checked store that redoes a saturated one.
import type { GlEngine } from '../engine';
import { glf, PACKING } from '../glsl';
import { decode, encode, fromTexels, Q16_GLSL, Q16_ZERO, toTexels } from '../q16';
import type { GlTensor, TexRef } from '../tensor';

/** 'channel-pairs' is the working layout above. 'batch-pairs' (relayout.ts) holds samples 2m, 2m+1
 *  of one channel in a texel, texel (c·W + w, m·H + h): the weight-gradient kernels' operands.
 *  'x-pairs', for a one-channel input (conv1's images, uploaded from the host): texel (w, n·H + h)
 *  holds columns w and w+1 (zero past the edge), so one fetch serves two taps of a row and conv1
 *  needs no zero channel. */
export type Q16Layout = 'channel-pairs' | 'batch-pairs' | 'x-pairs';

export class Q16Tensor {
  disposed = false;
  /** Values are (code - 32768)·2^e. */
  constructor(readonly shape: readonly number[], readonly e: number, public ref: TexRef, readonly layout: Q16Layout = 'channel-pairs') {}
  get size(): number { return this.shape.reduce((a, b) => a * b, 1); }
}

/** Throws the one-line error a kernel gives for an operand in the wrong layout or disposed. */
export function expectLayout(op: string, t: Q16Tensor, layout: Q16Layout): void {
  if (t.disposed) throw new Error(`${op}: input [${t.shape}] was disposed`);
  if (t.layout !== layout) throw new Error(`${op}: input [${t.shape}] is in ${t.layout} layout, this kernel reads ${layout}`);
}

export function q16Rect(shape: readonly number[], layout: Q16Layout = 'channel-pairs'): { w: number; h: number } {
  const [N, C, H, W] = shape;
  if (layout === 'batch-pairs') return { w: C * W, h: Math.ceil(N / 2) * H };
  if (layout === 'x-pairs') {
    if (C !== 1) throw new Error(`q16: x-pairs hold one channel, not the ${C} of [${shape}]`);
    return { w: W, h: N * H };
  }
  if (C % 2) throw new Error(`q16: a tensor of shape [${shape}] needs an even channel count (pad with a zero channel)`);
  return { w: (C / 2) * W, h: N * H };
}

/** Host flat order (NCHW) -> code slot in the layout's texels (2 per texel; x-pairs: the first of the two that hold it). */
export function texelOrder(shape: readonly number[], layout: Q16Layout = 'channel-pairs'): Int32Array {
  const [N, C, H, W] = shape, { w } = q16Rect(shape, layout);
  const at = new Int32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) {
    const slot = layout === 'batch-pairs' ? 2 * (((n >> 1) * H + h) * w + c * W + x) + (n & 1)
      : layout === 'x-pairs' ? 2 * ((n * H + h) * w + x) : 2 * ((n * H + h) * w + (c >> 1) * W + x) + (c & 1);
    at[((n * C + c) * H + h) * W + x] = slot;
  }
  return at;
}

/** Uploads host values (NCHW) as a q16 tensor at step 2^e, rounding with rand; slots no value
 *  fills (odd N in batch pairs) hold zero. */
export function uploadQ16(g: GlEngine, shape: readonly number[], values: Float32Array, e: number, rand: () => number,
  layout: Q16Layout = 'channel-pairs'): { t: Q16Tensor; saturated: number } {
  const { codes, saturated } = encode(values, e, rand);
  const { w, h } = q16Rect(shape, layout);
  const order = texelOrder(shape, layout), placed = new Uint16Array(2 * w * h).fill(Q16_ZERO);
  for (let i = 0; i < codes.length; i++) placed[order[i]] = codes[i];
  // x-pairs: a texel's second value is its right neighbour's first
  if (layout === 'x-pairs') for (let t = 0; t < w * h; t++) if ((t + 1) % w) placed[2 * t + 1] = placed[2 * t + 2];
  const ref = g.allocRect(w, h);
  g.uploadRect(ref, toTexels(placed));
  return { t: new Q16Tensor([...shape], e, ref, layout), saturated };
}

/** Reads a q16 tensor back as host values (NCHW) and its raw codes (0 = saturated store). */
export function readQ16(g: GlEngine, t: Q16Tensor): { values: Float32Array; codes: Uint16Array } {
  const placed = fromTexels(g.readRect(t.ref), 2 * t.ref.w * t.ref.h);
  const order = texelOrder(t.shape, t.layout), codes = new Uint16Array(t.size);
  for (let i = 0; i < t.size; i++) codes[i] = placed[order[i]];
  return { values: decode(codes, t.e), codes };
}

export function disposeQ16(g: GlEngine, t: Q16Tensor): void {
  if (t.disposed) return;
  t.disposed = true;
  g.release(t.ref);
}

/** Shared head of every q16 shader: the exact packing's constants, the store's uniforms, the format. */
export const PRELUDE = `precision highp float;
uniform float u_inf;
uniform float u_nan;
uniform float u_zero;
uniform float u_inv;
uniform float u_seed;
${Q16_GLSL}`;
export const CONSTANTS = { inf: Infinity, nan: NaN, zero: 0 };

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

/** Texels a saturation-count fragment reads: Mesa's vc4 compiler issues all of a shader's fetches
 *  early and keeps their results live, so 16 ran single-threaded and 32 failed register allocation;
 *  8 compiles two-threaded. */
const SAT_PER = 8;

/** Saturated stores (code 0) in a q16 tensor: a GPU pass counts them per SAT_PER texels of a row,
 *  the host adds up the small result. */
export function countSaturated(g: GlEngine, t: Q16Tensor): number {
  const { w, h } = t.ref, cw = Math.ceil(w / SAT_PER);
  const out = g.allocRect(cw, h);
  const taps: string[] = [];
  for (let k = 0; k < SAT_PER; k++) {
    taps.push(`t = texture2D(u_q, vec2(x0 + ${glf(k + 0.5)}, fy) * inv); live = x0 + ${glf(k)} < ${glf(w)} ? 1.0 : 0.0;
  n += live * ((t.r + t.g == 0.0 ? 1.0 : 0.0) + (t.b + t.a == 0.0 ? 1.0 : 0.0));`);
  }
  g.runRaw({
    name: 'q16:saturated', key: `q16:saturated|${w}x${h}`, target: out, fetches: SAT_PER,
    inputs: [{ name: 'q', tex: t.ref.tex }],
    source: () => `precision highp float;
uniform sampler2D u_q;
void main() {
  vec2 inv = vec2(${glf(1 / w)}, ${glf(1 / h)});
  float x0 = floor(gl_FragCoord.x) * ${glf(SAT_PER)}, fy = gl_FragCoord.y;
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
