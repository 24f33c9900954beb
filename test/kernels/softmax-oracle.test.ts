// Softmax and softmax cross-entropy of the CPU engines against an independent float64 oracle
// (softmax-ref.ts), element by element: losses of confident rows (1e-17 and up) must keep their own
// digits, not only those of the batch's largest loss.
import { after, test } from 'node:test';
import fc from 'fast-check';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { NaiveCpuEngine } from '../../src/kernels/cpu/naive-engine';
import type { Engine } from '../../src/kernels/engine';
import { assertClose } from './helpers';
import { hardRows, softmaxRef, softmaxXentRef } from './softmax-ref';

const engines: [string, Engine][] = [
  ['naive', new NaiveCpuEngine()],
  ['cpu 1 thread', new CpuEngine({ threads: 1 })],
  ['cpu js kernels', new CpuEngine({ threads: 1, kernels: 'js' })],
];
after(() => { for (const [, e] of engines) e.destroy(); });

// The CPU engines take these in float64 and round once to float32: half an ulp, 2^-24 ≈ 6e-8
// relative, plus a few float64 ulps on either side. 1.5e-7 is 2.5 float32 half-ulps. The absolute
// floor is one float32 subnormal step (2^-149 ≈ 1.4e-45), for probabilities like e^-100 that land
// in the subnormal range, where float32 has no relative precision left.
const RTOL = 1.5e-7, ATOL = 2 ** -149;

function check(name: string, e: Engine, z: Float32Array, t: Float32Array, N: number, K: number): void {
  const zt = e.tensor([N, K], z), tt = e.tensor([N, K], t);
  const r = e.softmaxCrossEntropy(zt, tt), p = e.softmax(zt);
  const ref = softmaxXentRef(z, t, N, K);
  assertClose(e.read(r.losses), ref.losses, ATOL, RTOL, `${name}: losses`);
  assertClose(e.read(r.dLogits), ref.dLogits, ATOL, RTOL, `${name}: dLogits`);
  assertClose(e.read(p), softmaxRef(z, N, K), ATOL, RTOL, `${name}: softmax`);
  for (const x of [zt, tt, r.losses, r.dLogits, p]) e.dispose(x);
}

test('large-margin, tied and mixed rows: every loss, gradient and probability matches the float64 oracle', () => {
  const { z, t, N, K } = hardRows();
  for (const [name, e] of engines) check(name, e, z, t, N, K);
});

test('random logits up to ±100 with random targets match the float64 oracle per element', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 6 }), K: fc.integer({ min: 2, max: 12 }),
    scale: fc.constantFrom(0.1, 3, 30, 100), seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  }), ({ N, K, scale, seed }) => {
    let s = seed;
    const next = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
    const z = Float32Array.from({ length: N * K }, () => (next() * 2 - 1) * scale);
    const t = new Float32Array(N * K);
    for (let n = 0; n < N; n++) t[n * K + Math.floor(next() * K)] = 1;
    for (const [name, e] of engines) check(`${name} N${N} K${K} scale ${scale}`, e, z, t, N, K);
  }), { numRuns: 40 });
});
