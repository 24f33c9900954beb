// The WebAssembly SIMD codecs (src/sync/codec.wat) against the JS ones, bit for bit: peers may run
// either path, and error feedback's residual must be exactly what the other side decodes. The wasm
// functions are called directly (not only through the choosers in fp16.ts and q8.ts, which leave
// short arrays to JS), and the choosers are checked to take the wasm path on this machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { instantiateCodec, wasmCodec, type WasmCodec } from '../../src/sync/codec-wasm';
import { decodeHalfBytes, decodeHalfBytesJs, encodeHalf, encodeHalfJs } from '../../src/sync/fp16';
import { codecOutputsHash } from './codec-fallback-child';
import { decodeQ8, decodeQ8Js, encodeQ8, encodeQ8Js, ErrorFeedback, Q8_BLOCK, Q8_BLOCK_BYTES, q8Bytes } from '../../src/sync/q8';

const codec = (): WasmCodec => {
  const w = wasmCodec();
  assert.ok(w, 'this Node has WebAssembly SIMD (as the board does): the wasm codec must load');
  return w;
};

const bitsOf = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);
const floats = (bits: number[]): Float32Array => new Float32Array(new Uint32Array(bits).buffer);
const hex = (x: number) => `0x${(x >>> 0).toString(16)}`;

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  const g = bitsOf(got), w = bitsOf(want);
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) assert.fail(`${what}: [${i}] ${hex(g[i])} != ${hex(w[i])}`);
}
function sameBytes(got: Uint8Array | Uint16Array, want: Uint8Array | Uint16Array, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) if (got[i] !== want[i]) assert.fail(`${what}: [${i}] ${hex(got[i])} != ${hex(want[i])}`);
}

// float32 bit patterns of every kind: arbitrary (NaNs of both signs and any payload, infinities,
// subnormals), the fp16 edges, exact fp16 ties, and values around the half subnormal range
const SPECIAL = [0, 0x80000000, 0x00000001, 0x807fffff, 0x33000000, 0x33000001, 0xb3000000, 0x387fffff, 0x38800000, 0x38800fff,
  0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, 0x7f7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7f800001, 0xffbfffff, 0x3f800000];
const pattern = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(...SPECIAL),
  fc.integer({ min: 0x32000000, max: 0x39000000 }).chain((a) => fc.boolean().map((neg) => (neg ? a | 0x80000000 : a) >>> 0)),
  fc.tuple(fc.integer({ min: 0x38800000 >>> 13, max: 0x477fe000 >>> 13 }), fc.boolean()).map(([k, neg]) => (((k << 13) | 0x1000) | (neg ? 0x80000000 : 0)) >>> 0),
);
const patterns = (maxLength: number) => fc.array(pattern, { minLength: 0, maxLength, size: 'max' });

test('the wasm codec loads here, and the public codecs take it from 128 values on', () => {
  const w = codec();
  // x86-64 and 64-bit ARM keep subnormals in float32 SIMD: the q8 encoder's faster way is the one in use
  if (process.arch === 'x64' || process.arch === 'arm64') assert.equal(w.exact, false);
  const calls: string[] = [];
  const spy = w as unknown as Record<string, (...a: unknown[]) => unknown>;
  const saved = new Map<string, (...a: unknown[]) => unknown>();
  for (const name of ['encodeHalf', 'decodeHalfBytes', 'encodeQ8', 'decodeQ8']) {
    const orig = spy[name];
    saved.set(name, orig);
    spy[name] = (...a: unknown[]) => { calls.push(name); return orig.apply(w, a); };
  }
  try {
    for (const n of [127, 128, 1000]) {
      calls.length = 0;
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
      const h = encodeHalf(x);
      decodeHalfBytes(new Uint8Array(h.buffer), new Float32Array(n));
      const q = new Uint8Array(q8Bytes(n));
      assert.ok(encodeQ8(x, q, new ErrorFeedback(n)));
      assert.ok(decodeQ8(q, n, new Float32Array(n)));
      assert.deepEqual(calls, n >= 128 ? ['encodeHalf', 'decodeHalfBytes', 'encodeQ8', 'decodeQ8'] : [], `${n} values`);
    }
  } finally {
    for (const name of saved.keys()) delete spy[name];
    assert.equal(w.encodeHalf, saved.get('encodeHalf'));
  }
});

