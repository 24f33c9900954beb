// The CPU engine's argument blocks: one layout per op, packed by the engine and unpacked by the
// shares that the worker threads run; a round trip must give back every argument by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LAYOUT, MAX_ARGS, packArgs, unpackArgs, type Op } from '../../src/kernels/cpu/ops';

test('every op layout fits the control block and names each argument once', () => {
  for (const [op, names] of Object.entries(LAYOUT)) {
    assert.ok(4 + names.length <= MAX_ARGS, `op ${op}: ${names.length} arguments do not fit ${MAX_ARGS - 4}`);
    assert.equal(new Set(names).size, names.length, `op ${op} names an argument twice`);
  }
});

test('packArgs then unpackArgs gives back every argument, and the block starts with op and share', () => {
  const ops = Object.keys(LAYOUT).map(Number) as Op[];
  fc.assert(fc.property(fc.constantFrom(...ops), fc.array(fc.integer({ min: 0, max: 2 ** 30 }), { minLength: 23, maxLength: 23 }), (op, vs) => {
    const names: readonly string[] = LAYOUT[op];
    const args = Object.fromEntries(names.map((n, i) => [n, vs[i]]));
    const block = packArgs(op, { total: vs[20], scratch: vs[21], scratchStride: vs[22] }, args as never);
    assert.deepEqual(block.slice(0, 4), [op, vs[20], vs[21], vs[22]]);
    // through the Int32Array the workers read it from
    const shared = Int32Array.from(block);
    assert.deepEqual(unpackArgs(op, shared), args);
  }), { numRuns: 50 });
});
