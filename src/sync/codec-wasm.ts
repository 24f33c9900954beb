// The WebAssembly SIMD path of the gossip codecs (codec.wat). fp16.ts and q8.ts pick it once, at
// their first use in a thread, when this runtime can run the module (the board's Node 20 arm64 has
// WebAssembly SIMD on NEON); their JS functions stay the reference and the fallback.
//
// The module has its own memory: each call copies its input in and its output out (TypedArray.set,
// a memcpy). The regions sit one after another from offset 0, each with PAD bytes of room after
// it, because the wasm loops run in whole vectors and spill up to 64 bytes past an array's end.
import { WASM_BASE64 } from './codec.generated';
import { Wasm, type WasmMemory } from '../kernels/cpu/wasm-api';

const PAD = 64;
const PAGE = 65536;
// q8.ts's layout, restated: q8.ts imports this file
const Q8_BLOCK = 64;
const q8Bytes = (count: number): number => Math.ceil(count / Q8_BLOCK) * 8 + count;

interface Exports {
  memory: WasmMemory;
  f16_enc(src: number, dst: number, n: number): void;
  f16_dec(src: number, dst: number, n: number): void;
  q8_enc(src: number, r: number, next: number, out: number, n: number, fb: number, exact: number): number;
  simd_flushes(x: number): number;
  q8_check(src: number, nbytes: number): number;
  q8_dec(src: number, count: number, dst: number): void;
  delta_f64(s: number, p: number, o: number, n: number, w: number, sums: number): void;
  add_f32(dst: number, src: number, n: number): void;
}

/** Where the next region starts: 16-byte aligned, PAD bytes clear of the previous one's end. */
const after = (at: number, bytes: number): number => (at + bytes + PAD + 15) & ~15;

export class WasmCodec {
  private bytes: Uint8Array;
  /** q8's float32 sums and differences in double (codec.wat's $add4, $sub4): needed where float32
   * SIMD flushes subnormals (32-bit ARM), slower elsewhere. */
  readonly exact: boolean;
  constructor(private readonly e: Exports, exact?: boolean) {
    this.bytes = new Uint8Array(e.memory.buffer);
    this.exact = exact ?? e.simd_flushes(1) === 1;
  }

  /** The memory as bytes, grown to hold `end` bytes (growing detaches the old views). */
  private heap(end: number): Uint8Array {
    const have = this.e.memory.buffer.byteLength;
    if (end > have) this.e.memory.grow(Math.ceil((end - have) / PAGE));
    if (this.bytes.buffer !== this.e.memory.buffer) this.bytes = new Uint8Array(this.e.memory.buffer);
    return this.bytes;
  }

  /** encodeHalf's contract: src.length halves into out (as many as it holds, as the JS's stores). */
  encodeHalf(src: Float32Array, out: Uint16Array): Uint16Array {
    const n = src.length, m = Math.min(n, out.length);
    const dst = after(0, n * 4);
    const h = this.heap(after(dst, n * 2));
    h.set(new Uint8Array(src.buffer, src.byteOffset, n * 4), 0);
    this.e.f16_enc(0, dst, n);
    new Uint8Array(out.buffer, out.byteOffset, m * 2).set(h.subarray(dst, dst + m * 2));
    return out;
  }

  /** decodeHalfBytes's contract: src.length >> 1 halves, from any byte offset, into out. */
  decodeHalfBytes(src: Uint8Array, out: Float32Array): Float32Array {
    const n = src.length >>> 1;
    const dst = after(0, n * 2);
    const h = this.heap(after(dst, n * 4));
    h.set(src.subarray(0, n * 2), 0);
    this.e.f16_dec(0, dst, n);
    new Uint8Array(out.buffer, out.byteOffset, n * 4).set(h.subarray(dst, dst + n * 4));
    return out;
  }

  /** encodeQ8's work on plain arrays: Q(src + r) into out's first q8Bytes(n) bytes and, with r,
   * the residual into next. false: a block was refused; next is then left partly written, which
   * no one reads (the feedback is cancelled). */
  encodeQ8(src: Float32Array, out: Uint8Array, r: Float32Array | null, next: Float32Array | null): boolean {
    const n = src.length, nb = q8Bytes(n);
    const rAt = after(0, n * 4);
    const nextAt = r ? after(rAt, n * 4) : rAt;
    const outAt = r ? after(nextAt, n * 4) : rAt;
    const h = this.heap(after(outAt, nb));
    h.set(new Uint8Array(src.buffer, src.byteOffset, n * 4), 0);
    if (r) h.set(new Uint8Array(r.buffer, r.byteOffset, n * 4), rAt);
    const ok = this.e.q8_enc(0, rAt, nextAt, outAt, n, r ? 1 : 0, this.exact ? 1 : 0) === 1;
    out.set(h.subarray(outAt, outAt + nb));
    if (ok && next) new Uint8Array(next.buffer, next.byteOffset, n * 4).set(h.subarray(nextAt, nextAt + n * 4));
    return ok;
  }

