import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Cluster, FAST, float64Mean, mean } from './harness';
import { decodeQ8, encodeQ8, ErrorFeedback, Q8_BLOCK, Q8_BLOCK_BYTES, q8Bytes } from '../../src/sync/q8';
import { chunkPayload, encodeSnapshot, Incoming, metaProblem } from '../../src/sync/transfer';
import { CHUNK_BYTES, decode, encode, Encoding, MsgType } from '../../src/sync/messages';
import { GossipNode, MemoryNetwork, VirtualClock } from '../../src/sync/index';

const roundTrip = (x: Float32Array, fb?: ErrorFeedback): Float32Array => {
  const bytes = new Uint8Array(q8Bytes(x.length));
  assert.ok(encodeQ8(x, bytes, fb));
  const out = new Float32Array(x.length);
  assert.ok(decodeQ8(bytes, x.length, out));
  return out;
};

/** The most a value of a block [lo, hi] may move: half a step, plus the float32 roundings of the
 * step and of the decoded value (and one unit for a subnormal step rounded up). */
const blockBound = (lo: number, hi: number) => 0.5 * Math.fround((hi - lo) / 255) + 2 ** -22 * (Math.abs(lo) + Math.abs(hi)) + 2 ** -149;

/** Arrays mixing the cases a model's blocks can be: ordinary, constant, huge and tiny ranges. */
const F = Math.fround;
const arrays = fc.oneof(
  fc.float32Array({ noNaN: true, noDefaultInfinity: true, min: F(-1e37), max: F(1e37), minLength: 1, maxLength: 300, size: 'max' }),
  fc.tuple(fc.float({ noNaN: true, min: F(-1e30), max: F(1e30) }), fc.integer({ min: 1, max: 300 })).map(([c, n]) => new Float32Array(n).fill(c)),
  fc.tuple(fc.float({ noNaN: true, min: -1, max: 1 }), fc.float32Array({ min: F(-1e-30), max: F(1e-30), noNaN: true, minLength: 1, maxLength: 300, size: 'max' }))
    .map(([c, d]) => d.map((v) => c + v)),
  fc.array(fc.tuple(fc.constantFrom(1e-38, 1e-10, 1, 1e10, 1e30), fc.float32Array({ min: -1, max: 1, noNaN: true, minLength: 1, maxLength: 70, size: 'max' })), { minLength: 1, maxLength: 5 })
    .map((parts) => Float32Array.from(parts.flatMap(([s, v]) => [...v].map((x) => x * s)))),
);

test('q8 round trip: every value within half its block\'s step (incl. constant blocks, huge and tiny ranges, a partial last block)', () => {
  fc.assert(
    fc.property(arrays, (x) => {
      const y = roundTrip(x);
      for (let b = 0; b < x.length; b += Q8_BLOCK) {
        const blk = x.subarray(b, b + Q8_BLOCK);
        let lo = Infinity, hi = -Infinity;
        for (const v of blk) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
        const bound = blockBound(lo, hi);
        for (let i = 0; i < blk.length; i++) {
          const err = Math.abs(y[b + i] - blk[i]);
          assert.ok(err <= bound, `value ${b + i}: ${blk[i]} -> ${y[b + i]}, error ${err} > ${bound} (block [${lo}, ${hi}])`);
        }
        // exact (as numbers: a block of -0 comes back +0)
        if (lo === hi) for (let i = 0; i < blk.length; i++) assert.ok(y[b + i] === blk[i], `a constant block is exact: ${blk[i]} -> ${y[b + i]}`);
      }
    }),
    { numRuns: 500 },
  );
});

test('q8: 64-parameter blocks of 72 bytes, 15 to a plain chunk; a model with a NaN or infinity does not encode', () => {
  assert.equal(Q8_BLOCK_BYTES * 15, CHUNK_BYTES);
  assert.equal(q8Bytes(65), 2 * 8 + 65);
  for (const bad of [NaN, Infinity, -Infinity]) {
    const x = new Float32Array(200).fill(0.5);
    x[130] = bad;
    const fb = new ErrorFeedback(200);
    const bytes = new Uint8Array(q8Bytes(200));
    assert.equal(encodeQ8(x, bytes, fb), false, `${bad} refused`);
    fb.commit(); // nothing armed: the residual stays as it was
    assert.ok(fb.residual.every((r) => r === 0));
    // the block holding it is written so that no decoder takes it
    assert.equal(decodeQ8(bytes, 200, new Float32Array(200)), false);
    assert.equal(encodeSnapshot(x, 0, 1, 2, Encoding.Q8).nonFinite, true);
  }
  // a block whose top code would overflow float32 is refused by the decoder
  const over = new Uint8Array(q8Bytes(2));
  new DataView(over.buffer).setFloat32(0, 3e38, true);
  new DataView(over.buffer).setFloat32(4, 1e36, true);
  assert.equal(decodeQ8(over, 2, new Float32Array(2)), false);
  new DataView(over.buffer).setFloat32(4, 1e35, true);
  assert.equal(decodeQ8(over, 2, new Float32Array(2)), true);
});

