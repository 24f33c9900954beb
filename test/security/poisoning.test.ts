// M4 of the security review: how far one authenticated exchange with a key holder (or a buggy
// board) can move a board. The claimed sample count only raises the blend weight, up to maxWeight;
// the step guard refuses an average that would move us by more than maxStep (1) times our own
// norm, whatever the weight: honest averages of the default job moved a board by at most 0.040 of
// its norm (bench/results/guard-distance.md). At e1feb50 only the norm ratio (4) and a distance of
// 2 x the larger norm were checked: a negated model got in and moved a board by 1.8 x its norm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Cluster, float64Mean } from '../sync/harness';
import { PRESETS } from '../../src/sync/config';
import { checkSnapshot, measureIntoDelta, peerWeight } from '../../src/sync/averaging';
import { applyBlend } from '../../src/sync/index';

const P = PRESETS.local;
const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const dist = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));

test('a snapshot the guards let through moves us by at most maxStep x our norm, whatever it claims', () => {
  fc.assert(
    fc.property(
      fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 1, maxLength: 64 }),
      fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 64, maxLength: 64 }),
      fc.double({ min: -3, max: 3, noNaN: true }),
      fc.constantFrom(0, 1, 1000, 1e300),
      (xs, noise, scale, claimed) => {
        const x = Float32Array.from(xs);
        // the peer: a scaled copy of us plus noise, so that some land inside the guards and some not
        const p = x.map((v, i) => v * scale + noise[i % noise.length]);
        const w = peerWeight(1000, claimed, P.minWeight, P.maxWeight);
        assert.ok(w <= P.maxWeight);
        if (checkSnapshot(x, p, P, w) !== null) return;
        const delta = new Float32Array(x.length);
        assert.equal(typeof measureIntoDelta(x, p, w, delta), 'object');
        const moved = norm(delta); // what an average adds to our parameters
        const bound = P.maxStep * norm(x);
        assert.ok(moved <= bound * (1 + 1e-5) + 1e-6, `moved ${moved} > ${bound}`);
      },
    ),
    { numRuns: 2000 },
  );
});

/** Three honest boards that started from one vector and trained a little apart (5% of its norm),
 * and a key holder claiming 1e300 samples with `poison(base)`; its own trainer ignores blends. */
function withPoisoner(poison: (base: Float32Array) => Float32Array, seed: number) {
  const c = new Cluster({ n: 0, dim: 2000, seed, tune: { maxStep: P.maxStep } }); // 2000 fp32: 8 chunks a snapshot
  const base = c.randomVector();
  const honest = [0, 1, 2].map(() => {
    const jitter = c.randomVector();
    const b = c.add({ vec: base.map((v, i) => v + 0.05 * jitter[i] / Math.sqrt(3)) });
    b.samples = 1000;
    return b;
  });
  const mallory = c.add({ vec: poison(base) });
  mallory.samples = 1e300;
  mallory.alive = false; // Cluster.run folds no blend into it: it keeps offering the same model
  return { c, base, honest, mallory };
}

for (const [name, poison] of [
  ['the negated model (distance 2)', (b: Float32Array) => b.map((v) => -v)],
  ['the model plus noise of 1.7 times its norm', (b: Float32Array) => {
    const r = new Cluster({ n: 0, dim: b.length, seed: 99 }).randomVector();
    const k = (1.7 * norm(b)) / norm(r);
    return b.map((v, i) => v + k * r[i]);
  }],
] as const) {
  test(`a key holder claiming 1e300 samples with ${name} is refused; honest boards reach their own mean`, () => {
    const { c, honest, mallory } = withPoisoner(poison, 41);
    const truth = Float32Array.from(float64Mean(honest.map((b) => b.vec)));
    c.run(3000, 2, () => c.maxDeviation(truth, honest) < 1e-4 && mallory.node.stats().refused > 2);
    assert.ok(c.maxDeviation(truth, honest) < 1e-4, `honest boards at ${c.maxDeviation(truth, honest)} from their mean`);
    const refused = honest.reduce((s, b) => s + b.node.stats().refused, 0) + mallory.node.stats().refused;
    assert.ok(refused > 0, 'the poisoned model was offered and refused');
    assert.equal(mallory.node.stats().averages, 0, 'no exchange with the key holder completed');
    c.stop();
  });
}

test('a key holder inside the guards moves a board by at most the stated bound per exchange', () => {
  // its norm away, in a direction of its choosing: 0.9 x 1 <= maxStep, so accepted
  const { c, honest, mallory } = withPoisoner((b) => {
    const r = new Cluster({ n: 0, dim: b.length, seed: 7 }).randomVector();
    const k = (1.0 * norm(b)) / norm(r);
    return b.map((v, i) => v + k * r[i]);
  }, 43);
  let blends = 0, worst = 0;
  for (let t = 0; t < 1500; t += 2) {
    c.clock.advance(2);
    for (const b of honest) {
      const blend = b.node.poll();
      if (!blend) continue;
      if (blend.peer === mallory.id) {
        blends++;
        assert.ok(blend.weight <= P.maxWeight, `weight ${blend.weight}`);
        const moved = norm(blend.values);
        worst = Math.max(worst, moved / (P.maxStep * norm(b.vec)));
      }
      applyBlend(b.vec, blend);
    }
  }
  assert.ok(blends > 0, 'the key holder did get exchanges');
  assert.ok(worst <= 1 + 1e-4, `an exchange moved a board by ${worst} x the bound`);
  // and what it can do with them: the honest boards now sit near its model, not their own start
  assert.ok(dist(honest[0].vec, mallory.vec) < 0.5 * norm(mallory.vec));
  c.stop();
});
