// Wide chunks (the `local` preset's 60 KB datagrams) and the fast fp16 encoder: the codec, the
// window that follows the receive buffer, and a cluster that repairs lost wide chunks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cluster, float64Mean } from './harness';
import { CHUNK_BYTES, MAX_CHUNK_BYTES, MAX_UDP_PAYLOAD, MsgType, datagramLimit, decode, encode, type Msg } from '../../src/sync/messages';
import { SEAL_OVERHEAD } from '../../src/sync/crypto';
import { encodeHalf, fromHalfBits, toHalfBits } from '../../src/sync/fp16';
import { fitWindow } from '../../src/sync/gossip';
import { PRESETS, resolvePreset } from '../../src/sync/config';
import { chunkPayload, encodeSnapshot, Incoming } from '../../src/sync/transfer';
import { Encoding } from '../../src/sync/index';

const plain = (x: Msg | null) => (x && 'payload' in x ? { ...x, payload: [...x.payload] } : x);
const chunk = (chunkBytes: number | undefined, payloadBytes: number): Msg => ({
  type: MsgType.Chunk, from: 'a'.repeat(48), incarnation: 7, xfer: 9, challenge: 11, dir: 1, index: 0,
  meta: { snapshotId: 1, fingerprint: 2, paramCount: 3, encoding: 1, samplesSeen: 5, chunkCount: 4, ...(chunkBytes === undefined ? {} : { chunkBytes }) },
  payload: new Uint8Array(payloadBytes).fill(3),
});

test('a wide chunk round-trips as type 14 with its size; a plain one stays type 8 without it', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: MAX_CHUNK_BYTES / 4 }).map((k) => k * 4).filter((n) => n !== CHUNK_BYTES), (n) => {
    const m = chunk(n, n);
    const b = encode(m, datagramLimit(n));
    assert.equal(b[0], MsgType.WideChunk);
    assert.ok(b.length + SEAL_OVERHEAD <= datagramLimit(n) && datagramLimit(n) <= MAX_UDP_PAYLOAD);
    assert.deepEqual(plain(decode(b, datagramLimit(n))), plain(m));
  }), { numRuns: 40 });
  const p = encode(chunk(undefined, CHUNK_BYTES));
  assert.equal(p[0], MsgType.Chunk);
  assert.deepEqual(plain(decode(p)), plain(chunk(undefined, CHUNK_BYTES)));
});

test('a wide chunk is refused when it claims an impossible size or carries more than it claims, or exceeds the receiver limit', () => {
  const good = encode(chunk(4000, 4000), datagramLimit(4000));
  const at = 1 + 1 + 48 + 4 + 4 + 4 + 1 + 4 + 4 + 4 + 1 + 8 + 2; // the chunkBytes field (after xfer, challenge, dir, ...)
  for (const bad of [4002, CHUNK_BYTES, 0, MAX_CHUNK_BYTES + 4, 3996]) {
    const b = Buffer.from(good);
    b.writeUInt32BE(bad, at);
    assert.equal(decode(b, datagramLimit(8000)), null, `chunkBytes ${bad} with 4000 bytes of payload`);
  }
  assert.equal(decode(good), null, 'a plain node (1,200-byte limit) does not read a 4 KB datagram');
});

test('encodeHalf gives toHalfBits of every value (fast path and edges)', () => {
  const halves = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) halves[h] = fromHalfBits(h);
  const viaFast = encodeHalf(halves);
  for (let h = 0; h < 65536; h++) assert.equal(viaFast[h], toHalfBits(halves[h]), `half 0x${h.toString(16)}`);
  fc.assert(fc.property(fc.float32Array({ minLength: 1, maxLength: 64 }), (xs) => {
    const out = encodeHalf(xs);
    for (let i = 0; i < xs.length; i++) assert.equal(out[i], toHalfBits(xs[i]), `${xs[i]}`);
  }), { numRuns: 300 });
  // ties and the carry into the exponent, next to the fast path's range ends
  const edge = Float32Array.from([1 + 2 ** -11, 1 + 3 * 2 ** -11, 65504, 65519.99, 65520, 2 ** -14, 2 ** -14 - 2 ** -25, -(2 ** 15) * 1.9999]);
  assert.deepEqual([...encodeHalf(edge)], [...edge].map(toHalfBits));
});

test('the window shrinks to what the receive buffer holds, never grows, and stays at least 2', () => {
  const local = resolvePreset('local');
  assert.equal(fitWindow(local, undefined), local);
  assert.equal(fitWindow(local, 425_984).windowChunks, 6); // rmem_max 212992, doubled by Linux
  assert.equal(fitWindow(local, 1 << 30).windowChunks, local.windowChunks);
  assert.equal(fitWindow(local, 1000).windowChunks, 2);
  assert.equal(fitWindow(PRESETS.lan, 425_984).windowChunks, PRESETS.lan.windowChunks);
});

test('a preset with an impossible chunk size is refused with the field named', () => {
  assert.throws(() => resolvePreset('local', { chunkBytes: 70_000 }), /chunkBytes 70000/);
  assert.throws(() => resolvePreset('local', { chunkBytes: 1001 }), /multiple of 4/);
});

test('4 boards with wide chunks (5 per snapshot) at 20% loss and reordering reach the mean within 1e-4', () => {
  const c = new Cluster({ n: 4, dim: 5000, seed: 14, net: { loss: 0.2, reorder: 0.2, reorderMs: 10 }, tune: { chunkBytes: 4000, windowChunks: 3, burst: 1 } });
  const truth = Float32Array.from(float64Mean(c.boards.map((b) => b.vec)));
  c.run(20_000, 2, () => c.maxDeviation(truth) < 1e-4);
  const dev = c.maxDeviation(truth);
  const resent = c.boards.reduce((s, b) => s + b.node.stats().chunksResent, 0);
  c.stop();
  assert.ok(dev < 1e-4, `max deviation ${dev}`);
  assert.ok(resent > 0, 'lost wide chunks were sent again');
});

test('a snapshot reassembled from chunks whose payloads sit at any byte offset of their datagram decodes to what was sent', () => {
  // payloads are views into the opened datagram, after a header whose length follows the sender's
  // id: odd offsets happen, and a 16-bit view cannot start at one
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3000 }), fc.constantFrom(Encoding.F16, Encoding.F32), fc.integer({ min: 1, max: 40 }), fc.nat(7), (count, e, words, shift) => {
      const params = Float32Array.from({ length: count }, (_, i) => Math.sin(i) * 3);
      const snap = encodeSnapshot(params, 1, 1, 9, e, 4 * words);
      const inc = new Incoming(snap.meta, 0);
      for (let i = snap.meta.chunkCount - 1; i >= 0; i--) {
        const p = chunkPayload(snap, i);
        const host = Buffer.alloc(p.length + 8);
        host.set(p, shift);
        assert.ok(inc.add(i, host.subarray(shift, shift + p.length), 0));
      }
      assert.ok(inc.complete);
      const want = e === Encoding.F16 ? params.map((x) => fromHalfBits(toHalfBits(x))) : params;
      assert.deepEqual(inc.params(), want);
    }),
    { numRuns: 200 },
  );
});