test('q8: any chunk decodes alone, in any order, to what the whole snapshot decodes to', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }), fc.constantFrom(72, 76, 144, 1000, CHUNK_BYTES, 4000, 60_000), fc.nat(), fc.nat(7),
      (count, chunkBytes, seed, shift) => {
        const params = Float32Array.from({ length: count }, (_, i) => Math.sin(i * 0.7 + seed) * (1 + (i % 97)));
        const snap = encodeSnapshot(params, 3, 1, 9, Encoding.Q8, chunkBytes);
        assert.equal(metaProblem(snap.meta, 9, count, chunkBytes), null);
        const whole = new Float32Array(count);
        assert.ok(decodeQ8(snap.bytes, count, whole));
        const n = snap.meta.chunkCount;
        const k = seed % n;
        // chunk k alone, its payload at an odd offset as in a datagram
        const alone = new Incoming(snap.meta, 0, new Float32Array(count).fill(NaN));
        const p = chunkPayload(snap, k);
        const host = new Uint8Array(p.length + 8);
        host.set(p, shift);
        assert.ok(alone.add(k, host.subarray(shift, shift + p.length), 0), `chunk ${k} of ${n}`);
        const got = alone.params();
        const decoded = [...got].map((v, i) => [i, v] as const).filter(([, v]) => !Number.isNaN(v));
        assert.ok(decoded.length > 0);
        for (const [i, v] of decoded) assert.equal(v, whole[i], `param ${i} from chunk ${k}`);
        // every chunk, last first
        const all = new Incoming(snap.meta, 0);
        for (let i = n - 1; i >= 0; i--) assert.ok(all.add(i, chunkPayload(snap, i), 0));
        assert.ok(all.complete);
        assert.deepEqual(all.params(), whole);
      },
    ),
    { numRuns: 200 },
  );
});

test('error feedback: the mean of many decoded snapshots of a fixed vector converges to it (the summed error stays bounded)', () => {
  fc.assert(
    fc.property(fc.float32Array({ min: -4, max: 4, noNaN: true, minLength: 1, maxLength: 200, size: 'max' }), (x) => {
      const K = 200;
      const fb = new ErrorFeedback(x.length);
      const sum = new Float64Array(x.length);
      for (let k = 0; k < K; k++) {
        const y = roundTrip(x, fb);
        fb.commit();
        for (let i = 0; i < x.length; i++) sum[i] += y[i];
      }
      for (let b = 0; b < x.length; b += Q8_BLOCK) {
        const blk = x.subarray(b, b + Q8_BLOCK);
        const step = (Math.max(...blk) - Math.min(...blk)) / 255;
        for (let i = b; i < b + blk.length; i++) {
          // sum of errors = r_0 - r_K: within about a step, where without feedback it grows as K x one error
          const errSum = Math.abs(sum[i] - K * x[i]);
          assert.ok(errSum <= 1.01 * step + 1e-5, `param ${i}: summed error ${errSum} over ${K} encodings, step ${step}`);
        }
      }
    }),
    { numRuns: 100 },
  );
});