  /** decodeQ8's contract (the length and header checks included). */
  decodeQ8(src: Uint8Array, count: number, out: Float32Array): boolean {
    if (src.length !== q8Bytes(count) || out.length < count) return false;
    const dst = after(0, src.length);
    const h = this.heap(after(dst, Math.ceil(count / Q8_BLOCK) * Q8_BLOCK * 4));
    h.set(src, 0);
    if (this.e.q8_check(0, src.length) !== 1) return false;
    this.e.q8_dec(0, count, dst);
    new Uint8Array(out.buffer, out.byteOffset, count * 4).set(h.subarray(dst, dst + count * 4));
    return true;
  }

  /** measureIntoDelta's pass: w * (peer - self) into out (bit for bit the JS's), and the sums of
   * self², peer² and (peer - self)² in double, [ss, pp, dd]. */
  measureIntoDelta(self: Float32Array, peer: Float32Array, w: number, out: Float32Array): [number, number, number] {
    const n = self.length;
    const pAt = after(0, n * 4), oAt = after(pAt, n * 4), sumsAt = after(oAt, n * 4);
    const h = this.heap(after(sumsAt, 24));
    h.set(new Uint8Array(self.buffer, self.byteOffset, n * 4), 0);
    h.fill(0, n * 4, n * 4 + 16); // delta_f64 reads the last vector whole: zeros add nothing to the sums
    h.set(new Uint8Array(peer.buffer, peer.byteOffset, n * 4), pAt);
    h.fill(0, pAt + n * 4, pAt + n * 4 + 16);
    this.e.delta_f64(0, pAt, oAt, n, w, sumsAt);
    new Uint8Array(out.buffer, out.byteOffset, n * 4).set(h.subarray(oAt, oAt + n * 4));
    const sums = new Float64Array(h.buffer, sumsAt, 3);
    return [sums[0], sums[1], sums[2]];
  }

  /** applyBlend's average: params[i] += values[i], the float32 sums the JS loop makes. */
  addInto(params: Float32Array, values: Float32Array): void {
    const n = params.length;
    const vAt = after(0, n * 4);
    const h = this.heap(after(vAt, n * 4));
    h.set(new Uint8Array(params.buffer, params.byteOffset, n * 4), 0);
    h.set(new Uint8Array(values.buffer, values.byteOffset, n * 4), vAt);
    this.e.add_f32(0, vAt, n);
    new Uint8Array(params.buffer, params.byteOffset, n * 4).set(h.subarray(0, n * 4));
  }
}

/** A new instance of the module (its own memory), or null when WebAssembly (or its SIMD) is not
 * here. exact: force the q8 arithmetic choice (tests run both); by default, what this CPU needs. */
export function instantiateCodec(exact?: boolean): WasmCodec | null {
  try {
    if (!Wasm) return null;
    const bytes = Buffer.from(WASM_BASE64, 'base64');
    if (!Wasm.validate(bytes)) return null;
    return new WasmCodec(new Wasm.Instance(new Wasm.Module(bytes), {}).exports as unknown as Exports, exact);
  } catch {
    return null;
  }
}

let codec: WasmCodec | null | undefined;
/** This thread's instance, made at the first use. */
export function wasmCodec(): WasmCodec | null {
  if (codec === undefined) codec = instantiateCodec();
  return codec;
}

// The wasm call and its copies cost a fixed ~0.2 us: at 64 values that is about what the JS loop
// takes, from 128 on wasm is ahead (bench/codec-cost.ts); a lan chunk holds 540 halves or 960 q8
// parameters, so in the product only odd tails stay in JS.
const WASM_MIN = 128;

/** What fp16.ts and q8.ts call for `values` values: this thread's instance, or null where the JS
 * loop is as fast (short arrays) or WebAssembly SIMD is missing. */
export function wasmCodecFor(values: number): WasmCodec | null {
  return values >= WASM_MIN ? wasmCodec() : null;
}
