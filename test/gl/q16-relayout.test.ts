// q16 relayouts (reshape, pad, batch pairs) move codes exactly: compared code for code with the
// host's index arithmetic. GL tests fail (never skip) without a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { disposeQ16, padQ16, readQ16, reshapeQ16, toBatchPairs } from '../../src/kernels/gl/q16/index';
import { lcg, randomQ16, vc4 } from './q16-helpers';

test('reshapeQ16 keeps NCHW order exactly (pool [N,C,4,4] -> dense [N,16C,1,1] and back)', () => {
  const g = vc4();
  fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 1e6 }), (N, CP, S, seed) => {
    const shape = [N, 2 * CP, S, S + 1], flat = [N, 2 * CP * S * (S + 1), 1, 1];
    const { t, v } = randomQ16(g, shape, 1, -12, lcg(seed));
    const f = reshapeQ16(g, t, flat);
    assert.deepEqual(readQ16(g, f).values, v);
    const back = reshapeQ16(g, f, shape);
    assert.deepEqual(readQ16(g, back).values, v);
    assert.equal(f.e, t.e);
    for (const x of [t, f, back]) disposeQ16(g, x);
  }), { numRuns: 8 });
});

test('padQ16 surrounds each plane with exact zeros and moves nothing else', () => {
  const g = vc4();
  const [N, C, H, W, by] = [2, 4, 3, 5, 2];
  const { t, v } = randomQ16(g, [N, C, H, W], 3, -10, lcg(9));
  const p = padQ16(g, t, by), got = readQ16(g, p);
  assert.deepEqual(p.shape, [N, C, H + 2 * by, W + 2 * by]);
  const Hp = H + 2 * by, Wp = W + 2 * by;
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let h = 0; h < Hp; h++) for (let w = 0; w < Wp; w++) {
    const inside = h >= by && h < H + by && w >= by && w < W + by;
    const want = inside ? v[((n * C + c) * H + h - by) * W + w - by] : 0;
    const at = ((n * C + c) * Hp + h) * Wp + w;
    assert.equal(got.values[at], want, `(${n},${c},${h},${w})`);
    assert.notEqual(got.codes[at], 0, 'a zero is code 32768, never the saturation mark');
  }
  disposeQ16(g, t); disposeQ16(g, p);
});

test('toBatchPairs holds samples 2m, 2m+1 of a channel in one texel; an odd batch ends in a zero', () => {
  const g = vc4();
  for (const N of [4, 3]) {
    const shape = [N, 2, 3, 4];
    const { t, v } = randomQ16(g, shape, 1, -12, lcg(N));
    const b = toBatchPairs(g, t);
    assert.equal(b.layout, 'batch-pairs');
    assert.deepEqual(readQ16(g, b).values, v);
    // the raw texel of (m, c, h, w): R,G = sample 2m, B,A = sample 2m+1
    const bytes = g.readRect(b.ref), W = 4, H = 3, C = 2;
    const at = (m: number, c: number, h: number, w: number) => 4 * ((m * H + h) * C * W + c * W + w);
    const last = at(Math.ceil(N / 2) - 1, 1, 2, 3);
    if (N % 2) assert.deepEqual([bytes[last + 2], bytes[last + 3]], [128, 0]);
    disposeQ16(g, t); disposeQ16(g, b);
  }
});