test('error feedback: an encoding that is not committed leaves the residual as it was', () => {
  const x = Float32Array.from({ length: 300 }, (_, i) => Math.cos(i));
  const fb = new ErrorFeedback(x.length);
  roundTrip(x, fb);
  fb.commit();
  const r = fb.residual.slice();
  assert.ok(r.some((v) => v !== 0));
  roundTrip(Float32Array.from(x, (v) => v * 3), fb);
  fb.cancel();
  fb.commit(); // a later commit must not take the cancelled encoding's residual either
  assert.deepEqual(fb.residual, r);
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('LAN preset in q8: boards reach consensus to q8 resolution, and error feedback keeps the mean', () => {
  // values in [-1, 1]: a block's step is about 2/255
  const step = 2 / 255;
  const c = new Cluster({ n: 6, dim: 1200, seed: 29, preset: 'lan', net: { loss: 0.1 }, tune: { encoding: Encoding.Q8 } });
  const truth = Float32Array.from(float64Mean(c.boards.map((b) => b.vec)));
  const spread0 = c.maxDeviation(truth);
  c.run(5000);
  const m = mean(c.boards.map((b) => b.vec));
  const spread = c.maxDeviation(m);
  const drift = maxAbsDiff(m, truth);
  const averages = c.boards.map((b) => b.node.stats().averages);
  const residuals = c.boards.map((b) => b.node.sendResidual);
  c.stop();
  assert.ok(spread0 > 0.5, `boards start apart: ${spread0}`);
  assert.ok(averages.every((a) => a > 20), `every board averaged: ${averages}`);
  assert.ok(residuals.every((r) => r && r.some((v) => v !== 0)), 'error feedback was in use');
  assert.ok(spread < step, `boards agree to ${spread}, step ${step}`);
  // each board's summed error stays within its residual (half a step), so the mean moves by a
  // fraction of a step; without feedback it random-walks by about sqrt(exchanges) errors
  assert.ok(drift < step / 5, `mean drifted ${drift} (step ${step})`);
});

test('an exchange aborted after its q8 snapshot went out leaves the sender\'s residual unchanged', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 5 });
  const key = randomBytes(32);
  const dim = 2000;
  const vecs = [0, 1].map((k) => Float32Array.from({ length: dim }, (_, i) => Math.sin(i * (k + 1))));
  const ta = net.endpoint(), tb = net.endpoint();
  const mk = (id: string, t: ReturnType<MemoryNetwork['endpoint']>, seeds: string[], v: Float32Array) => new GossipNode({
    transport: t, key, cluster: 'ef', id, seeds, clock, fingerprint: 'v', paramCount: dim,
    tune: { ...FAST, encoding: Encoding.Q8, exchangeIntervalMs: 1e9, averageAtLeastEveryMs: 0, maxNormRatio: 1e9, maxRelDistance: 1e9, maxStep: 1e9 },
    getSnapshot: () => ({ params: v.slice(), samplesSeen: 0 }),
  });
  const a = mk('a', ta, [tb.address], vecs[0]), b = mk('b', tb, [ta.address], vecs[1]);
  a.start();
  b.start();
  for (let t = 0; t < 500; t += 5) clock.advance(5);
  // one exchange that completes: a's residual is set
  assert.ok(a.exchangeNow('b'));
  for (let t = 0; t < 500 && a.busy; t += 1) clock.advance(1);
  for (const n of [a, b]) { const bl = n.poll(); if (bl) n.recycle(bl.values); }
  assert.equal(a.stats().averages, 1);
  const r1 = Float32Array.from(a.sendResidual!);
  assert.ok(r1.some((v) => v !== 0));
  // the next: a's snapshot goes out, then b vanishes before it can reply
  vecs[0].forEach((v, i) => (vecs[0][i] = v * 0.5 + 0.1));
  const sent0 = a.stats().bytesSent;
  assert.ok(a.exchangeNow('b'));
  for (let t = 0; t < 100 && a.stats().bytesSent - sent0 < q8Bytes(dim); t += 1) clock.advance(1);
  assert.ok(a.stats().bytesSent - sent0 >= q8Bytes(dim), 'a sent its snapshot');
  net.partition([[ta.address]]);
  for (let t = 0; t < 3000 && a.busy; t += 5) clock.advance(5);
  assert.equal(a.busy, false);
  assert.equal(a.stats().exchangesAborted, 1);
  assert.deepEqual(Float32Array.from(a.sendResidual!), r1, 'the aborted exchange left the residual alone');
  a.stop();
  b.stop();
});

test('hostile bytes: no q8 chunk, whatever its bytes, puts a NaN or infinity in the reassembled parameters', () => {
  const count = 3000;
  const snap = encodeSnapshot(new Float32Array(count).fill(1), 0, 1, 9, Encoding.Q8);
  const f32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v, true); return [...b]; };
  // headers drawn from the dangerous floats as well as from random bytes
  const header = fc.oneof(
    fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => [...b]),
    fc.tuple(fc.constantFrom(NaN, Infinity, -Infinity, 3.4e38, -3.4e38, 1e38, 0, -1), fc.constantFrom(NaN, Infinity, -1, 3.4e38, 1e36, 2e36, 0, 1))
      .map(([min, step]) => [...f32(min), ...f32(step)]),
  );
  fc.assert(
    fc.property(fc.nat(snap.meta.chunkCount - 1), fc.array(header, { minLength: 15, maxLength: 15, size: 'max' }), fc.uint8Array({ minLength: CHUNK_BYTES, maxLength: CHUNK_BYTES }), (index, heads, body) => {
      const len = chunkPayload(snap, index).length;
      const payload = body.slice(0, len);
      for (let b = 0; b * Q8_BLOCK_BYTES < len; b++) payload.set(heads[b], b * Q8_BLOCK_BYTES);
      // through the codec, as a datagram would come
      const m = decode(encode({ type: MsgType.Chunk, from: 'x', incarnation: 1, xfer: 1, challenge: 2, dir: 0, meta: snap.meta, index, payload }));
      assert.ok(m && m.type === MsgType.Chunk);
      const inc = new Incoming(m.meta, 0, new Float32Array(count));
      const added = inc.add(index, m.payload, 0);
      // a chunk not taken here is new, so it was refused as malformed (counted as a decode drop, not a duplicate)
      assert.equal(inc.malformed, !added);
      for (const v of inc.params()) assert.ok(Number.isFinite(v), `decoded ${v}`);
    }),
    { numRuns: 2000 },
  );
});

