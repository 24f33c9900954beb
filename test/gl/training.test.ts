// Whole training steps on the GL engine against the CPU engine, through the production backward
// pass (LeNet.gradients / LeNet.step), with tanh and relu.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glEngine, relErr, PROFILE_NAMES } from './helpers';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import type { Activation } from '../../src/kernels/engine';
import { paramOffsets } from '../../src/net/spec';

function batch(n: number, seed: number) {
  const rnd = mulberry32(seed);
  return { images: Float32Array.from({ length: n * 784 }, () => rnd()), labels: Array.from({ length: n }, () => Math.floor(rnd() * 10)) };
}

for (const profile of PROFILE_NAMES) {
  for (const act of ['tanh', 'relu'] as Activation[]) {
    test(`one whole LeNet training step (${act}): every gradient on GL matches the CPU engine (${profile})`, () => {
      const e = glEngine(profile);
      const { images, labels } = batch(4, 5);
      const params = initParams(5);
      const g = new LeNet(e, params, act, 0), c = new LeNet(new CpuEngine(), params, act, 0);
      const a = g.gradients(images, labels), b = c.gradients(images, labels);
      g.destroy();
      c.destroy();
      // Per tensor, relative to its largest gradient: each gradient is a sum over the batch and
      // positions (up to 4·24·24 terms), whose float32 error scales with the terms' size, not the
      // result's. 1e-4 is a tenth of bench/gl-gradient-error.ts's 1e-3 target.
      for (const p of paramOffsets()) {
        const r = relErr(a.subarray(p.offset, p.offset + p.size), b.subarray(p.offset, p.offset + p.size));
        assert.ok(r <= 1e-4, `${p.name} gradient relative error ${r}`);
      }
    });
  }
}

for (const act of ['tanh', 'relu'] as Activation[]) test(`ten vc4 training steps (${act}, momentum 0.9) end within tolerance of the CPU engine`, () => {
  const e = glEngine('vc4');
  const p0 = initParams(9);
  const g = new LeNet(e, p0, act, 0.9), c = new LeNet(new CpuEngine(), p0, act, 0.9);
  const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 };
  const lossG: number[] = [], lossC: number[] = [];
  for (let s = 0; s < 10; s++) {
    const { images, labels } = batch(8, 100 + s);
    lossG.push(g.step(images, labels, sgd).loss);
    lossC.push(c.step(images, labels, sgd).loss);
  }
  for (let s = 0; s < 10; s++) assert.ok(Math.abs(lossG[s] - lossC[s]) <= 1e-4, `step ${s}: loss ${lossG[s]} vs ${lossC[s]}`);
  const pg = g.getParams(), pc = c.getParams();
  // compare what training changed, so a no-op engine could not pass on the shared start
  const dg = pg.map((v, i) => v - p0[i]), dc = pc.map((v, i) => v - p0[i]);
  assert.ok(dc.some((v) => v !== 0), 'the CPU run changed the parameters');
  assert.ok(relErr(dg, dc) <= 1e-3, `parameter change after 10 steps: relative error ${relErr(dg, dc)}`);
  g.destroy();
  c.destroy();
});
