// Weight and bias gradients from q16 operands, exact fp32 out: the program builder shared by the
// conv (conv2d.ts) and dense (dense.ts) backward passes.
//   dW[o,c,i,j] = Σ_n Σ_p Σ_q dy[n,o,p,q]·x[n,c,p+i,q+j]     dB[o] = Σ_n Σ_p Σ_q dy[n,o,p,q]
// Both operands come in batch pairs (relayout.ts): a texel holds samples 2m and 2m+1 of one channel,
// so each of a fragment's two fetches a tap brings two values it multiplies: 1 fetch a multiply-add.
// (In channel pairs a one-output fragment would use one of each texel's two values: 2 fetches.)
// One fragment sums one chunk of the reduction (B sample pairs x R rows x QC columns, straight-line,
// at most `taps` taps) for one weight, in fp32 over products of codes, and stores the partial sum
// exactly (the engine's RGBA8 float layout, one value a texel; packFinite below). The host adds the
// chunks' partials in float64 and scales them. A weight gradient is never rounded to 16 bits.
import type { GlEngine } from '../engine';
import { glf } from '../glsl';
import { expectLayout, type Q16Tensor } from './tensor';

const divisors = (n: number) => Array.from({ length: n }, (_, k) => k + 1).filter((d) => n % d === 0);

/** How the reduction over (sample pair, row, column) is cut into chunks of B pairs x R rows x QC
 *  columns, and where the partials land. Rows and columns at most sqrt(taps) each: Mesa's vc4
 *  compiler keeps every distinct texture coordinate of a shader live (conv1's 2 rows x 24 columns,
 *  48 taps, and its 12 x 12 failed register allocation; 2 pairs x 8 x 8 compiles two-threaded). */
export function chunking(NP: number, P: number, Q: number, E: number, O: number, taps: number, maxSide: number) {
  const side = Math.max(1, Math.floor(Math.sqrt(taps)));
  const QC = Math.max(...divisors(Q).filter((c) => c <= side), 1);
  const R = Math.max(...divisors(P).filter((r) => r <= side && r * QC <= taps), 1);
  const B = Math.max(...divisors(NP).filter((b) => b * R * QC <= taps), 1);
  const S = (NP / B) * (P / R) * (Q / QC);
  // partials of chunk s = sy·SX + sx, weight (o, e) at texel (sx·E + e, sy·O + o): as square as fits
  const fits = divisors(S).filter((sx) => sx * E <= maxSide && (S / sx) * O <= maxSide);
  if (!fits.length) throw new Error(`q16 weight gradient: ${S} chunks of ${O}x${E} partials do not fit a ${maxSide}-texel side; raise the taps a fragment`);
  const SX = fits.reduce((a, b) => (Math.abs(Math.log((b * E) / ((S / b) * O))) < Math.abs(Math.log((a * E) / ((S / a) * O))) ? b : a));
  return { R, QC, B, SX, SY: S / SX };
}

