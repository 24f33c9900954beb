// Whole training steps on the GL engine against the CPU engine, through the production backward
// pass (LeNet.gradients / LeNet.step), with tanh and relu.
import { test } from 'node:test';
import { assertStepGradients, assertTenSteps, glEngine, PROFILE_NAMES } from './helpers';
import type { Activation } from '../../src/kernels/engine';

for (const profile of PROFILE_NAMES) {
  for (const act of ['tanh', 'relu'] as Activation[]) {
    test(`one whole LeNet training step (${act}): every gradient on GL matches the CPU engine (${profile})`, () => {
      // Per tensor, relative to its largest gradient: each gradient is a sum over the batch and
      // positions (up to 4·24·24 terms), whose float32 error scales with the terms' size, not the
      // result's. 1e-4 is a tenth of bench/gl-gradient-error.ts's 1e-3 target.
      assertStepGradients(glEngine(profile), act, 1e-4);
    });
  }
}

for (const act of ['tanh', 'relu'] as Activation[]) test(`ten vc4 training steps (${act}, momentum 0.9) end within tolerance of the CPU engine`, () => {
  assertTenSteps(glEngine('vc4'), act, 1e-4, 1e-3);
});
