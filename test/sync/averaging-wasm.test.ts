// The averaging passes in WebAssembly (codec.wat's delta_f64 and add_f32) against their JS loops:
// the blend's delta and the folded parameters bit for bit (both sides of an exchange must move by
// exactly opposite amounts for the sum over boards to be kept, whichever path each board runs), and
// the distances the guards judge to within the rounding of a differently ordered sum.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { wasmCodec, type WasmCodec } from '../../src/sync/codec-wasm';
import { applyBlend, measureIntoDelta, measureIntoDeltaJs, type Blend, type SnapshotDistance } from '../../src/sync/averaging';

const codec = (): WasmCodec => {
  const w = wasmCodec();
  assert.ok(w, 'this Node has WebAssembly SIMD (as the board does): the wasm codec must load');
  return w;
};
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  const g = bits(got), w = bits(want);
  assert.equal(g.length, w.length);
  for (let i = 0; i < g.length; i++) if (g[i] !== w[i]) assert.fail(`${what}: [${i}] 0x${g[i].toString(16)} != 0x${w[i].toString(16)}`);
}

// parameters as they come: mostly ordinary, with signed zeros, subnormals, extremes, infinities and NaNs
const value = fc.oneof(
  { weight: 8, arbitrary: fc.float({ min: -4, max: 4, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1.4e-45, -1.1754942e-38, 3.4028235e38, -3.4028235e38, Infinity, -Infinity, NaN) },
  { weight: 1, arbitrary: fc.float() },
);
const pair = fc.integer({ min: 0, max: 300 }).chain((n) =>
  fc.tuple(fc.array(value, { minLength: n, maxLength: n }), fc.array(value, { minLength: n, maxLength: n })));
const weight = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0.5, 0.05, 0.95, 1));

function close(got: SnapshotDistance | string, want: SnapshotDistance | string): void {
  if (typeof want === 'string') return assert.equal(got, want);
  assert.equal(typeof got, 'object', `wasm said "${String(got)}"`);
  const g = got as SnapshotDistance;
  for (const k of ['normRatio', 'relDistance', 'ownDistance'] as const) {
    const tol = 1e-9 * Math.max(1, Math.abs(want[k]));
    assert.ok(Math.abs(g[k] - want[k]) <= tol || g[k] === want[k], `${k}: ${g[k]} against ${want[k]}`);
  }
}

test('the wasm delta pass gives the JS delta bit for bit and the same distances, at every length and value', () => {
  const w = codec();
  fc.assert(fc.property(pair, weight, ([s, p], wt) => {
    const self = Float32Array.from(s), peer = Float32Array.from(p);
    const want = new Float32Array(self.length), got = new Float32Array(self.length).fill(7);
    const jsDist = measureIntoDeltaJs(self, peer, wt, want);
    const [ss, pp, dd] = w.measureIntoDelta(self, peer, wt, got);
    // a refused snapshot's delta is never read (and NaN bit patterns are not the JS's to promise)
    if (typeof jsDist === 'string') return;
    sameBits(got, want, `delta at w ${wt}`);
    const tol = (x: number) => 1e-12 * Math.max(1, x);
    let jss = 0, jpp = 0, jdd = 0;
    for (let i = 0; i < self.length; i++) { const d = peer[i] - self[i]; jss += self[i] ** 2; jpp += peer[i] ** 2; jdd += d * d; }
    assert.ok(Math.abs(ss - jss) <= tol(jss) && Math.abs(pp - jpp) <= tol(jpp) && Math.abs(dd - jdd) <= tol(jdd), `sums ${[ss, pp, dd]} against ${[jss, jpp, jdd]}`);
  }), { numRuns: 300 });
});

test('measureIntoDelta (wasm from 128 values) and its JS twin agree on the verdict, the distances and the delta', () => {
  codec();
  fc.assert(fc.property(fc.integer({ min: 128, max: 2000 }), fc.integer(), weight, fc.option(fc.integer({ min: 0, max: 1999 })), (n, seed, wt, bad) => {
    let x = seed | 0;
    const rnd = () => ((x = (Math.imul(x, 1664525) + 1013904223) | 0) >>> 8) / 2 ** 24 - 0.5;
    const self = Float32Array.from({ length: n }, rnd), peer = Float32Array.from({ length: n }, (_, i) => self[i] + 0.1 * rnd());
    if (bad !== null && bad < n) peer[bad] = bad % 2 ? NaN : Infinity; // a broken peer: the same refusal, naming the index
    const a = new Float32Array(n), b = new Float32Array(n);
    const got = measureIntoDelta(self, peer, wt, a), want = measureIntoDeltaJs(self, peer, wt, b);
    close(got, want);
    if (typeof want !== 'string') sameBits(a, b, 'delta');
  }), { numRuns: 100 });
});

test('the public pass takes the wasm path for a model (it is the one a board runs)', () => {
  const w = codec();
  const calls: string[] = [];
  const spy = w as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = { m: spy.measureIntoDelta, a: spy.addInto };
  spy.measureIntoDelta = (...a: unknown[]) => { calls.push('measure'); return orig.m.apply(w, a); };
  spy.addInto = (...a: unknown[]) => { calls.push('add'); return orig.a.apply(w, a); };
  try {
    const n = 431080, self = new Float32Array(n).fill(1), peer = new Float32Array(n).fill(3), out = new Float32Array(n);
    const d = measureIntoDelta(self, peer, 0.5, out) as SnapshotDistance;
    assert.equal(out[n - 1], 1);
    assert.equal(d.ownDistance, 2);
    applyBlend(self, { kind: 'average', weight: 0.5, peer: 'p', values: out });
    assert.equal(self[0], 2);
    assert.equal(self[n - 1], 2);
    assert.deepEqual(calls, ['measure', 'add']);
  } finally {
    spy.measureIntoDelta = orig.m;
    spy.addInto = orig.a;
  }
});

test('applyBlend: the wasm sum is the JS sum bit for bit, adopt replaces, and a length mismatch is refused by name', () => {
  codec();
  fc.assert(fc.property(pair, ([s, v]) => {
    const a = Float32Array.from(s), b = Float32Array.from(s);
    const blend: Blend = { kind: 'average', weight: 0.5, peer: 'p', values: Float32Array.from(v) };
    codec().addInto(a, blend.values); // direct: the chooser leaves short arrays to JS
    applyBlend(b, blend, false);
    // NaN sums: a NaN is a NaN; its payload is no one's promise
    for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]) && Number.isNaN(b[i])) a[i] = b[i] = 0;
    sameBits(a, b, 'sum');
  }), { numRuns: 300 });
  const p = new Float32Array([1, 2]);
  applyBlend(p, { kind: 'adopt', weight: 1, peer: 'p', values: new Float32Array([5, 6]) });
  assert.deepEqual([...p], [5, 6]);
  assert.throws(() => applyBlend(p, { kind: 'average', weight: 0.5, peer: 'board-3', values: new Float32Array(3) }), /blend from board-3: 3 values for 2 params/);
});