// The partial sum's float32 bits, as the engine's packing lays them out (glsl.ts packFloat: R =
// mantissa bits 0-7, G = 8-15, B = 16-22 + exponent bit 0, A = exponent bits 1-7 + sign), for the
// values a partial can take: finite, below 2^64 in size (a chunk of T taps is at most T·2^15 in
// (1/255)² code² units), and flushed to +0 below 2^-60 of those units (far inside the 0.01-code
// decode error of any nonzero operand). Scaling by 2^60 first leaves a one-sided 7-step exponent
// ladder: 123 QPU instructions by the vc4 compiler where packFloat's NaN/Inf/-0 cases and
// two-sided ladders take 321, which was a third of a dense weight-gradient fragment.
const PACK_FINITE = `
vec4 packFinite(float x) {
  float a = abs(x);
  if (a < ${glf(2 ** -60)}) return vec4(0.0);
  float m = a * ${glf(2 ** 60)}, e = -60.0;
  bool k;
  k = m >= ${glf(2 ** 64)}; m *= k ? ${glf(2 ** -64)} : 1.0; e += k ? 64.0 : 0.0;
  k = m >= ${glf(2 ** 32)}; m *= k ? ${glf(2 ** -32)} : 1.0; e += k ? 32.0 : 0.0;
  k = m >= ${glf(2 ** 16)}; m *= k ? ${glf(2 ** -16)} : 1.0; e += k ? 16.0 : 0.0;
  k = m >= 256.0; m *= k ? ${glf(2 ** -8)} : 1.0; e += k ? 8.0 : 0.0;
  k = m >= 16.0; m *= k ? 0.0625 : 1.0; e += k ? 4.0 : 0.0;
  k = m >= 4.0; m *= k ? 0.25 : 1.0; e += k ? 2.0 : 0.0;
  k = m >= 2.0; m *= k ? 0.5 : 1.0; e += k ? 1.0 : 0.0;
  float mant = (m - 1.0) * ${glf(2 ** 23)};
  float m2 = floor(mant * ${glf(2 ** -16)}), r1 = mant - m2 * 65536.0;
  float m1 = floor(r1 * ${glf(2 ** -8)}), m0 = r1 - m1 * 256.0;
  float be = e + 127.0, ehi = floor(be * 0.5), elo = be - 2.0 * ehi;
  return vec4(m0, m1, m2 + 128.0 * elo, ehi + (x < 0.0 ? 128.0 : 0.0)) * ${glf(1 / 255)};
}`;

// A texel's two values in units of 1/255 of a code: u/255 - 128.50196 = hi·256/255 + lo/255 - 32768/255,
// read as t.r·256 + t.g - c. Cheaper on vc4 than dot(t.rg, (65280, 255)) - 32768 (the conv2 weight
// gradient at 128 taps: 2,479 QPU instructions against 2,971, by Mesa's vc4 compiler), and about
// as close (0.007 of a code, q16.ts): t.r is byte/255 within 2^-25, so t.r·256 is within 2^-17; the sum
// (< 257) rounds by at most 2^-16, c = fl(32768/255) is off by at most 2^-17, and the subtraction
// rounds by at most 2^-18 (Sterbenz makes it exact above 64.25): within 3.5e-5 of u/255, i.e. a
// decoded code is within 0.0088 of the stored one (the tests take 0.01). Partial sums are therefore
// in (1/255)² code² (1/255 code for the bias); the host scales by 255²·2^(ex+ey) (255·2^ey).
const DECODE = `vec2 code2(vec4 t) { return vec2(t.r * 256.0 + t.g, t.b * 256.0 + t.a) - ${glf(32768 / 255)}; }`;

/**
 * Partial sums for dW (x given) or dB (x null), summed on the host: Float64Array [O, C, K, K] or [O],
 * in value units. dy [N, O, P, Q] and x [N, Cx, H, W] in batch pairs, Cx >= wShape's C.
 * `taps` 128: by Mesa's vc4 compiler at batch 64 (bench/q16-kernel-cost.ts), conv2's dW costs 10.6
 * QPU instructions a multiply-add at 64 taps, 9.8 at 128, 9.4 at 256, where conv1's 144-tap chunk
 * fails register allocation; all two-threaded up to 128.
 */
