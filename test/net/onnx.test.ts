// The ONNX export, loaded by onnxruntime-node (a second, independent implementation of every op in
// the graph), must give the probabilities the CPU engine gives, to 1e-5, on 100 test digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import type { Activation } from '../../src/kernels/engine';
import { builtinDataset, imageBatch } from '../../src/net/data';
import { LeNet } from '../../src/net/lenet';
import { exportOnnx, onnxModel, ONNX_INPUT, ONNX_OUTPUT } from '../../src/net/onnx';
import { Trainer } from '../../src/net/train';
import { tinyDataset, trainOptions } from './fixtures/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-onnx-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const N = 100;

async function runOnnx(model: Uint8Array | string, images: Float32Array, n: number): Promise<Float32Array> {
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  const r = await s.run({ [ONNX_INPUT]: new ort.Tensor('float32', images, [n, 1, 28, 28]) });
  const out = r[ONNX_OUTPUT];
  assert.deepEqual(out.dims, [n, 10]);
  return out.data as Float32Array;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const test100 = (() => {
  let cached: Float32Array | undefined;
  return () => (cached ??= imageBatch(builtinDataset().test, { start: 0, count: N }));
})();

for (const act of ['tanh', 'relu'] as Activation[]) {
  test(`ONNX export of a trained ${act} checkpoint: onnxruntime matches the CPU engine on ${N} test digits within 1e-5`, async () => {
    const out = path.join(tmp, `run-${act}`);
    const t = await Trainer.create({ ...trainOptions(out), epochs: 1, act, dataset: tinyDataset() });
    await t.run();
    const params = t.getParams();
    const file = path.join(tmp, `lenet-${act}.onnx`);
    const r = exportOnnx(out, file);
    assert.equal(r.act, act);
    // Every weight is an initializer: the file is the parameters plus a few hundred bytes of graph.
    assert.ok(r.bytes > params.length * 4 && r.bytes < params.length * 4 + 4096, `${r.bytes} bytes`);

    const images = test100();
    const got = await runOnnx(file, images, N);
    const want = new LeNet(new CpuEngine(), params, act).predict(images, N);
    const d = maxAbsDiff(got, want);
    assert.ok(d <= 1e-5, `max |onnxruntime - cpu| = ${d}`);
  });
}

test('ONNX export of untrained parameters with non-zero biases matches too', async () => {
  // A trained net can hide a bias or flatten-order mistake behind saturated units; random
  // parameters with every bias non-zero cannot.
  const { initParams } = await import('../../src/net/lenet');
  const p = initParams(7);
  for (let i = 0; i < p.length; i++) p[i] += 0.01 * Math.sin(i); // biases non-zero too
  const images = test100().subarray(0, 10 * 784);
  const got = await runOnnx(onnxModel(p, 'tanh'), images, 10);
  const want = new LeNet(new CpuEngine(), p, 'tanh').predict(images, 10);
  assert.ok(maxAbsDiff(got, want) <= 1e-5);
});

test('vctrain export --format onnx writes the model; a missing checkpoint is one line naming it', () => {
  const out = path.join(tmp, 'run-tanh');
  const cli = path.join(__dirname, '..', '..', 'bin', 'vctrain.cjs');
  const file = path.join(tmp, 'cli.onnx');
  const line = execFileSync(process.execPath, [cli, 'export', out, '--format', 'onnx', '--out', file, '--json'], { encoding: 'utf8' });
  assert.equal(JSON.parse(line.trim().split('\n').pop()!).onnx, file);
  assert.ok(fs.statSync(file).size > 1_000_000);
  let err = '';
  try {
    execFileSync(process.execPath, [cli, 'export', path.join(tmp, 'nope'), '--format', 'onnx', '--out', file], { encoding: 'utf8', stdio: 'pipe' });
    assert.fail('export of a missing checkpoint succeeded');
  } catch (e) {
    err = (e as { stderr: string }).stderr;
  }
  assert.equal(err.trim().split('\n').length, 1);
  assert.match(err, /nope: missing/);
});
