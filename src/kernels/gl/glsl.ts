// GLSL ES 1.00 source shared by every kernel: exact float32 <-> RGBA8 packing, the special-function
// layer (native, or rounded to VideoCore's ~12 bits), and precise exp/log/reciprocal/tanh made of
// multiply, add, floor and compare only, so that kernels do not depend on the SFU's precision.
import type { Profile } from './profile';

/** A GLSL float literal that parses to exactly Math.fround(x). */
export function glf(x: number): string {
  const v = Math.fround(x);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return v.toFixed(1);
  return v.toPrecision(9);
}

// Powers of two used by the exponent ladders; literals of 2^±k, exact in fp32.
const P = (k: number) => glf(2 ** k);

// Packing: one float per RGBA8 texel, the bytes of its IEEE-754 little-endian encoding
// (R = mantissa bits 0-7, G = 8-15, B = 16-22 + exponent bit 0, A = exponent bits 1-7 + sign), so
// the host uploads and reads back the Float32Array's own bytes. Only *, + by powers of two,
// floor and compare are used: exact on any fp32 ALU. Normals, +-0 and +-Inf round-trip exactly;
// subnormals become zero of the same sign (VideoCore flushes them anyway); any NaN is read as a
// NaN (from the host-set uniform u_nan, as GLSL ES 1.00 has no NaN literal) and written as
// 0x7fffffff.
export const PACKING = `
float unpackFloat(vec4 t) {
  vec4 b = floor(t * 255.0 + 0.5);
  float neg = b.a >= 128.0 ? 1.0 : 0.0;
  float ahi = b.a - 128.0 * neg;
  float ehi = b.b >= 128.0 ? 1.0 : 0.0;
  float m = (b.b - 128.0 * ehi) * 65536.0 + b.g * 256.0 + b.r;
  float sgn = 1.0 - 2.0 * neg;
  float e = ahi * 2.0 + ehi;
  if (e == 0.0) return sgn * u_zero;
  if (e == 255.0) return m == 0.0 ? sgn * u_inf : u_nan;
  // e - 127 = 2*(ahi - 64) + ehi + 1, so 2^(e-127) = p*p*2^(ehi+1) with p = 2^(ahi-64): a 7-step
  // ladder on the exponent's high bits instead of 14 on the whole exponent. Every partial
  // product stays a normal float: f*2^(ehi+1) is in [2,8), p in [2^-64, 2^63], and e >= 1.
  float p = ${P(-64)};
  p *= ahi >= 64.0 ? ${P(64)} : 1.0; ahi -= ahi >= 64.0 ? 64.0 : 0.0;
  p *= ahi >= 32.0 ? ${P(32)} : 1.0; ahi -= ahi >= 32.0 ? 32.0 : 0.0;
  p *= ahi >= 16.0 ? ${P(16)} : 1.0; ahi -= ahi >= 16.0 ? 16.0 : 0.0;
  p *= ahi >= 8.0 ? 256.0 : 1.0;     ahi -= ahi >= 8.0 ? 8.0 : 0.0;
  p *= ahi >= 4.0 ? 16.0 : 1.0;      ahi -= ahi >= 4.0 ? 4.0 : 0.0;
  p *= ahi >= 2.0 ? 4.0 : 1.0;       ahi -= ahi >= 2.0 ? 2.0 : 0.0;
  p *= ahi >= 1.0 ? 2.0 : 1.0;
  float f = (1.0 + m * ${P(-23)}) * (2.0 + 2.0 * ehi);
  return sgn * ((f * p) * p);
}

// a > 0 finite normal: returns (m, e) with a = m * 2^e, m in [1,2).
vec2 splitExp(float a) {
  float e = 0.0;
  if (a >= 2.0) {
    e += a >= ${P(64)} ? 64.0 : 0.0; a *= a >= ${P(64)} ? ${P(-64)} : 1.0;
    e += a >= ${P(32)} ? 32.0 : 0.0; a *= a >= ${P(32)} ? ${P(-32)} : 1.0;
    e += a >= ${P(16)} ? 16.0 : 0.0; a *= a >= ${P(16)} ? ${P(-16)} : 1.0;
    e += a >= 256.0 ? 8.0 : 0.0;     a *= a >= 256.0 ? ${P(-8)} : 1.0;
    e += a >= 16.0 ? 4.0 : 0.0;      a *= a >= 16.0 ? 0.0625 : 1.0;
    e += a >= 4.0 ? 2.0 : 0.0;       a *= a >= 4.0 ? 0.25 : 1.0;
    e += a >= 2.0 ? 1.0 : 0.0;       a *= a >= 2.0 ? 0.5 : 1.0;
  } else {
    e -= a < ${P(-63)} ? 64.0 : 0.0; a *= a < ${P(-63)} ? ${P(64)} : 1.0;
    e -= a < ${P(-31)} ? 32.0 : 0.0; a *= a < ${P(-31)} ? ${P(32)} : 1.0;
    e -= a < ${P(-15)} ? 16.0 : 0.0; a *= a < ${P(-15)} ? ${P(16)} : 1.0;
    e -= a < ${P(-7)} ? 8.0 : 0.0;   a *= a < ${P(-7)} ? 256.0 : 1.0;
    e -= a < 0.125 ? 4.0 : 0.0;      a *= a < 0.125 ? 16.0 : 1.0;
    e -= a < 0.5 ? 2.0 : 0.0;        a *= a < 0.5 ? 4.0 : 1.0;
    e -= a < 1.0 ? 1.0 : 0.0;        a *= a < 1.0 ? 2.0 : 1.0;
  }
  return vec2(a, e);
}

// m * 2^e for integral e in [-255, 255]; partial products move monotonically toward the result.
float ldexp2(float m, float e) {
  float d = e;
  m *= d >= 64.0 ? ${P(64)} : 1.0;  d -= d >= 64.0 ? 64.0 : 0.0;
  m *= d >= 64.0 ? ${P(64)} : 1.0;  d -= d >= 64.0 ? 64.0 : 0.0;
  m *= d >= 64.0 ? ${P(64)} : 1.0;  d -= d >= 64.0 ? 64.0 : 0.0;
  m *= d >= 32.0 ? ${P(32)} : 1.0;  d -= d >= 32.0 ? 32.0 : 0.0;
  m *= d >= 16.0 ? ${P(16)} : 1.0;  d -= d >= 16.0 ? 16.0 : 0.0;
  m *= d >= 8.0 ? 256.0 : 1.0;      d -= d >= 8.0 ? 8.0 : 0.0;
  m *= d >= 4.0 ? 16.0 : 1.0;       d -= d >= 4.0 ? 4.0 : 0.0;
  m *= d >= 2.0 ? 4.0 : 1.0;        d -= d >= 2.0 ? 2.0 : 0.0;
  m *= d >= 1.0 ? 2.0 : 1.0;        d -= d >= 1.0 ? 1.0 : 0.0;
  m *= d <= -64.0 ? ${P(-64)} : 1.0; d += d <= -64.0 ? 64.0 : 0.0;
  m *= d <= -64.0 ? ${P(-64)} : 1.0; d += d <= -64.0 ? 64.0 : 0.0;
  m *= d <= -64.0 ? ${P(-64)} : 1.0; d += d <= -64.0 ? 64.0 : 0.0;
  m *= d <= -32.0 ? ${P(-32)} : 1.0; d += d <= -32.0 ? 32.0 : 0.0;
  m *= d <= -16.0 ? ${P(-16)} : 1.0; d += d <= -16.0 ? 16.0 : 0.0;
  m *= d <= -8.0 ? ${P(-8)} : 1.0;   d += d <= -8.0 ? 8.0 : 0.0;
  m *= d <= -4.0 ? 0.0625 : 1.0;     d += d <= -4.0 ? 4.0 : 0.0;
  m *= d <= -2.0 ? 0.25 : 1.0;       d += d <= -2.0 ? 2.0 : 0.0;
  m *= d <= -1.0 ? 0.5 : 1.0;
  return m;
}

vec4 packFloat(float x) {
  // NaN compares false both ways; Inf is the only value above the largest finite float.
  bool isNan = !(x <= 0.0) && !(x >= 0.0);
  if (isNan) return vec4(255.0, 255.0, 255.0, 127.0) * ${glf(1 / 255)};
  // -0 is told from +0 by the sign of its reciprocal (-Inf), the one division on this path: its
  // magnitude does not matter, so the SFU's precision cannot change the result.
  float neg = (x < 0.0 || (x == 0.0 && 1.0 / x < 0.0)) ? 1.0 : 0.0;
  float a = abs(x);
  if (a < ${P(-126)}) return vec4(0.0, 0.0, 0.0, 128.0 * neg) * ${glf(1 / 255)};
  if (a > ${glf(3.4028234663852886e38)}) return vec4(0.0, 0.0, 128.0, 127.0 + 128.0 * neg) * ${glf(1 / 255)};
  vec2 me = splitExp(a);
  float e = me.y + 127.0;
  float m = (me.x - 1.0) * ${P(23)};
  float m2 = floor(m * ${P(-16)});
  float r1 = m - m2 * 65536.0;
  float m1 = floor(r1 * ${P(-8)});
  float m0 = r1 - m1 * 256.0;
  float ehi = floor(e * 0.5);
  float elo = e - ehi * 2.0;
  return vec4(m0, m1, m2 + 128.0 * elo, ehi + 128.0 * neg) * ${glf(1 / 255)};
}
`;