export function weightGradQ16(g: GlEngine, x: Q16Tensor | null, dy: Q16Tensor, wShape: readonly number[], taps = 128): Float64Array {
  const op = x ? 'q16:weightGrad' : 'q16:biasGrad';
  expectLayout(op, dy, 'batch-pairs');
  if (x) expectLayout(op, x, 'batch-pairs');
  const [N, O, P, Q] = dy.shape, [O2, C, K] = wShape;
  const [Nx, Cx, H, W] = x ? x.shape : [N, C, P + K - 1, Q + K - 1];
  if (O2 !== O || Nx !== N || Cx < C || H - K + 1 !== P || W - K + 1 !== Q)
    throw new Error(`${op}: dy [${dy.shape}], x [${x?.shape ?? '-'}] and weights [${wShape}] do not fit together`);
  const NP = Math.ceil(N / 2), E = x ? C * K * K : 1;
  const { R, QC, B, SX, SY } = chunking(NP, P, Q, E, O, taps, g.profile.maxTextureSide);
  const tw = SX * E, th = SY * O;
  const target = g.allocRect(tw, th);
  const dyW = O * Q, dyH = NP * P, xW = Cx * W, xH = NP * H;
  const lines: string[] = [];
  for (let b = 0; b < B; b++) for (let r = 0; r < R; r++) for (let q = 0; q < QC; q++) {
    const a = `code2(texture2D(u_dy, bdy + vec2(${glf(q / dyW)}, ${glf((b * P + r) / dyH)})))`;
    lines.push(x ? `acc += dot(${a}, code2(texture2D(u_x, bx + vec2(${glf(q / xW)}, ${glf((b * H + r) / xH)}))));`
      : `v = ${a}; acc += v.x + v.y;`);
  }
  // v (an integer) = hi·d + lo; by 1 it is (v, 0), which the compiler cannot see through floor
  const split = (v: string, d: number, hi: string, lo: string) => (d === 1 ? `float ${hi} = ${v}; float ${lo} = 0.0;`
    : `float ${hi} = floor((${v} + 0.5) * ${glf(1 / d)}); float ${lo} = ${v} - ${hi} * ${glf(d)};`);
  g.runRaw({
    name: op, key: `${op}|${dy.shape}|${x?.shape}|${wShape}|${taps}|${g.profile.maxTextureSide}`, target, fetches: lines.length * (x ? 2 : 1),
    inputs: x ? [{ name: 'dy', tex: dy.ref.tex }, { name: 'x', tex: x.ref.tex }] : [{ name: 'dy', tex: dy.ref.tex }],
    source: () => `precision highp float;
uniform sampler2D u_dy;
${x ? 'uniform sampler2D u_x;' : ''}
${PACK_FINITE}
${DECODE}
void main() {
  vec2 fc = floor(gl_FragCoord.xy);
  ${split('fc.x', E, 'sx', 'e')}
  ${split('e', K * K, 'c', 'ij')}
  ${split('ij', K, 'i', 'j')}
  ${split('fc.y', O, 'sy', 'o')}
  float s = sy * ${glf(SX)} + sx;
  ${split('s', Q / QC, 'sp', 'qb')}
  ${split('sp', P / R, 'mb', 'pb')}
  // the chunk starts at sample pair mb·B, row pb·R, column qb·QC; dy texel (o·Q + q, m·P + p), x texel (c·W + q + j, m·H + p + i)
  vec2 bdy = (vec2(o * ${glf(Q)} + qb * ${glf(QC)}, mb * ${glf(B * P)} + pb * ${glf(R)}) + 0.5) * vec2(${glf(1 / dyW)}, ${glf(1 / dyH)});
  ${x ? `vec2 bx = (vec2(c * ${glf(W)} + qb * ${glf(QC)} + j, mb * ${glf(B * H)} + pb * ${glf(R)} + i) + 0.5) * vec2(${glf(1 / xW)}, ${glf(1 / xH)});` : ''}
  float acc = 0.0;${x ? '' : ' vec2 v;'}
  ${lines.join('\n  ')}
  gl_FragColor = packFinite(acc);
}`,
    draws: [{ x: 0, y: 0, w: tw, h: th, uniforms: {} }],
  });
  const bytes = g.readRect(target);
  g.release(target);
  const part = new Float32Array(bytes.buffer, bytes.byteOffset, tw * th);
  const out = new Float64Array(O * E), scale = x ? 255 * 255 * 2 ** (dy.e + x.e) : 255 * 2 ** dy.e;
  for (let sy = 0; sy < SY; sy++) for (let o = 0; o < O; o++) for (let sx = 0; sx < SX; sx++) {
    const row = (sy * O + o) * tw + sx * E;
    for (let e = 0; e < E; e++) out[o * E + e] += part[row + e];
  }
  for (let k = 0; k < out.length; k++) out[k] *= scale;
  return out;
}