test('fp16 encode: wasm gives encodeHalfJs\'s bits for any float32 pattern and length (input and output at offsets)', () => {
  const w = codec();
  fc.assert(
    fc.property(patterns(300), fc.nat(3), fc.nat(3), (bits, inAt, outAt) => {
      const host = new Float32Array(bits.length + 4);
      host.set(floats(bits), inAt);
      const src = host.subarray(inAt, inAt + bits.length);
      const want = encodeHalfJs(src);
      const out = new Uint16Array(bits.length + 4).fill(0xabcd);
      w.encodeHalf(src, out.subarray(outAt, outAt + bits.length));
      sameBytes(out.subarray(outAt, outAt + bits.length), want, 'halves');
      for (let i = 0; i < out.length; i++) if (i < outAt || i >= outAt + bits.length) assert.equal(out[i], 0xabcd, 'nothing written outside out');
      sameBytes(encodeHalf(src), want, 'halves through the chooser');
    }),
    { numRuns: 1500 },
  );
  // one long array: every lane position of the vector loop and a model-sized copy
  const long = new Uint32Array(431_080 + 5);
  for (let i = 0; i < long.length; i++) long[i] = Math.imul(i + 1, 0x9e3779b1) >>> 0;
  const f = new Float32Array(long.buffer);
  sameBytes(w.encodeHalf(f, new Uint16Array(f.length)), encodeHalfJs(f), 'a model of hashed patterns');
});

test('fp16 decode: wasm gives decodeHalfBytesJs\'s bits for every half, and for random bytes at odd offsets and odd lengths', () => {
  const w = codec();
  for (const offset of [0, 1, 3]) {
    const bytes = new Uint8Array(offset + 2 * 65536);
    for (let h = 0; h < 65536; h++) {
      bytes[offset + 2 * h] = h & 0xff;
      bytes[offset + 2 * h + 1] = h >>> 8;
    }
    const src = bytes.subarray(offset);
    sameBits(w.decodeHalfBytes(src, new Float32Array(65536)), decodeHalfBytesJs(src, new Float32Array(65536)), `every half, offset ${offset}`);
  }
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 700, size: 'max' }), fc.nat(7), fc.nat(3), (raw, at, outAt) => {
      const host = new Uint8Array(raw.length + 8);
      host.set(raw, at);
      const src = host.subarray(at, at + raw.length); // odd lengths too: the last byte is ignored
      const n = raw.length >>> 1;
      const want = decodeHalfBytesJs(src, new Float32Array(n));
      const out = new Float32Array(n + 8).fill(-7);
      w.decodeHalfBytes(src, out.subarray(outAt));
      sameBits(out.subarray(outAt, outAt + n), want, 'decoded');
      for (let i = 0; i < out.length; i++) if (i < outAt || i >= outAt + n) assert.equal(out[i], -7, 'nothing written past n');
      const viaChooser = new Float32Array(n);
      decodeHalfBytes(src, viaChooser);
      sameBits(viaChooser, want, 'through the chooser');
    }),
    { numRuns: 1500 },
  );
});

// q8 inputs: arbitrary patterns (a block with a NaN or an infinity is refused), and finite arrays of
// the shapes a model's blocks take: signed zeros at the ends of a range, constant blocks, tiny and
// huge ranges, subnormals
const F = Math.fround;
const finiteArrays = fc.oneof(
  fc.float32Array({ noNaN: true, noDefaultInfinity: true, minLength: 0, maxLength: 300, size: 'max' }),
  fc.float32Array({ noNaN: true, noDefaultInfinity: true, min: F(-1e37), max: F(1e37), minLength: 0, maxLength: 300, size: 'max' }),
  fc.tuple(fc.constantFrom(0, -0, 1, -3.5, 1e-40, 3e38), fc.integer({ min: 1, max: 300 })).map(([c, n]) => new Float32Array(n).fill(c)),
  fc.array(fc.constantFrom(0, -0, 0, -0, 1e-45, -1e-45, 0.5, -0.25), { minLength: 1, maxLength: 300, size: 'max' }).map((a) => Float32Array.from(a)),
  // a zero of either sign at the bottom (or, negated, the top) of a block's range: which one the
  // header gets depends on the order the values are scanned in
  fc.tuple(fc.array(fc.constantFrom(0, -0, 0.5, 1e-45, 3, 3, 3, 3), { minLength: 1, maxLength: 300, size: 'max' }), fc.boolean())
    .map(([a, neg]) => Float32Array.from(a, (v) => (neg ? -v : v))),
  fc.tuple(fc.float({ noNaN: true, min: -1, max: 1 }), fc.float32Array({ min: F(-1e-30), max: F(1e-30), noNaN: true, minLength: 1, maxLength: 300, size: 'max' }))
    .map(([c, d]) => d.map((v) => c + v)),
  fc.array(fc.tuple(fc.constantFrom(1e-38, 1e-10, 1, 1e10, 1e30), fc.float32Array({ min: -1, max: 1, noNaN: true, minLength: 1, maxLength: 70, size: 'max' })), { minLength: 1, maxLength: 5, size: 'max' })
    .map((parts) => Float32Array.from(parts.flatMap(([s, v]) => [...v].map((x) => x * s)))),
);
const q8Arrays = fc.oneof(finiteArrays, finiteArrays, patterns(300).map(floats));

