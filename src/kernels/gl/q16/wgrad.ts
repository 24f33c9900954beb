// Weight and bias gradients from q16 operands, exact fp32 out: the program builder shared by the
// conv (conv2d.ts) and dense (dense.ts) backward passes.
//   dW[o,c,i,j] = Σ_n Σ_p Σ_q dy[n,o,p,q]·x[n,c,p+i,q+j]     dB[o] = Σ_n Σ_p Σ_q dy[n,o,p,q]
// Both operands come in batch pairs (relayout.ts): a texel holds samples 2m and 2m+1 of one channel,
// so each of a fragment's two fetches a tap brings two values it multiplies: 1 fetch a multiply-add.
// (In channel pairs a one-output fragment would use one of each texel's two values: 2 fetches.)
// One fragment sums one chunk of the reduction (B sample pairs x R rows x Q columns, straight-line,
// at most `taps` taps) for one weight, in fp32 over products of codes, and stores the partial sum
// exactly (the engine's RGBA8 float packing, one value a texel). The host adds the chunks' partials
// in float64 and scales by 2^(ex + ey). A weight gradient is never rounded to 16 bits.
import type { GlEngine } from '../engine';
import { glf, PACKING } from '../glsl';
import { expectLayout, PRELUDE, type Q16Tensor } from './tensor';

const divisors = (n: number) => Array.from({ length: n }, (_, k) => k + 1).filter((d) => n % d === 0);

/** How the reduction over (sample pair, row, column) is cut into chunks, and where partials land. */
export function chunking(NP: number, P: number, Q: number, E: number, O: number, taps: number, maxSide: number) {
  const R = Math.max(...divisors(P).filter((r) => r * Q <= taps), 1);
  const B = R === P ? Math.max(...divisors(NP).filter((b) => b * P * Q <= taps), 1) : 1;
  const S = (NP / B) * (P / R);
  // partials of chunk s = sy·SX + sx, weight (o, e) at texel (sx·E + e, sy·O + o): as square as fits
  const fits = divisors(S).filter((sx) => sx * E <= maxSide && (S / sx) * O <= maxSide);
  if (!fits.length) throw new Error(`q16 weight gradient: ${S} chunks of ${O}x${E} partials do not fit a ${maxSide}-texel side; raise the taps a fragment`);
  const SX = fits.reduce((a, b) => (Math.abs(Math.log((b * E) / ((S / b) * O))) < Math.abs(Math.log((a * E) / ((S / a) * O))) ? b : a));
  return { R, B, S, SX, SY: S / SX };
}

// A value of a texel in code units: t.r is byte/255 rounded to fp32 (within 2^-25), so t.r·65280 is
// within 0.002 of byte·256; the product, the add and the subtraction round by at most 0.002 each:
// a decoded code is within 0.008 of the stored code (the tests take 0.01).
const DECODE = `vec2 code2(vec4 t) { return vec2(dot(t.rg, vec2(65280.0, 255.0)), dot(t.ba, vec2(65280.0, 255.0))) - 32768.0; }`;

/**
 * Partial sums for dW (x given) or dB (x null), summed on the host: Float64Array [O, C, K, K] or [O],
 * in value units. dy [N, O, P, Q] and x [N, Cx, H, W] in batch pairs, Cx >= wShape's C.
 */
