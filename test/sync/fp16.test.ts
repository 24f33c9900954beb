import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeHalf, decodeHalfBytes, encodeHalf, fromHalfBits, toHalfBits } from '../../src/sync/fp16';

test('every finite half survives decode then encode bit for bit', () => {
  for (let h = 0; h < 65536; h++) {
    const x = fromHalfBits(h);
    if (Number.isNaN(x)) {
      assert.ok(Number.isNaN(fromHalfBits(toHalfBits(x))), `NaN ${h.toString(16)}`);
      continue;
    }
    assert.equal(toHalfBits(x), h, `half 0x${h.toString(16)} -> ${x}`);
  }
});

test('known values: 1, -2, 65504, overflow to Inf, smallest subnormal, ties to even', () => {
  assert.equal(toHalfBits(1), 0x3c00);
  assert.equal(toHalfBits(-2), 0xc000);
  assert.equal(toHalfBits(65504), 0x7bff);
  assert.equal(toHalfBits(65520), 0x7c00); // halfway to the next step rounds to even = Inf
  assert.equal(toHalfBits(1e6), 0x7c00);
  assert.equal(toHalfBits(2 ** -24), 0x0001);
  assert.equal(toHalfBits(2 ** -25), 0x0000); // tie between 0 and the smallest subnormal: even is 0
  assert.equal(toHalfBits(1 + 2 ** -11), 0x3c00); // tie: down to even
  assert.equal(toHalfBits(1 + 3 * 2 ** -11), 0x3c02); // tie: up to even
  assert.equal(toHalfBits(-0), 0x8000);
});

test('encode picks the nearest half for any float32', () => {
  fc.assert(
    fc.property(fc.float({ noNaN: true, noDefaultInfinity: true, min: -65504, max: 65504 }), (x) => {
      const h = toHalfBits(x);
      const d = fromHalfBits(h);
      const err = Math.abs(d - x);
      // neighbours in half space (same sign direction): neither is strictly closer
      for (const nb of [h - 1, h + 1]) {
        if (nb < 0 || (nb & 0x7c00) === 0x7c00 || ((nb ^ h) & 0x8000)) continue;
        assert.ok(Math.abs(fromHalfBits(nb) - x) >= err, `${x}: ${d} but ${fromHalfBits(nb)} is closer`);
      }
    }),
    { numRuns: 5000 },
  );
});

test('array round trip keeps relative error within 2^-11 for normal range values', () => {
  fc.assert(
    fc.property(fc.array(fc.float({ noNaN: true, min: Math.fround(-1000), max: Math.fround(1000) }), { minLength: 1, maxLength: 200, size: 'max' }), (xs) => {
      const src = Float32Array.from(xs);
      const back = decodeHalf(encodeHalf(src));
      for (let i = 0; i < src.length; i++) {
        const a = Math.abs(src[i]);
        if (a < 2 ** -14) assert.ok(Math.abs(back[i] - src[i]) <= 2 ** -25);
        else assert.ok(Math.abs(back[i] - src[i]) <= a * 2 ** -11, `${src[i]} -> ${back[i]}`);
      }
    }),
  );
});

test('encodeHalf gives toHalfBits for any float32 bit pattern, its fast loop and its fallback alike', () => {
  // toHalfBits is the reference (checked above against every half); encodeHalf rounds most values
  // inline and leaves subnormals, overflow and NaN to it, so arrays mixing all kinds must agree bit for bit
  const special = [0, 0x80000000, 0x33000000, 0x33000001, 0x387fffff, 0x38800000, 0x38800fff, 0x477fefff, 0x477ff000, 0x477fffff, 0x47800000, 0x7f800000, 0xff800000, 0x7fc00000, 0x00000001, 0x3f800000];
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(...special), fc.integer({ min: 0x33000000, max: 0x39000000 }),
      // exact ties in the normal range: the rounding must go to even, not up
      fc.tuple(fc.integer({ min: 0x38800000 >>> 13, max: 0x477fe000 >>> 13 }), fc.boolean()).map(([k, neg]) => (((k << 13) | 0x1000) | (neg ? 0x80000000 : 0)) >>> 0)), { minLength: 1, maxLength: 300, size: 'max' }), (patterns) => {
      const src = new Float32Array(new Uint32Array(patterns).buffer);
      const got = encodeHalf(src);
      for (let i = 0; i < src.length; i++) {
        const want = toHalfBits(src[i]);
        if (Number.isNaN(src[i])) assert.equal(got[i] & 0x7e00, 0x7e00, `NaN 0x${patterns[i].toString(16)}`);
        else assert.equal(got[i], want, `0x${patterns[i].toString(16)}: 0x${got[i].toString(16)} != 0x${want.toString(16)}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('encodeHalf keeps more rare values than its index buffer first holds', () => {
  const src = new Float32Array(10_000).fill(1e-6); // every one a subnormal half
  const got = encodeHalf(src);
  assert.ok(got.every((h) => h === toHalfBits(1e-6)));
});

test('decodeHalfBytes gives fromHalfBits for every half, at even and odd byte offsets', () => {
  for (const offset of [0, 1]) {
    const bytes = new Uint8Array(offset + 2 * 65536);
    for (let h = 0; h < 65536; h++) {
      bytes[offset + 2 * h] = h & 0xff;
      bytes[offset + 2 * h + 1] = h >>> 8;
    }
    const out = decodeHalfBytes(bytes.subarray(offset), new Float32Array(65536));
    for (let h = 0; h < 65536; h++) {
      const want = fromHalfBits(h);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(out[h]), `0x${h.toString(16)}`);
      else assert.ok(Object.is(out[h], want), `offset ${offset}, 0x${h.toString(16)}: ${out[h]} != ${want}`);
    }
  }
});
