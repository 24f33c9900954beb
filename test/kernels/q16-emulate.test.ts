// The q16 emulation rounds what the GPU path would store, and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Q16Emulation } from '../../src/kernels/q16-emulate';
import { NaiveCpuEngine } from '../../src/kernels/cpu/naive-engine';
import { Q16_ZERO, stepExponent } from '../../src/kernels/gl/q16';

const ramp = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * s);

test('activations land on a q16 grid within one step of fp32; weight gradients stay exact', () => {
  const ref = new NaiveCpuEngine(), q = new Q16Emulation(new NaiveCpuEngine());
  const xs = [2, 2, 7, 7], ws = [4, 2, 3, 3];
  const xv = ramp(196, 1), wv = ramp(72, 0.3), bv = ramp(4, 0.1);
  const y0 = ref.read(ref.conv2d(ref.tensor(xs, xv), ref.tensor(ws, wv), ref.tensor([4], bv), 'tanh'));
  const x = q.tensor(xs, xv), w = q.tensor(ws, wv), b = q.tensor([4], bv);
  const y = q.read(q.conv2d(x, w, b, 'tanh'));
  let maxAbs = 0;
  for (const v of y0) maxAbs = Math.max(maxAbs, Math.abs(v));
  const e = Math.ceil(Math.log2((maxAbs * 2) / 32767)), step = 2 ** e;
  let offGrid = 0, moved = 0;
  for (let i = 0; i < y.length; i++) {
    assert.ok(Math.abs(y[i] - y0[i]) < step, `y[${i}] off by ${(y[i] - y0[i]) / step} steps`);
    const u = y[i] / step + Q16_ZERO;
    if (u !== Math.round(u)) offGrid++;
    if (y[i] !== y0[i]) moved++;
  }
  assert.equal(offGrid, 0);
  assert.ok(moved > y.length / 2, 'most values should have been rounded');
  const dy = ramp(2 * 4 * 5 * 5, 0.01);
  const dw0 = ref.read(ref.conv2dBackwardFilter(ref.tensor(xs, xv), ref.tensor([2, 4, 5, 5], dy), ws));
  const dw = q.read(q.conv2dBackwardFilter(x, q.tensor([2, 4, 5, 5], dy), ws));
  assert.deepEqual(dw, dw0);
  assert.equal(q.stats.stores, 1);
});

test('a tensor that outgrows its tracked step is redone at a larger one, never clipped', () => {
  const q = new Q16Emulation(new NaiveCpuEngine());
  const w = q.tensor([3, 2], ramp(6, 0.5)), b = q.tensor([2], new Float32Array(2));
  q.dense(q.tensor([4, 3], ramp(12, 1)), w, b, 'none'); // tracks a small step
  const big = ramp(12, 1000);
  const y = q.read(q.dense(q.tensor([4, 3], big), w, b, 'none'));
  const ref = new NaiveCpuEngine();
  const y0 = ref.read(ref.dense(ref.tensor([4, 3], big), ref.tensor([3, 2], ramp(6, 0.5)), ref.tensor([2], new Float32Array(2)), 'none'));
  assert.equal(q.stats.redos, 1);
  // within one step of the scale the new max-abs asks for, so nothing was clipped
  const step = 2 ** stepExponent(y0.reduce((m, v) => Math.max(m, Math.abs(v)), 0), 1);
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i] - y0[i]) < step, `y[${i}] = ${y[i]}, fp32 ${y0[i]}`);
});