/** The special-function layer: SFU_EXP2/SFU_LOG2/SFU_RCP, VideoCore-rounded in the vc4 profile. */
export function sfuLayer(p: Profile): string {
  if (!p.emulateSfu) {
    return `
float SFU_EXP2(float x) { return exp2(x); }
float SFU_LOG2(float x) { return log2(x); }
float SFU_RCP(float x) { return 1.0 / x; }
`;
  }
  const keep = glf(2 ** (p.sfuBits - 1)), inv = glf(2 ** -(p.sfuBits - 1));
  // The vc4 SFU's exp2/log2 are raw (about 4 significant digits); Mesa follows RECIP with one
  // Newton-Raphson step (vc4_program.c ntq_rcp), so a rounded seed plus one step is what a
  // division on the board gives.
  return `
float sfuRound(float x) {
  float a = abs(x);
  if (!(a >= ${P(-126)}) || a > ${glf(3.4028234663852886e38)}) return x;
  vec2 me = splitExp(a);
  float m = floor(me.x * ${keep} + 0.5) * ${inv};
  return sign(x) * ldexp2(m, me.y);
}
float SFU_EXP2(float x) { return sfuRound(exp2(x)); }
float SFU_LOG2(float x) { return sfuRound(log2(x)); }
float SFU_RCP(float x) { float r = sfuRound(1.0 / x); return r * (2.0 - x * r); }
`;
}

