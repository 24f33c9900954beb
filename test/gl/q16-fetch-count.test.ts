// Every q16 kernel declares the texture fetches a fragment makes (the engine's fetch statistics and
// `vctrain cost` use it); here the declaration is checked against the count read off the GLSL it
// emits (cost/glsl-count.ts), for every pass a small forward and backward chain runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countShader } from '../../src/kernels/gl/cost/glsl-count';
import type { RawPass } from '../../src/kernels/gl/engine';
import type { GlTensor } from '../../src/kernels/gl/tensor';
import * as q from '../../src/kernels/gl/q16/index';
import { lcg, randomQ16, vc4 } from './q16-helpers';

test('each q16 pass declares the fetches its GLSL makes', () => {
  const g = vc4(), rnd = lcg(3);
  const seen = new Map<string, { declared: number; counted: number }>();
  const runRaw = g.runRaw.bind(g);
  g.runRaw = (pass: RawPass) => {
    seen.set(pass.name, { declared: pass.fetches, counted: countShader(pass.source()).fetches });
    runRaw(pass);
  };
  try {
    const N = 2, w1 = Float32Array.from({ length: 4 * 9 }, () => rnd() - 0.5), w2 = Float32Array.from({ length: 4 * 4 * 9 }, () => rnd() - 0.5);
    const { t: x } = randomQ16(g, [N, 1, 8, 8], 1, -14, rnd, 'x-pairs');
    const a1 = q.conv2dQ16(g, x, w1, [4, 1, 3, 3], new Float32Array(4), 'tanh', -14, 1);
    q.countSaturated(g, a1);
    const a2 = q.conv2dQ16(g, a1, w2, [4, 4, 3, 3], new Float32Array(4), 'relu', -12, 2);
    const p = q.maxPoolQ16(g, a2);
    const f = q.reshapeQ16(g, p, [N, 16, 1, 1]);
    const dp = q.maxPoolBackwardQ16(g, a2, p);
    q.activationBackwardQ16(g, 'tanh', a2, dp, -14, 3);
    q.activationBackwardQ16(g, 'none', a2, dp, -14, 3);
    q.conv2dBackwardInputQ16(g, a2, w2, [4, 4, 3, 3], [N, 4, 6, 6], -12, 4);
    q.conv2dBackwardFilterQ16(g, a1, a2, [4, 4, 3, 3]);
    q.denseBackwardWeightQ16(g, f, f);
    q.toQ16(g, g.tensor([N, 2, 2, 2], new Float32Array(16).fill(0.5)) as GlTensor, -10, 5);
  } finally {
    g.runRaw = runRaw;
  }
  for (const name of ['q16:conv2d:tanh', 'q16:conv2d:relu', 'q16:saturated', 'q16:maxPool', 'q16:reshape', 'q16:maxPoolBackward',
    'q16:activationBackward:tanh', 'q16:activationBackward:none', 'q16:pad', 'q16:batch-pairs', 'q16:weightGrad', 'q16:biasGrad', 'q16:encode']) {
    const s = seen.get(name);
    assert.ok(s, `${name} did not run`);
    assert.equal(s.declared, s.counted, `${name}: declares ${s.declared} fetches a fragment, its GLSL makes ${s.counted}`);
  }
});
