// The fallback to the CPU engine: each way the GL path can fail before training, and a GL fault
// in the middle of training (the context really destroyed) that must lose nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectEngine } from '../../src/kernels/select';
import { GlEngine } from '../../src/kernels/gl/engine';
import { ResilientEngine } from '../../src/kernels/gl/resilient';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import { glEngine, relErr } from './helpers';

test('--device gl takes the GL engine when it passes the self-test, and says so in one line', async () => {
  glEngine('vc4'); // fails with the reason if no context opens
  const lines: string[] = [];
  const c = await selectEngine({ device: 'gl', profile: 'vc4', log: (l) => lines.push(l) });
  assert.equal(c.device, 'gl');
  assert.equal(c.profile, 'vc4');
  assert.equal(c.engine.kind, 'gl');
  assert.match(c.reason, /^gl vc4: .*self-test ok/);
  assert.deepEqual(lines, [c.reason]);
  c.engine.destroy();
});

test('each GL failure before training falls back to the CPU with the reason', async () => {
  const cases: [Parameters<typeof selectEngine>[0]['inject'], RegExp][] = [
    [{ noGl: true }, /cpu: GL engine unavailable: .*'gl' is not installed/],
    [{ noContext: true }, /cpu: GL engine unavailable: .*no context/],
    [{ breakShader: true }, /cpu: GL engine failed to build or run: .*did not compile/],
    [{ skewSelfTest: 1 }, /cpu: GL self-test disagrees with the CPU twin/],
  ];
  for (const [inject, re] of cases) {
    const c = await selectEngine({ device: 'gl', profile: 'vc4', inject });
    assert.equal(c.device, 'cpu', JSON.stringify(inject));
    assert.equal(c.engine.kind, 'cpu');
    assert.match(c.reason, re);
  }
});

test('a GL context destroyed mid-training moves the run to the CPU and nothing learned is lost', () => {
  const gl = GlEngine.create({ profile: 'vc4' });
  const lines: string[] = [];
  const r = new ResilientEngine(gl, () => new CpuEngine(), { snapshotEvery: 2, log: (l) => lines.push(l) });
  const p0 = initParams(4);
  const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 0 };
  const onR = new LeNet(r, p0, 'tanh', 0.9), ref = new LeNet(new CpuEngine(), p0, 'tanh', 0.9);
  const rnd = mulberry32(8);
  for (let s = 0; s < 5; s++) {
    const images = Float32Array.from({ length: 4 * 784 }, () => rnd()), labels = [s % 10, 1, 2, 3];
    if (s === 3) gl.gl.getExtension('STACKGL_destroy_context').destroy(); // a real context loss, mid-run
    const a = onR.step(images, labels, sgd).loss, b = ref.step(images, labels, sgd).loss;
    assert.ok(Math.abs(a - b) < 1e-4, `step ${s}: ${a} vs ${b}`);
  }
  assert.equal(r.kind, 'cpu');
  assert.match(r.fault ?? '', /GL/);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /GL fault .*continuing on cpu/);
  const d = onR.getParams().map((v, i) => v - p0[i]), dr = ref.getParams().map((v, i) => v - p0[i]);
  assert.ok(relErr(d, dr) < 1e-3, `parameters drifted: ${relErr(d, dr)}`);
});

test('--device auto times both engines that pass and keeps the faster, saying why with both rates', async () => {
  glEngine('vc4');
  const c = await selectEngine({ device: 'auto', profile: 'vc4' });
  const m = /(gl|cpu)(?: vc4)?: faster \(gl (\d+) img\/s vs cpu (\d+) img\/s/.exec(c.reason);
  assert.ok(m, c.reason);
  const [gl, cpu] = [Number(m[2]), Number(m[3])];
  assert.equal(c.device, gl > cpu ? 'gl' : 'cpu', c.reason);
  assert.equal(c.engine.kind, c.device);
  c.engine.destroy();
});
