// The exchange's hot path reuses its buffers (the encoded snapshot, the reassembly array, the blend
// arrays a caller hands back) and skips copies (fp16 decoded at any byte offset, a chunk's payload
// sealed straight behind its header). What those shortcuts must not change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { decodeHalf, decodeHalfBytes } from '../../src/sync/fp16';
import { Opener, Sealer } from '../../src/sync/crypto';
import { decode, encode, Encoding, MsgType, type Msg } from '../../src/sync/messages';
import { chunkHeader, chunkPayload, encodeSnapshot, Incoming, Outgoing } from '../../src/sync/transfer';
import { Cluster } from './harness';

test('fp16 decoded from bytes at an odd offset equals the aligned decode, bit for bit', () => {
  fc.assert(fc.property(fc.uint16Array({ minLength: 0, maxLength: 300, size: 'max' }), fc.integer({ min: 0, max: 7 }), (halves, pad) => {
    const want = decodeHalf(halves);
    const bytes = new Uint8Array(halves.buffer, halves.byteOffset, halves.byteLength);
    const shifted = new Uint8Array(pad + bytes.length);
    shifted.set(bytes, pad);
    const got = decodeHalfBytes(shifted.subarray(pad), new Float32Array(halves.length));
    // compared as bit patterns: NaNs and signed zeros included
    assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer));
  }));
});

test('a chunk sealed as header + payload opens to the message the whole-buffer encoder writes', () => {
  const key = randomBytes(32);
  for (const aead of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    const params = new Float32Array(5000).map((_, i) => Math.sin(i));
    const scratch = new Uint8Array(20_000);
    const snap = encodeSnapshot(params, 42, 7, 0x1234, Encoding.F16, 4000, scratch);
    assert.equal(snap.bytes.buffer, scratch.buffer, 'encoded into the scratch buffer');
    const out = new Outgoing(snap);
    const flow = { addr: 'x', xfer: 9, challenge: 3, dir: 1, out };
    const sealer = new Sealer(key, 'c', 'a', aead), opener = new Opener(key, 'c', aead);
    const inc = new Incoming(snap.meta, 0);
    for (let i = 0; i < snap.meta.chunkCount; i++) {
      const header = encode({ ...chunkHeader(flow, i), from: 'a', incarnation: 1 } as Msg, 8000);
      const payload = chunkPayload(snap, i);
      const opened = opener.open(sealer.seal(header, payload));
      assert.ok(opened.ok);
      const whole = encode({ ...chunkHeader(flow, i), payload, from: 'a', incarnation: 1 } as Msg, 8000);
      assert.deepEqual(opened.plain, whole);
      const m = decode(opened.plain, 8000) as Msg & { type: MsgType.Chunk };
      assert.deepEqual(new Uint8Array(m.payload), payload);
      inc.add(m.index, m.payload, 0);
    }
    assert.ok(inc.complete);
    assert.deepEqual(inc.params(), decodeHalf(new Uint16Array(scratch.buffer, 0, params.length)));
  }
});

test('blend arrays handed back and reused carry only the new blend: two boards meet at their mean after every exchange', () => {
  const c = new Cluster({ n: 2, dim: 3000, seed: 5 });
  const [a, b] = c.boards;
  let exchanges = 0, recycled = 0;
  const seen = new Set<Float32Array>();
  for (let t = 0; t < 20_000 && exchanges < 6; t += 2) {
    c.clock.advance(2);
    for (const x of [a, b]) {
      const blend = x.node.poll();
      if (!blend) continue;
      if (seen.has(blend.values)) recycled++;
      seen.add(blend.values);
      for (let i = 0; i < x.vec.length; i++) x.vec[i] += blend.values[i];
      // what a caller might leave in an array it gives back: none of it may reach the next blend
      blend.values.fill(NaN);
      x.node.recycle(blend.values);
    }
    if (a.node.busy || b.node.busy) continue;
    // both blends are in: both boards hold the mean of what they sent
    let gap = 0;
    for (let i = 0; i < a.vec.length; i++) gap = Math.max(gap, Math.abs(a.vec[i] - b.vec[i]));
    if (c.boards.every((x) => x.node.stats().averages === exchanges + 1)) {
      exchanges++;
      assert.ok(gap < 1e-6, `after exchange ${exchanges} the boards differ by ${gap}`);
      // training in between: each board moves on its own, so the next blend's delta is a new one
      for (const x of [a, b]) {
        const step = c.randomVector();
        for (let i = 0; i < x.vec.length; i++) x.vec[i] += step[i] * 0.1;
      }
    }
  }
  c.stop();
  assert.equal(exchanges, 6, 'six exchanges completed');
  assert.ok(recycled > 0, 'a handed-back array was used again');
});
