// Blockwise 8-bit parameters on the wire (Encoding.Q8), with error feedback on the sender.
//
// Layout: the parameters in blocks of Q8_BLOCK (the last one partial); each block is
//   [min: float32 LE][step: float32 LE][one code byte per parameter]
// and a parameter decodes to float32(min + code * step). Why these choices:
// - A block carries its own range, so one large weight costs the resolution of 63 neighbours, not
//   of the whole tensor; 64 keeps the header at 8/64 = 12.5% (1.125 bytes a parameter, 56% of fp16).
// - 72-byte blocks fill a plain 1,080-byte chunk exactly (15 blocks), so the `lan` preset loses no
//   payload room; a chunk holds whole blocks, so every chunk decodes alone, in any order.
// - min and step in float32, not fp16: an fp16 step would lose a block's range below 6e-8 (tiny
//   but non-zero ranges do occur in biases) and its rounding would have to be chased through the
//   codes; 4 more bytes a block is 6%.
// - A decoder accepts a block only if min and step are finite, step >= 0 and min + 255 * step is
//   finite in float32: then every value it writes lies between two finite float32s, so no bytes,
//   hostile or not, decode to NaN or infinity. A chunk with any other block is refused whole.
//
// Error feedback (ErrorFeedback below): what a board sends is Q(x + r), and r becomes
// (x + r) - deq(Q(x + r)) once the exchange commits. Over many exchanges the quantisation errors
// it has handed its peers then sum to r_0 - r_now (bounded by half a step a parameter) instead of
// a random walk: the cluster's sum of parameters, which exact averaging conserves, stays within
// that bound of where fp32 averaging would have kept it.

import { wasmCodecFor } from './codec-wasm';

export const Q8_BLOCK = 64;
const HEADER = 8;
export const Q8_BLOCK_BYTES = HEADER + Q8_BLOCK;

export const q8BlockCount = (paramCount: number): number => Math.ceil(paramCount / Q8_BLOCK);

/** Bytes that `count` parameters take (the last block may be partial). */
export const q8Bytes = (count: number): number => q8BlockCount(count) * HEADER + count;

/** Parameters in every chunk but the last: whole blocks that fit chunkBytes (0 if none fits). */
export const q8ParamsPerChunk = (chunkBytes: number): number => Math.floor(chunkBytes / Q8_BLOCK_BYTES) * Q8_BLOCK;

/** The residual of error feedback, kept by the code that encodes exchange snapshots. One exchange
 * at a time uses it: encoding writes the would-be residual into `next`, and commit() makes it
 * current; an exchange that ends any other way leaves the residual as it was. */
export class ErrorFeedback {
  residual: Float32Array;
  private next: Float32Array;
  private armed = false;
  constructor(readonly paramCount: number) {
    this.residual = new Float32Array(paramCount);
    this.next = new Float32Array(paramCount);
  }
  /** Where an encoding writes its residual; arms commit(). */
  begin(): Float32Array {
    this.armed = true;
    return this.next;
  }
  /** The encoding could not be sent (non-finite parameters): nothing to commit. */
  cancel(): void {
    this.armed = false;
  }
  /** The snapshot encoded last reached the peer and was averaged: its residual becomes ours. */
  commit(): void {
    if (!this.armed) return;
    this.armed = false;
    const r = this.residual;
    this.residual = this.next;
    this.next = r;
  }
}

const one = new Float32Array(1);
const oneBits = new Uint32Array(one.buffer);
/** The next float32 above x >= 0. */
function nextUp(x: number): number {
  one[0] = x;
  oneBits[0]++;
  return one[0];
}

/** Writes Q(src + residual) into `out` (q8Bytes(src.length) bytes). With feedback, its next
 * residual is written too (see ErrorFeedback). Returns false, and leaves the feedback disarmed, if
 * a value is not finite or a block's range overflows float32: such a model must not be sent (its
 * blocks are written with a NaN min, which every decoder refuses). */
export function encodeQ8(src: Float32Array, out: Uint8Array, feedback?: ErrorFeedback): boolean {
  const n = src.length;
  const w = wasmCodecFor(n);
  if (!w) return encodeQ8Js(src, out, feedback);
  if (out.length < q8Bytes(n)) throw new Error(`encodeQ8: ${out.length} bytes for ${q8Bytes(n)}`);
  const ok = w.encodeQ8(src, out, feedback ? feedback.residual : null, feedback ? feedback.begin() : null);
  if (!ok && feedback) feedback.cancel();
  return ok;
}

/** encodeQ8 in plain JS: the reference the wasm path (codec.wat) must match bit for bit, bytes and
 * residual, and the fallback where WebAssembly SIMD is missing. */