test('a q8 board and an f16 board of one cluster average: each decodes what the other sends', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 8 });
  const key = randomBytes(32);
  const dim = 3000;
  const vecs = [0, 1].map((k) => Float32Array.from({ length: dim }, (_, i) => Math.sin(i * (k + 2))));
  const ta = net.endpoint(), tb = net.endpoint();
  const mk = (id: string, t: ReturnType<MemoryNetwork['endpoint']>, seeds: string[], v: Float32Array, encoding: Encoding) => new GossipNode({
    transport: t, key, cluster: 'mixed', id, seeds, clock, fingerprint: 'v', paramCount: dim,
    tune: { ...FAST, encoding, exchangeIntervalMs: 1e9, averageAtLeastEveryMs: 0, maxNormRatio: 1e9, maxRelDistance: 1e9, maxStep: 1e9 },
    getSnapshot: () => ({ params: v.slice(), samplesSeen: 0 }),
  });
  const a = mk('a', ta, [tb.address], vecs[0], Encoding.Q8), b = mk('b', tb, [ta.address], vecs[1], Encoding.F16);
  a.start();
  b.start();
  for (let t = 0; t < 500; t += 5) clock.advance(5);
  const mid = vecs[0].map((v, i) => 0.5 * (v + vecs[1][i]));
  assert.ok(a.exchangeNow('b'));
  for (let t = 0; t < 500 && (a.busy || b.busy); t += 1) {
    clock.advance(1);
    for (const [n, v] of [[a, vecs[0]], [b, vecs[1]]] as const) {
      const bl = n.poll();
      if (bl) { for (let i = 0; i < dim; i++) v[i] += bl.values[i]; n.recycle(bl.values); }
    }
  }
  assert.equal(a.stats().averages, 1);
  assert.equal(b.stats().averages, 1);
  // b took a's q8 snapshot (within a block step of 2/255), a took b's fp16 one (within fp16's)
  assert.ok(maxAbsDiff(vecs[1], mid) < 0.5 * (2 / 255), `b off the midpoint by ${maxAbsDiff(vecs[1], mid)}`);
  assert.ok(maxAbsDiff(vecs[0], mid) < 1e-3, `a off the midpoint by ${maxAbsDiff(vecs[0], mid)}`);
  a.stop();
  b.stop();
});

test('a board whose model q8 cannot carry (NaN) refuses to serve a joiner instead of sending blocks nobody can decode', async () => {
  const c = new Cluster({ n: 0, dim: 3000, seed: 41, tune: { encoding: Encoding.Q8 } });
  const sick = c.add();
  sick.vec[17] = NaN;
  c.run(200);
  // datagrams from the sick board the size of a model chunk (handshakes and pings are a few dozen bytes)
  let chunkSized = 0;
  c.net.tap = (d, from) => { if (from === sick.addr && d.length > 600) chunkSized++; };
  const joiner = c.add({ needsModel: true });
  let ready = false;
  void joiner.node.ready().then(() => { ready = true; });
  for (let k = 0; k < 400 && !ready; k++) {
    c.clock.advance(10);
    await Promise.resolve();
  }
  const got = joiner.node.poll();
  c.stop();
  // every pull refused at once: never a model's chunks (3,000 parameters in q8: 4 chunks a try)
  assert.equal(chunkSized, 0, 'chunk-sized datagrams the sick board sent');
  assert.ok(ready, 'the joiner gave up waiting (joinTimeoutMs) and trains from its own init');
  assert.equal(got, null, 'nothing adopted');
  assert.ok(joiner.vec.every((x) => Number.isFinite(x)));
});

test('a chunk held already is a duplicate, a refused one is malformed: the node counts them apart', () => {
  const snap = encodeSnapshot(Float32Array.from({ length: 3000 }, (_, i) => Math.sin(i)), 0, 1, 9, Encoding.Q8);
  const inc = new Incoming(snap.meta, 0);
  const good = chunkPayload(snap, 1);
  assert.equal(inc.add(1, good, 0), true);
  assert.equal(inc.add(1, good, 0), false);
  assert.equal(inc.malformed, false, 'the second copy is a duplicate');
  const bad = Uint8Array.from(chunkPayload(snap, 2));
  new DataView(bad.buffer).setFloat32(0, NaN, true); // the first block's min
  assert.equal(inc.add(2, bad, 0), false);
  assert.equal(inc.malformed, true, 'a block no decoder accepts');
  assert.equal(inc.add(2, chunkPayload(snap, 2), 0), true, 'the good copy is still taken after a bad one');
});