// Precise functions for kernels, independent of the SFU: exp by exact range reduction and a
// polynomial, reciprocal by Newton-Raphson from the SFU seed, log by atanh series.
export const PRECISE = `
float precRcp(float x) {
  float r = SFU_RCP(x);
  r = r * (2.0 - x * r);
  return r * (2.0 - x * r);
}
float precExp(float x) {
  float t = clamp(x * 1.44269504, -150.0, 128.0);
  float n = floor(t);
  float f = (t - n) * 0.693147181;
  // e^f on [0, ln2): Taylor to degree 9, truncation error < 2e-9 relative
  float p = 1.0 + f * (1.0 + f * (0.5 + f * (0.166666667 + f * (0.0416666667 + f * (0.00833333333
          + f * (0.00138888889 + f * (0.000198412698 + f * (0.0000248015873 + f * 0.00000275573192))))))));
  return n < -126.0 ? ldexp2(ldexp2(p, -126.0), n + 126.0) : ldexp2(p, n);
}
float precLog(float x) {
  vec2 me = splitExp(x);
  // keep m in [sqrt(1/2), sqrt(2)) so the series argument stays small
  float big = me.x > 1.41421356 ? 1.0 : 0.0;
  float m = me.x * (big > 0.5 ? 0.5 : 1.0);
  float e = me.y + big;
  float u = (m - 1.0) * precRcp(m + 1.0);
  float u2 = u * u;
  float s = u * (2.0 + u2 * (0.666666667 + u2 * (0.4 + u2 * (0.285714286 + u2 * (0.222222222 + u2 * (0.181818182 + u2 * 0.153846154))))));
  return e * 0.693147181 + s;
}
// log(1 + r) for r >= 0, accurate when r is small (where precLog(1.0 + r) would first round 1 + r
// to the ulp of 1): log(1 + r) = 2 atanh(r / (2 + r)), whose series argument stays below 0.2 here.
float precLog1p(float r) {
  float u = r * precRcp(2.0 + r);
  float u2 = u * u;
  float s = u * (2.0 + u2 * (0.666666667 + u2 * (0.4 + u2 * (0.285714286 + u2 * (0.222222222 + u2 * (0.181818182 + u2 * 0.153846154))))));
  return r < 0.5 ? s : precLog(1.0 + r);
}
float precTanh(float x) {
  float a = min(abs(x), 20.0);
  float t = precExp(-2.0 * a);
  float y = (1.0 - t) * precRcp(1.0 + t);
  // near 0, 1 - e^{-2a} loses digits; the odd series is accurate there
  float a2 = a * a;
  float ys = a * (1.0 + a2 * (-0.333333333 + a2 * (0.133333333 + a2 * (-0.0539682540 + a2 * 0.0218694885))));
  return sign(x) * (a < 0.125 ? ys : y);
}
`;
