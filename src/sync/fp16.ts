// IEEE 754 binary16 conversion for parameter transfer. Node 20 has no Float16Array, so the
// encoder works on the float32 bit pattern (round to nearest, ties to even, subnormals kept,
// overflow to infinity, NaN stays NaN) and the decoder is a 64K-entry table, since decoding
// runs on every received model and a table lookup beats recomputing exponents.
// encodeHalf and decodeHalfBytes run the WebAssembly SIMD versions (codec.wat) where they load;
// the JS ones here are their reference and fallback.
import { wasmCodecFor } from './codec-wasm';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** One float32 (as a JS number) to its nearest binary16 bit pattern. */
export function toHalfBits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf, or a quiet NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: infinity
  if (e <= 0) {
    // subnormal half (or zero): shift the mantissa with its hidden bit into place, then round
    if (e < -10) return sign; // below half the smallest subnormal: signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    const up = rem > mid || (rem === mid && (half & 1) === 1);
    return sign | (half + (up ? 1 : 0)); // a carry into the exponent field is the right answer
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  const up = rem > 0x1000 || (rem === 0x1000 && (half & 1) === 1);
  return sign | (half + (up ? 1 : 0)); // carry may reach 0x7c00 = infinity, also right
}

function halfBitsToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

let table: Float32Array | null = null;
function decodeTable(): Float32Array {
  if (!table) {
    // normal halves by their bits, as decodeHalfBytes makes them: through halfBitsToFloat's powers
    // of two, building the table took ~40 ms of each gossip thread's first exchange
    table = new Float32Array(65536);
    const bits = new Int32Array(table.buffer);
    for (let h = 0; h < 65536; h++) {
      const e = h & 0x7c00;
      if (e !== 0 && e !== 0x7c00) bits[h] = ((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x38000000);
      else table[h] = halfBitsToFloat(h);
    }
  }
  return table;
}

export function fromHalfBits(h: number): number {
  return decodeTable()[h & 0xffff];
}

/** Indices of the values encodeHalf's fast loop leaves to toHalfBits (reused; a model has a few hundred). */
let rareAt: Int32Array = new Int32Array(4096);

/** encodeHalf in plain JS: the reference the wasm path must match bit for bit, and the fallback. */
export function encodeHalfJs(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  // Every model sent is encoded whole, so this loop is a fixed part of every exchange's CPU
  // (bench/exchange-cost.ts). Values in the normal half range (all of a trained LeNet's but a few
  // hundred) are rounded inline on the float32 bits, to nearest with ties to even: on the magnitude
  // bits a, adding 0xfff plus the lowest kept bit carries out of the 13 dropped bits exactly when
  // rounding goes up, and subtracting the exponent bias difference (112 << 23) leaves the half's
  // exponent and mantissa in place; a carry into the exponent (even up to infinity) is the right
  // answer. Zeros and values up to 2^-25 (a tie, to even) are signed zeros. The rest (subnormal
  // halves, overflow, NaN) go to toHalfBits after the loop: called from inside it, it made every
  // value 2-3x slower.
  // Int32, not Uint32: a negative value's bits would leave the int32 range and the loop would run on doubles.
  const bits = new Int32Array(src.buffer, src.byteOffset, src.length);
  const n = src.length;
  let rare = 0;
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    const a = b & 0x7fffffff;
    const sign = (b >>> 16) & 0x8000;
    // 0x38800000 is 2^-14, the smallest normal half; 0x47800000 is 2^16, past the largest
    if (((a - 0x38800000) >>> 0) < 0x0f000000) out[i] = sign | ((a + 0xfff + ((a >>> 13) & 1) - 0x38000000) >>> 13);
    else {
      out[i] = sign;
      if (a > 0x33000000) {
        if (rare === rareAt.length) rareAt = growInt32(rareAt);
        rareAt[rare++] = i;
      }
    }
  }
  for (let j = 0; j < rare; j++) out[rareAt[j]] = toHalfBits(src[rareAt[j]]);
  return out;
}

function growInt32(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

export function decodeHalf(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  return decodeHalfBytes(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), out);
}

/** decodeHalfBytes in plain JS (the reference and the fallback): decodeHalf from raw
 * little-endian bytes at any offset: a chunk's payload sits wherever its datagram put it, and an
 * odd offset used to cost a copy of the payload (a fresh buffer each datagram) just to build an
 * aligned Uint16Array view. A normal half's float32 bits are its own
 * bits moved up 13 places with the exponent bias difference (112 << 23) added: written to a
 * Uint32Array view, that is cheaper than a lookup in the 256 KB table, which misses the cache on
 * random values; zeros, subnormals, infinities and NaN go through the table. */
export function decodeHalfBytesJs(src: Uint8Array, out: Float32Array): Float32Array {
  const t = decodeTable();
  const n = src.length >>> 1;
  const o = new Int32Array(out.buffer, out.byteOffset, n);
  if ((src.byteOffset & 1) === 0) {
    const h16 = new Uint16Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const h = h16[i];
      const e = h & 0x7c00;
      if (e !== 0 && e !== 0x7c00) o[i] = ((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x38000000);
      else out[i] = t[h];
    }
  } else {
    for (let i = 0; i < n; i++) {
      const h = src[2 * i] | (src[2 * i + 1] << 8);
      const e = h & 0x7c00;
      if (e !== 0 && e !== 0x7c00) o[i] = ((h & 0x8000) << 16) | (((h & 0x7fff) << 13) + 0x38000000);
      else out[i] = t[h];
    }
  }
  return out;
}

/** Every float32 to its nearest binary16 (toHalfBits, bit for bit): the WebAssembly SIMD path
 * (codec.wat) when this runtime has it, else encodeHalfJs. */
export function encodeHalf(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const w = wasmCodecFor(src.length);
  return w ? w.encodeHalf(src, out) : encodeHalfJs(src, out);
}

/** src.length >> 1 little-endian halves, at any byte offset, into out (as decodeHalfBytesJs, bit
 * for bit): the WebAssembly SIMD path when this runtime has it, else the JS one. */
export function decodeHalfBytes(src: Uint8Array, out: Float32Array): Float32Array {
  const w = wasmCodecFor(src.length >>> 1);
  return w ? w.decodeHalfBytes(src, out) : decodeHalfBytesJs(src, out);
}
