// IEEE 754 binary16 conversion for parameter transfer. Node 20 has no Float16Array, so the
// encoder works on the float32 bit pattern (round to nearest, ties to even, subnormals kept,
// overflow to infinity, NaN stays NaN) and the decoder is a 64K-entry table, since decoding
// runs on every received model and a table lookup beats recomputing exponents.

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
    table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = halfBitsToFloat(h);
  }
  return table;
}

export function fromHalfBits(h: number): number {
  return decodeTable()[h & 0xffff];
}

export function encodeHalf(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  // Every model sent is encoded whole; going through toHalfBits's scalar Float32Array for each value
  // made encoding the largest share of a wide-chunk exchange (bench/exchange-cost.ts). Values in the
  // normal half range (all of a trained LeNet's but the tiniest) take the inline path: the same
  // rounding, to nearest with ties to even, on the float32 bits read through a second view.
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const b = bits[i];
    const exp = (b >>> 23) & 0xff;
    if (exp >= 113 && exp <= 142) {
      const m = b & 0x7fffff;
      // +0xfff, +1 more if the kept mantissa is odd, carries out of the 13 dropped bits exactly when
      // rounding goes up; a carry into the exponent (even up to infinity) is the right answer
      out[i] = ((b >>> 16) & 0x8000) | ((((exp - 112) << 10) | (m >>> 13)) + (((m & 0x1fff) + 0xfff + ((m >>> 13) & 1)) >>> 13));
    } else out[i] = toHalfBits(src[i]);
  }
  return out;
}

export function decodeHalf(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const t = decodeTable();
  for (let i = 0; i < src.length; i++) out[i] = t[src[i]];
  return out;
}

/** decodeHalf from raw little-endian bytes at any offset: a chunk's payload sits wherever its
 * datagram put it, and an odd offset used to cost a copy of the payload (a fresh buffer each
 * datagram) just to build an aligned Uint16Array view. */
export function decodeHalfBytes(src: Uint8Array, out: Float32Array): Float32Array {
  const t = decodeTable();
  const n = src.length >>> 1;
  if ((src.byteOffset & 1) === 0) {
    const h = new Uint16Array(src.buffer, src.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = t[h[i]];
  } else for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = t[src[j] | (src[j + 1] << 8)];
  return out;
}
