// What gl/engine-base.ts gives both GL engines alike: tensors that keep their values bit for bit
// through a write and a read in either texel format (RGBA8 bytes, RGBA32F rows padded to whole
// texels), reshapes that keep the values, and a destroyed engine that fails every call with a GlFaultError naming
// it. No context is a failure, never a skip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GlEngine } from '../../src/kernels/gl/engine';
import type { GlEngineBase } from '../../src/kernels/gl/engine-base';
import { GlFaultError } from '../../src/kernels/gl/errors';
import { FloatEngine } from '../../src/kernels/gl/float/engine';

function open(kind: 'rgba8' | 'rgba32f'): GlEngineBase {
  try {
    return kind === 'rgba8' ? GlEngine.create({ profile: 'vc4-exact' }) : FloatEngine.create();
  } catch (err) {
    assert.fail(`no GL context for the GL tests: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
}

function values(n: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = ((s / 2 ** 32) - 0.5) * 10 ** ((s % 7) - 3);
  }
  out[0] = -0;
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

for (const kind of ['rgba8', 'rgba32f'] as const) {
  test(`${kind}: write then read gives every value back bit for bit, padded rows included; a reshape keeps the values`, () => {
    const e = open(kind);
    try {
      // last dimensions 5 and 3 leave padding lanes in RGBA32F; 4 does not
      for (const shape of [[3, 5], [2, 3, 4], [7, 3], [1]]) {
        const n = shape.reduce((a, b) => a * b, 1), data = values(n, n);
        const t = e.tensor(shape, data);
        assert.deepEqual(bits(e.read(t)), bits(data), `[${shape}]`);
        // A float reshape across a padded last dimension is a repacking pass that selects a lane
        // by a dot product, so -0 comes back +0: equal values, not equal bits.
        const flat = e.reshape(t, [n]);
        assert.deepEqual(Array.from(e.read(flat), (v) => v + 0), Array.from(data, (v) => v + 0), `[${shape}] as [${n}]`);
        e.dispose(flat);
        const again = values(n, n + 1);
        e.write(t, again);
        assert.deepEqual(bits(e.read(t)), bits(again), `[${shape}] rewritten`);
        assert.throws(() => e.write(t, new Float32Array(n + 1)), new RegExp(`tensor holds ${n} values`));
        e.dispose(t);
        assert.throws(() => e.read(t), /disposed/);
      }
    } finally {
      e.destroy();
    }
  });

  test(`${kind}: a destroyed engine fails each call with a GlFaultError naming it, and dispose stays quiet`, () => {
    const e = open(kind);
    const x = e.tensor([1, 1, 6, 6], values(36, 3)), w = e.tensor([2, 1, 3, 3], values(18, 4)), b = e.tensor([2]);
    e.destroy();
    const fault = (what: RegExp) => (err: unknown) => err instanceof GlFaultError && what.test(err.message) && /destroyed/.test(err.message);
    assert.throws(() => e.tensor([4]), fault(/^tensor/));
    assert.throws(() => e.write(x, new Float32Array(36)), fault(/^write/));
    assert.throws(() => e.read(x), fault(/^read/));
    assert.throws(() => e.conv2d(x, w, b, 'tanh'), fault(/^conv2d/));
    assert.throws(() => e.flush(), fault(/^flush/));
    assert.throws(() => e.checkHealth(), fault(/^health check/));
    e.dispose(x);
    e.destroy();
  });
}