export function weightGradQ16(g: GlEngine, x: Q16Tensor | null, dy: Q16Tensor, wShape: readonly number[], taps = 64): Float64Array {
  const op = x ? 'q16:weightGrad' : 'q16:biasGrad';
  expectLayout(op, dy, 'batch-pairs');
  if (x) expectLayout(op, x, 'batch-pairs');
  const [N, O, P, Q] = dy.shape, [O2, C, K] = wShape;
  const [Nx, Cx, H, W] = x ? x.shape : [N, C, P + K - 1, Q + K - 1];
  if (O2 !== O || Nx !== N || Cx < C || H - K + 1 !== P || W - K + 1 !== Q)
    throw new Error(`${op}: dy [${dy.shape}], x [${x?.shape ?? '-'}] and weights [${wShape}] do not fit together`);
  const NP = Math.ceil(N / 2), E = x ? C * K * K : 1;
  const { R, B, SX, SY } = chunking(NP, P, Q, E, O, taps, g.profile.maxTextureSide);
  const tw = SX * E, th = SY * O;
  const target = g.allocRect(tw, th);
  const dyW = O * Q, dyH = NP * P, xW = Cx * W, xH = NP * H;
  const lines: string[] = [];
  for (let b = 0; b < B; b++) for (let r = 0; r < R; r++) for (let q = 0; q < Q; q++) {
    const a = `code2(texture2D(u_dy, bdy + vec2(${glf(q / dyW)}, ${glf((b * P + r) / dyH)})))`;
    lines.push(x ? `acc += dot(${a}, code2(texture2D(u_x, bx + vec2(${glf(q / xW)}, ${glf((b * H + r) / xH)}))));`
      : `v = ${a}; acc += v.x + v.y;`);
  }
  const split = (v: string, d: number, hi: string, lo: string) =>
    `float ${hi} = floor((${v} + 0.5) * ${glf(1 / d)}); float ${lo} = ${v} - ${hi} * ${glf(d)};`;
  g.runRaw({
    name: op, key: `${op}|${dy.shape}|${x?.shape}|${wShape}|${taps}|${g.profile.maxTextureSide}`, target, fetches: lines.length * (x ? 2 : 1),
    inputs: x ? [{ name: 'dy', tex: dy.ref.tex }, { name: 'x', tex: x.ref.tex }] : [{ name: 'dy', tex: dy.ref.tex }],
    source: () => `${PRELUDE}
uniform sampler2D u_dy;
${x ? 'uniform sampler2D u_x;' : ''}
${PACKING}
${DECODE}
void main() {
  vec2 fc = floor(gl_FragCoord.xy);
  ${split('fc.x', E, 'sx', 'e')}
  ${split('e', K * K, 'c', 'ij')}
  ${split('ij', K, 'i', 'j')}
  ${split('fc.y', O, 'sy', 'o')}
  float s = sy * ${glf(SX)} + sx;
  ${split('s', P / R, 'mb', 'pb')}
  // the chunk starts at sample pair mb·B, row pb·R; dy texel (o·Q + q, m·P + p), x texel (c·W + q + j, m·H + p + i)
  vec2 bdy = (vec2(o * ${glf(Q)}, mb * ${glf(B * P)} + pb * ${glf(R)}) + 0.5) * vec2(${glf(1 / dyW)}, ${glf(1 / dyH)});
  ${x ? `vec2 bx = (vec2(c * ${glf(W)} + j, mb * ${glf(B * H)} + pb * ${glf(R)} + i) + 0.5) * vec2(${glf(1 / xW)}, ${glf(1 / xH)});` : ''}
  float acc = 0.0;${x ? '' : ' vec2 v;'}
  ${lines.join('\n  ')}
  gl_FragColor = packFloat(acc);
}`,
    draws: [{ x: 0, y: 0, w: tw, h: th, uniforms: { inf: Infinity, nan: NaN, zero: 0 } }],
  });
  const bytes = g.readRect(target);
  g.release(target);
  const part = new Float32Array(bytes.buffer, bytes.byteOffset, tw * th);
  const out = new Float64Array(O * E), scale = 2 ** (dy.e + (x ? x.e : 0));
  for (let sy = 0; sy < SY; sy++) for (let o = 0; o < O; o++) for (let sx = 0; sx < SX; sx++) {
    const row = (sy * O + o) * tw + sx * E;
    for (let e = 0; e < E; e++) out[o * E + e] += part[row + e];
  }
  for (let k = 0; k < out.length; k++) out[k] *= scale;
  return out;
}