// the q8 encoder's two ways with float32 sums and differences (SIMD float32, or through double where
// SIMD flushes subnormals): both must match the JS here, whichever this CPU's instance uses
const q8Variants = (): WasmCodec[] => {
  const fast = instantiateCodec(false), exact = instantiateCodec(true);
  assert.ok(fast && exact && !fast.exact && exact.exact);
  return [fast, exact];
};

function q8Case(x: Float32Array, residual: Float32Array | null, w: WasmCodec): void {
  const n = x.length;
  // JS reference, through its ErrorFeedback
  const fbJs = residual ? new ErrorFeedback(n) : undefined;
  if (fbJs && residual) fbJs.residual.set(residual);
  const want = new Uint8Array(q8Bytes(n) + 3).fill(0x5a);
  const okJs = encodeQ8Js(x, want.subarray(0, q8Bytes(n)), fbJs);
  const wantNext = okJs && fbJs ? (fbJs.begin(), (fbJs as unknown as { next: Float32Array }).next.slice()) : null;
  // wasm, directly
  const got = new Uint8Array(q8Bytes(n) + 3).fill(0x5a);
  const next = new Float32Array(n).fill(-9);
  const ok = w.encodeQ8(x, got.subarray(0, q8Bytes(n)), residual, residual ? next : null);
  assert.equal(ok, okJs, 'accepted alike');
  sameBytes(got, want, 'q8 bytes (and nothing past them)');
  if (wantNext) sameBits(next, wantNext, 'residual');
  // through the chooser and ErrorFeedback: the committed residual is the same
  const fb = residual ? new ErrorFeedback(n) : undefined;
  if (fb && residual) fb.residual.set(residual);
  const viaChooser = new Uint8Array(q8Bytes(n));
  assert.equal(encodeQ8(x, viaChooser, fb), okJs);
  sameBytes(viaChooser, want.subarray(0, q8Bytes(n)), 'q8 bytes through the chooser');
  if (fb && fbJs) {
    fb.commit();
    fbJs.commit();
    sameBits(fb.residual, fbJs.residual, 'committed residual');
  }
  // and the decoders agree on what was written (refused alike when a block was refused)
  const outJs = new Float32Array(n).fill(-5), out = new Float32Array(n).fill(-5);
  assert.equal(w.decodeQ8(got.subarray(0, q8Bytes(n)), n, out), decodeQ8Js(want.subarray(0, q8Bytes(n)), n, outJs));
  sameBits(out, outJs, 'decoded');
}

test('q8 encode without feedback: wasm gives encodeQ8Js\'s bytes and verdict for any float32 array', () => {
  const [fast, exact] = q8Variants();
  fc.assert(fc.property(q8Arrays, fc.boolean(), (x, e) => q8Case(x, null, e ? exact : fast)), { numRuns: 1500 });
});

test('q8 encode with feedback: identical bytes, verdict and residual (committed or not)', () => {
  // residuals as feedback leaves them (small), and arbitrary ones (their sums overflow, or are NaN)
  const withResidual = q8Arrays.chain((x) => fc.oneof(
    fc.float32Array({ noNaN: true, noDefaultInfinity: true, min: F(-1e-2), max: F(1e-2), minLength: x.length, maxLength: x.length, size: 'max' }),
    fc.float32Array({ minLength: x.length, maxLength: x.length, size: 'max' }),
    fc.constant(new Float32Array(x.length)),
  ).map((r) => [x, r] as const));
  const [fast, exact] = q8Variants();
  fc.assert(fc.property(withResidual, fc.boolean(), ([x, r], e) => q8Case(x, r, e ? exact : fast)), { numRuns: 2000 });
});

