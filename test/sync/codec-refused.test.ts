// The decoder's validation, reached: chunks whose index is past their count, whose payload is
// empty or longer than a chunk, with an unknown direction, encoding or sample count, and other
// messages with out-of-range fields must decode to null (refused), while every valid neighbour
// decodes. The round-trip fuzz in codec.test.ts never generates these, and its bit-flip fuzz only
// asserts that nothing throws, so without this file deleting a check would pass the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decode, encode, CHUNK_BYTES, MsgType, type Msg } from '../../src/sync/messages';

test('a chunk decodes exactly when index < chunkCount, 1 <= payload <= CHUNK_BYTES, dir <= 1, known encoding and finite samples >= 0', () => {
  fc.assert(fc.property(fc.record({
    chunkCount: fc.integer({ min: 0, max: 6 }), index: fc.integer({ min: 0, max: 7 }),
    len: fc.constantFrom(0, 1, 7, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1),
    dir: fc.integer({ min: 0, max: 3 }), encoding: fc.integer({ min: 0, max: 4 }),
    samplesSeen: fc.constantFrom(0, 1, 1e12, -1, Number.NaN, Infinity),
  }), ({ chunkCount, index, len, dir, encoding, samplesSeen }) => {
    const m = {
      type: MsgType.Chunk, from: 'b1', incarnation: 3, xfer: 9, dir,
      meta: { snapshotId: 1, fingerprint: 2, paramCount: 3, encoding, samplesSeen, chunkCount }, index, payload: new Uint8Array(len).fill(5),
    } as unknown as Msg;
    const valid = index < chunkCount && len >= 1 && len <= CHUNK_BYTES && dir <= 1 && (encoding === 1 || encoding === 2 || encoding === 3)
      && Number.isFinite(samplesSeen) && samplesSeen >= 0;
    const back = decode(encode(m));
    assert.equal(back !== null, valid, `chunk ${JSON.stringify({ chunkCount, index, len, dir, encoding, samplesSeen })} ${valid ? 'refused' : 'accepted'}`);
  }), { numRuns: 300 });
  // the boundary cases by name, whatever fast-check drew
  const chunk = (index: number, chunkCount: number, len: number) => decode(encode({
    type: MsgType.Chunk, from: 'b1', incarnation: 1, xfer: 1, dir: 0,
    meta: { snapshotId: 1, fingerprint: 2, paramCount: 3, encoding: 1, samplesSeen: 0, chunkCount }, index, payload: new Uint8Array(len),
  } as Msg));
  assert.notEqual(chunk(4, 5, CHUNK_BYTES), null);
  assert.equal(chunk(5, 5, 1), null, 'index === chunkCount');
  assert.equal(chunk(0, 5, 0), null, 'empty payload');
  assert.equal(chunk(0, 5, CHUNK_BYTES + 1), null, 'payload of CHUNK_BYTES + 1');
});

test('a proposal with an unknown mode (0, 4, 255), a need with an unknown direction and a trailing byte are refused', () => {
  const propose = (mode: number) => encode({ type: MsgType.Propose, from: 'a', incarnation: 1, xfer: 2, mode, fingerprint: 3, paramCount: 4 } as unknown as Msg);
  // Exchange, Pull, Overdue (append-only: a new mode is a new number, the old ones stay)
  for (const mode of [1, 2, 3]) assert.notEqual(decode(propose(mode)), null, `mode ${mode}`);
  for (const mode of [0, 4, 255]) assert.equal(decode(propose(mode)), null, `mode ${mode}`);
  const need = (dir: number) => encode({ type: MsgType.Need, from: 'a', incarnation: 1, xfer: 2, dir, have: 0, ranges: [[0, 1]] } as unknown as Msg);
  assert.notEqual(decode(need(1)), null);
  assert.equal(decode(need(2)), null);
  const leave = encode({ type: MsgType.Leave, from: 'a', incarnation: 1 } as Msg);
  assert.notEqual(decode(leave), null);
  assert.equal(decode(Buffer.concat([leave, Buffer.of(0)])), null, 'trailing byte after a complete message');
  assert.equal(decode(leave.subarray(0, leave.length - 1)), null, 'one byte short');
});
