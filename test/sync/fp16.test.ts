import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeHalf, encodeHalf, fromHalfBits, toHalfBits } from '../../src/sync/fp16';

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
    fc.property(fc.array(fc.float({ noNaN: true, min: Math.fround(-1000), max: Math.fround(1000) }), { minLength: 1, maxLength: 200 }), (xs) => {
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
