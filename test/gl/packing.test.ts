// Exact float32 storage in RGBA8: any bit pattern goes up through a texture, through a shader
// (unpack, then pack), and back; the bits must be the same, with the documented exceptions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { glEngine, PROFILE_NAMES } from './helpers';
import { PACKING } from '../../src/kernels/gl/glsl';

/** What the shader round trip must return for a float32 bit pattern. */
function expected(bits: number): number {
  const exp = (bits >>> 23) & 0xff, mant = bits & 0x7fffff;
  if (exp === 0xff && mant !== 0) return 0x7fffffff; // every NaN becomes the canonical one
  if (exp === 0) return (bits & 0x80000000) >>> 0; // zero and subnormals: signed zero
  return bits >>> 0;
}

for (const profile of PROFILE_NAMES) {
  test(`RGBA8 packing round-trips arbitrary float32 bit patterns through a shader (${profile})`, () => {
    const e = glEngine(profile);
    const specials = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffffffff, 0x00000001, 0x807fffff,
      0x00800000, 0x80800000, 0x7f7fffff, 0xff7fffff, 0x3f800000, 0x3f7fffff, 0x3f800001, 0x4b000000];
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 3000, size: 'max' }), (arr) => {
      const bits = Uint32Array.from([...specials, ...arr]);
      const t = e.tensor([bits.length], new Float32Array(bits.buffer));
      // activationBackward 'none' is an identity pass: unpack then pack on the GPU
      const y = e.activationBackward('none', t, t);
      const out = new Uint32Array(e.read(y).buffer);
      e.dispose(t); e.dispose(y);
      for (let i = 0; i < bits.length; i++)
        if (out[i] !== expected(bits[i]))
          throw new Error(`bits 0x${bits[i].toString(16)} came back 0x${out[i].toString(16)}, expected 0x${expected(bits[i]).toString(16)}`);
    }), { numRuns: 25 });
  });
}

test('the packing code uses only exact operations (no exp2, log2, pow, sqrt; one sign-only division)', () => {
  const code = PACKING.replace(/\/\/.*$/gm, '');
  assert.doesNotMatch(code, /\b(exp|exp2|log|log2|pow|sqrt|inversesqrt)\s*\(/);
  assert.equal((code.match(/\//g) ?? []).length, 1, 'the only division is 1.0/x for the sign of zero');
  assert.match(code, /x == 0\.0 && 1\.0 \/ x < 0\.0/);
});
