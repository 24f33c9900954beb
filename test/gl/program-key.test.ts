// Programs are found by a key built before any GLSL exists. These tests run ops whose keys could
// collide (equal flat sizes, the two SGD paths, every activation) with the engine regenerating the
// source on every hit and failing if a key named two sources; and they check that a hit really
// skips the generator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GlEngine } from '../../src/kernels/gl/engine';
import { elementwise, reduce } from '../../src/kernels/gl/reduce';
import type { GlTensor } from '../../src/kernels/gl/tensor';
import type { Activation } from '../../src/kernels/engine';

function engine(profile: 'vc4' | 'desktop'): GlEngine {
  try {
    return GlEngine.create({ profile });
  } catch (err) {
    assert.fail(`no GL context for the GL tests: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
}

const ramp = (n: number, s = 0.01) => Float32Array.from({ length: n }, (_, i) => ((i * 7) % 13 - 6) * s);

test('no program key names two sources: equal-size shapes, both SGD paths, every activation (vc4)', () => {
  const e = engine('vc4');
  e.verifyProgramKeys = true;
  try {
    // inputs of equal flat size but different shapes
    const pairs: number[][][] = [[[2, 2, 6, 4], [3, 2, 3, 3]], [[2, 4, 4, 3], [3, 4, 2, 2]], [[2, 2, 4, 6], [3, 2, 3, 3]]];
    for (const [xs, ws] of pairs) {
      for (const act of ['none', 'tanh', 'relu'] as Activation[]) {
        const x = e.tensor(xs, ramp(xs.reduce((a, b) => a * b))), w = e.tensor(ws, ramp(ws.reduce((a, b) => a * b)));
        const b = e.tensor([ws[0]], ramp(ws[0]));
        const y = e.conv2d(x, w, b, act);
        const dy = e.activationBackward(act, y, y);
        e.conv2dBackwardInput(dy, w, xs);
        e.conv2dBackwardFilter(x, dy, ws);
        e.biasGrad(dy);
      }
    }
    for (const momentum of [0, 0.9, 0, 0.9]) {
      const w = e.tensor([24], ramp(24)), g = e.tensor([24], ramp(24, 0.1)), v = e.tensor([24]);
      e.sgdUpdate(w, g, v, { lr: 0.1, momentum, weightDecay: 1e-4 });
    }
  } finally {
    e.destroy();
  }
});

test('a cached program is found without generating its GLSL', () => {
  const e = engine('desktop');
  try {
    let made = 0;
    const x = e.tensor([3, 5], ramp(15)) as GlTensor;
    const run = () => elementwise(e, {
      name: 'test:double', inputs: [{ name: 'x', t: x }], outShape: [3, 5], fetches: 1,
      glsl: () => { made++; return { stmts: 'return 2.0 * fetch_x(i);' }; },
    });
    const first = e.read(run());
    const programs = e.stats.programs;
    const second = e.read(run());
    assert.equal(made, 1, 'the GLSL of an already-compiled program was generated again');
    assert.equal(e.stats.programs, programs);
    assert.deepEqual(second, first);
    assert.deepEqual(Array.from(first), Array.from(ramp(15)).map((v) => Math.fround(2 * v)));

    let reduced = 0;
    const sum = () => reduce(e, {
      name: 'test:rowsum', outShape: [3], L: 5, inputs: [{ name: 'x', t: x }], termFetches: 1,
      glsl: () => { reduced++; return { pre: '', term: 'float t = fetch_x(i * 5.0 + k);' }; },
    });
    e.read(sum());
    e.read(sum());
    assert.equal(reduced, 1);
  } finally {
    e.destroy();
  }
});