export function encodeQ8Js(src: Float32Array, out: Uint8Array, feedback?: ErrorFeedback): boolean {
  const n = src.length;
  if (out.length < q8Bytes(n)) throw new Error(`encodeQ8: ${out.length} bytes for ${q8Bytes(n)}`);
  const r = feedback ? feedback.residual : null;
  const next = feedback ? feedback.begin() : null;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  // v = x + r as float32, held for the block while its range is found
  const v = new Float32Array(Q8_BLOCK);
  let finite = true;
  let o = 0;
  for (let b = 0; b < n; b += Q8_BLOCK) {
    const len = Math.min(Q8_BLOCK, n - b);
    let lo = Infinity, hi = -Infinity, probe = 0;
    // no branch a value: probe turns NaN once any value is NaN or infinite (f * 0 is then NaN), and
    // the range is kept by selects
    if (r) for (let i = 0; i < len; i++) {
      const f = Math.fround(src[b + i] + r[b + i]); // the float32 sum, as v holds it
      v[i] = f;
      lo = f < lo ? f : lo;
      hi = f > hi ? f : hi;
      probe += f * 0;
    } else for (let i = 0; i < len; i++) {
      const f = src[b + i];
      v[i] = f;
      lo = f < lo ? f : lo;
      hi = f > hi ? f : hi;
      probe += f * 0;
    }
    let ok = probe === 0;
    const min = Math.fround(lo);
    let step = ok ? Math.fround((hi - lo) / 255) : 0;
    // a step rounded down leaves the top of the range past code 255: by a hair for normal floats,
    // by up to 255 units for subnormal ones (or all of it, rounded to 0). One float32 up covers it.
    if (ok && hi > lo && Math.fround(min + 255 * step) < hi) step = nextUp(step);
    if (ok && !Number.isFinite(Math.fround(min + 255 * step))) ok = false;
    if (!ok) {
      finite = false;
      view.setFloat32(o, NaN, true);
      view.setFloat32(o + 4, 0, true);
      out.fill(0, o + HEADER, o + HEADER + len);
      o += HEADER + len;
      continue;
    }
    view.setFloat32(o, min, true);
    view.setFloat32(o + 4, step, true);
    const inv = step > 0 ? 1 / step : 0;
    const c = o + HEADER;
    // v >= min, so adding a half and truncating rounds to nearest; step was rounded to float32, so
    // the top value may sit a hair above code 255: clamp. The residual is the very expression the
    // decoder evaluates, so it is exactly what the peer lacks.
    if (next) for (let i = 0; i < len; i++) {
      const f = v[i];
      const q0 = ((f - min) * inv + 0.5) | 0;
      const q = q0 > 255 ? 255 : q0;
      out[c + i] = q;
      next[b + i] = f - Math.fround(min + q * step);
    } else for (let i = 0; i < len; i++) {
      const q0 = ((v[i] - min) * inv + 0.5) | 0;
      out[c + i] = q0 > 255 ? 255 : q0;
    }
    o += HEADER + len;
  }
  if (!finite && feedback) feedback.cancel();
  return finite;
}

/** Decodes the blocks in `src` (whole blocks; the last may be partial, `count` says how many
 * parameters) into out[0..count). Returns false, writing nothing, if the bytes are not exactly
 * those blocks or a block header is unacceptable (see the top of this file). */
export function decodeQ8(src: Uint8Array, count: number, out: Float32Array): boolean {
  const w = wasmCodecFor(count);
  return w ? w.decodeQ8(src, count, out) : decodeQ8Js(src, count, out);
}

/** decodeQ8 in plain JS (the reference and the fallback). */
export function decodeQ8Js(src: Uint8Array, count: number, out: Float32Array): boolean {
  if (src.length !== q8Bytes(count) || out.length < count) return false;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  // check every header first: a refused chunk must leave `out` (the transfer's reassembly) as it was
  for (let o = 0; o < src.length; o += Q8_BLOCK_BYTES) {
    const min = view.getFloat32(o, true), step = view.getFloat32(o + 4, true);
    if (!Number.isFinite(min) || !(step >= 0) || !Number.isFinite(Math.fround(min + 255 * step))) return false;
  }
  for (let b = 0, o = 0; b < count; b += Q8_BLOCK, o += Q8_BLOCK_BYTES) {
    const min = view.getFloat32(o, true), step = view.getFloat32(o + 4, true);
    const len = Math.min(Q8_BLOCK, count - b);
    for (let i = 0; i < len; i++) out[b + i] = min + src[o + HEADER + i] * step;
  }
  return true;
}