test('q8 feedback over repeated encodings of a model-sized array stays identical to the JS', () => {
  const n = 431_080 - 17; // a partial last block
  const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * (1 + (i % 13)) * (i % 1000 === 0 ? 0 : 1));
  const a = new ErrorFeedback(n), b = new ErrorFeedback(n);
  const qa = new Uint8Array(q8Bytes(n)), qb = new Uint8Array(q8Bytes(n));
  const [fast, exact] = q8Variants();
  for (let k = 0; k < 4; k++) {
    assert.ok(encodeQ8Js(x, qa, a));
    assert.ok((k & 1 ? exact : fast).encodeQ8(x, qb, b.residual, b.begin()));
    a.commit();
    b.commit();
    sameBytes(qb, qa, `encoding ${k}`);
    sameBits(b.residual, a.residual, `residual ${k}`);
  }
});

// hostile block headers: non-finite or negative values, ranges whose top overflows float32, and
// ordinary ones, so that some chunks pass and some are refused at any block
const HEADER_VALUES = [NaN, Infinity, -Infinity, -0, 0, 1e-45, -1e-45, 1, -1, 3e38, -3e38, 1e36, 1e35, 3.4028234663852886e38, 1.3e36];
test('q8 decode: wasm accepts and refuses exactly the chunks the JS does, and decodes them to the same bits', () => {
  const w = codec();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 400 }), fc.integer({ min: -2, max: 2 }), fc.nat(7), fc.integer({ min: 0, max: 0xffffffff }),
      fc.array(fc.tuple(fc.oneof(fc.constantFrom(...HEADER_VALUES), fc.float()), fc.oneof(fc.constantFrom(...HEADER_VALUES), fc.float())), { minLength: 1, maxLength: 8, size: 'max' }),
      (count, lenSkew, at, seed, headers) => {
        const len = Math.max(0, q8Bytes(count) + (seed % 7 === 0 ? lenSkew : 0));
        const host = new Uint8Array(len + 8);
        let s = seed;
        for (let i = 0; i < host.length; i++) host[i] = (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24;
        const src = host.subarray(at, at + len);
        const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
        for (let o = 0, k = 0; o + 8 <= len; o += Q8_BLOCK_BYTES, k++) {
          const [min, step] = headers[k % headers.length];
          view.setFloat32(o, min, true);
          view.setFloat32(o + 4, step, true);
        }
        const outJs = new Float32Array(count + 5).fill(-3), out = new Float32Array(count + 5).fill(-3);
        const okJs = decodeQ8Js(src, count, outJs.subarray(0, count));
        assert.equal(w.decodeQ8(src, count, out.subarray(0, count)), okJs, 'same verdict');
        sameBits(out, outJs, okJs ? 'decoded' : 'a refused chunk writes nothing');
        const viaChooser = new Float32Array(count + 5).fill(-3);
        assert.equal(decodeQ8(src, count, viaChooser.subarray(0, count)), okJs);
        sameBits(viaChooser, outJs, 'through the chooser');
      },
    ),
    { numRuns: 2000 },
  );
  // a short output array is refused alike
  assert.equal(w.decodeQ8(new Uint8Array(q8Bytes(Q8_BLOCK)), Q8_BLOCK, new Float32Array(Q8_BLOCK - 1)), false);
});

test('without WebAssembly (node --jitless) the public codecs fall back to JS and write the same bytes', () => {
  const out = execFileSync(process.execPath, ['--jitless', '--import', 'tsx', path.join(__dirname, 'codec-fallback-child.ts')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const child = JSON.parse(out.trim().split('\n').pop()!) as { wasm: boolean; hash: string };
  assert.equal(child.wasm, false, 'WebAssembly is off under --jitless');
  assert.ok(wasmCodec(), 'and on here');
  assert.equal(child.hash, codecOutputsHash());
});

test('a worker thread (as the gossip thread is) gets its own wasm instance and writes the same bytes', async () => {
  // a worker does not inherit the tsx loader: it registers tsx's require hook, then loads the child
  const w = new Worker(`require('tsx/cjs/api').register(); require(${JSON.stringify(path.join(__dirname, 'codec-fallback-child.ts'))});`, { eval: true });
  const got = await new Promise<{ wasm: boolean; hash: string }>((res, rej) => { w.once('message', res); w.once('error', rej); });
  await w.terminate();
  assert.deepEqual(got, { wasm: true, hash: codecOutputsHash() });
});
