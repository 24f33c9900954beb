// vc4 16-bit working storage (issue 10 item 1; design: research gl-redesign.md §4.2, option C).
// A value is a 16-bit code u in offset binary with a per-tensor power-of-two step 2^e:
//   value = (u - 32768) · 2^e,  u in [1, 65535]; u = 0 is never a value: it marks a saturated store.
// Two codes share one RGBA8 texel (R,G = high and low byte of the first, B,A of the second), so a
// fragment reads two channels with one fetch and writes two outputs. Every store rounds
// stochastically (Gupta et al. 2015, arXiv 1502.02551: round-to-nearest stalls low-precision
// training, stochastic rounding does not): u = floor(y) + 32768 + [r < frac(y)], y = v·2^-e, r uniform in [0,1), so
// E[u] is exact and |error| < one step. This file is the format: the host twin (encode, decode,
// scale choice) and the GLSL pieces every 16-bit kernel shares.
import { glf } from './glsl';

export const Q16_ZERO = 32768;
/** Largest |v|·2^-e a store can hold; past it the store saturates (code 0). */
export const Q16_MAX = 32767;

/** The step exponent for a tensor whose values reach maxAbs, with `headroom` doublings to spare:
 *  the smallest e with maxAbs·2^headroom <= Q16_MAX·2^e. */
export function stepExponent(maxAbs: number, headroom = 1): number {
  if (!(maxAbs > 0) || !Number.isFinite(maxAbs)) return -24;
  return Math.max(-126, Math.ceil(Math.log2((maxAbs * 2 ** headroom) / Q16_MAX)));
}

/** Host twin of the GLSL store: codes for `values` at step 2^e, rounding with `rand()` in [0,1).
 *  Returns the codes and how many saturated (code 0). */
export function encode(values: ArrayLike<number>, e: number, rand: () => number): { codes: Uint16Array; saturated: number } {
  const codes = new Uint16Array(values.length);
  const inv = 2 ** -e;
  let saturated = 0;
  for (let i = 0; i < values.length; i++) {
    const y = values[i] * inv, fy = Math.floor(y);
    const u = fy + Q16_ZERO + (rand() < y - fy ? 1 : 0);
    if (!(u >= 1 && u <= 65535)) { saturated++; continue; }
    codes[i] = u;
  }
  return { codes, saturated };
}

export function decode(codes: ArrayLike<number>, e: number): Float32Array {
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = (codes[i] - Q16_ZERO) * 2 ** e;
  return out;
}

/** Texel bytes of code pairs (a in R,G; b in B,A), as the GPU stores them. */
export function toTexels(codes: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(Math.ceil(codes.length / 2) * 4);
  for (let i = 0; i < codes.length; i++) {
    bytes[2 * i] = codes[i] >> 8;
    bytes[2 * i + 1] = codes[i] & 255;
  }
  return bytes;
}

export function fromTexels(bytes: Uint8Array, count: number): Uint16Array {
  const codes = new Uint16Array(count);
  for (let i = 0; i < count; i++) codes[i] = (bytes[2 * i] << 8) | bytes[2 * i + 1];
  return codes;
}

/**
 * GLSL shared by 16-bit kernels.
 * - q16Decode: a texel's two values at step 2^e, given u_D = (65280, 255)·2^e and
 *   u_off = 32768·2^e from the host. In units of the step: t.r is byte/255 within 2^-25, so
 *   t.r·65280 is within 0.002 of byte·256; that product and the sum (both below 65536) round by at
 *   most 0.002 each, and the subtraction is exact (Sterbenz) or rounds below 0.001: a decoded value
 *   is within 0.007 of a step of its code (the tests take 0.01). One dot and one subtraction, no floor.
 * - q16Noise: r in [0,1) for fragment `p` and a per-store seed; interleaved gradient noise
 *   (Jimenez 2014) over the fragment position, shifted by the golden ratio per seed, so
 *   neighbouring fragments and successive stores draw different r. Multiply, add and fract only.
 * - q16Store: two values at step 2^e (u_inv = 2^-e) to one texel; a value out of range stores
 *   code 0, which the saturation pass counts.
 */
export const Q16_GLSL = `
vec2 q16Decode(vec4 t, vec2 D, float off) { return vec2(dot(t.rg, D), dot(t.ba, D)) - off; }
float q16Noise(vec2 p, float seed) {
  float r = fract(52.9829189 * fract(dot(p, vec2(0.06711056, 0.00583715))));
  return fract(r + seed * 0.618033989);
}
vec2 q16Code(vec2 v, float inv, vec2 r) {
  // floor(y + r) would round y + r up to the next integer when r is within an ulp of 1; comparing
  // r with y's fraction (exact) rounds up with probability frac(y) and never on the grid.
  vec2 y = v * inv, fy = floor(y), f = y - fy;
  vec2 u = fy + ${glf(Q16_ZERO)} + vec2(r.x < f.x ? 1.0 : 0.0, r.y < f.y ? 1.0 : 0.0);
  return vec2(u.x >= 1.0 && u.x <= 65535.0 ? u.x : 0.0, u.y >= 1.0 && u.y <= 65535.0 ? u.y : 0.0);
}
vec4 q16Texel(vec2 u) {
  vec2 hi = floor(u * ${glf(1 / 256)});
  return vec4(hi.x, u.x - hi.x * 256.0, hi.y, u.y - hi.y * 256.0) * ${glf(1 / 255)};
}
vec4 q16Store(vec2 v, float inv, vec2 frag, float seed) {
  vec2 r = vec2(q16Noise(frag, seed), q16Noise(frag + vec2(${glf(1 / 3)}, 0.5), seed + 0.5));
  return q16Texel(q16Code(v, inv, r));
}
`;

/** The host-side uniforms of a tensor stored at step 2^e. */
export function decodeUniforms(e: number): { D: Float32Array; off: number } {
  return { D: Float32Array.of(65280 * 2 ** e, 255 * 2 ** e), off: Q16_ZERO * 2 ** e };
}
