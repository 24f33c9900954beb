// The raw parameter files boards leave for the consensus, and their mean.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { meanParams, readParamsFile, writeParamsFile } from '../../src/cluster/params-file';
import { PARAM_COUNT } from '../../src/net/spec';

test('a params file round-trips; a file of the wrong size is refused naming the file and both sizes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-params-'));
  try {
    const p = Float32Array.from({ length: PARAM_COUNT }, (_, i) => Math.sin(i) * 1e-3);
    const f = path.join(dir, 'a.f32');
    writeParamsFile(f, p);
    assert.ok(Buffer.from(readParamsFile(f).buffer).equals(Buffer.from(p.buffer)));
    fs.writeFileSync(f, Buffer.alloc(PARAM_COUNT * 4 - 4));
    assert.throws(() => readParamsFile(f), new RegExp(`a\\.f32: expected ${PARAM_COUNT * 4} bytes of parameters, found ${PARAM_COUNT * 4 - 4}$`));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('meanParams is the float64 mean rounded once, independent of order, and refuses mismatched sets', () => {
  // 1 + 2^-23 and 1 + 2^-22 are neighbours in float32; their mean 1 + 1.5·2^-23 rounds to even
  // (1 + 2^-22), where a float32 running sum would give another answer for another order.
  const a = Float32Array.from([1 + 2 ** -23, 3, -0.5, 1e-30]);
  const b = Float32Array.from([1 + 2 ** -22, 4, 0.5, 3e-30]);
  const c = Float32Array.from([1, 5, 0.25, -1e-30]);
  const want = new Float32Array(4).map((_, i) => (a[i] + b[i] + c[i]) / 3);
  assert.deepEqual([...meanParams([a, b, c])], [...want]);
  assert.deepEqual([...meanParams([c, a, b])], [...want]);
  assert.deepEqual([...meanParams([a])], [...a]);
  assert.throws(() => meanParams([]), /no parameter sets/);
  assert.throws(() => meanParams([a, new Float32Array(3)]), /differ in length/);
});
