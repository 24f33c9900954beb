import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { exportTfjs } from '../../src/net/export';
import { LeNet } from '../../src/net/lenet';
import { Trainer } from '../../src/net/train';
import { imageBatch } from '../../src/net/data';
import type { Activation } from '../../src/kernels/engine';
import { tinyDataset, trainOptions } from './fixtures/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-export-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

type Tf = typeof import('@tensorflow/tfjs');
async function tfCpu(): Promise<Tf> {
  const tf = require('@tensorflow/tfjs') as Tf;
  await tf.setBackend('cpu');
  return tf;
}

/** Reads model.json and weights.bin from disk the way tf.io's file handlers do (tfjs-node is not installed). */
function fileHandler(tf: Tf, dir: string): import('@tensorflow/tfjs').io.IOHandler {
  return {
    load: async () => {
      const m = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const specs = m.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights);
      const bins = m.weightsManifest.flatMap((g: { paths: string[] }) => g.paths).map((p: string) => fs.readFileSync(path.join(dir, p)));
      const all = Buffer.concat(bins);
      const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
      return { modelTopology: m.modelTopology, format: m.format, generatedBy: m.generatedBy, convertedBy: m.convertedBy, weightSpecs: specs, weightData };
    },
  };
  void tf;
}

for (const act of ['tanh', 'relu'] as Activation[]) {
  test(`exported ${act} LeNet loads in TensorFlow.js and predicts the classes vctrain predicts`, async () => {
    const data = tinyDataset();
    const out = path.join(tmp, `run-${act}`);
    const t = await Trainer.create({ ...trainOptions(out), epochs: 1, act, dataset: data });
    await t.run();
    const params = t.getParams();
    const dir = path.join(tmp, `tfjs-${act}`);
    const r = exportTfjs(out, dir);
    assert.equal(r.bytes, params.length * 4);

    const tf = await tfCpu();
    const model = await tf.loadLayersModel(fileHandler(tf, dir));
    assert.deepEqual(model.layers.map((l) => l.getClassName()), ['Conv2D', 'MaxPooling2D', 'Conv2D', 'MaxPooling2D', 'Flatten', 'Dense', 'Dense']);
    assert.equal(model.countParams(), params.length);

    // The test split plus the training images: 60 digits.
    const n = data.test.n + data.train.n;
    const images = new Float32Array(n * 784);
    imageBatch(data.test, { start: 0, count: data.test.n }, images);
    images.set(imageBatch(data.train, { start: 0, count: data.train.n }), data.test.n * 784);
    const net = new LeNet(new CpuEngine(), params, act);
    const ours = net.predict(images, n);
    const theirs = (model.predict(tf.tensor4d(images, [n, 28, 28, 1])) as import('@tensorflow/tfjs').Tensor).dataSync() as Float32Array;
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    assert.ok(maxDiff < 1e-4, `probabilities differ by ${maxDiff}`);
    const argmax = (p: Float32Array, k: number) => { let b = 0; for (let c = 1; c < 10; c++) if (p[k * 10 + c] > p[k * 10 + b]) b = c; return b; };
    const classes = new Set<number>();
    for (let k = 0; k < n; k++) {
      assert.equal(argmax(theirs, k), argmax(ours, k), `image ${k}`);
      classes.add(argmax(ours, k));
    }
    assert.ok(classes.size >= 3, 'the model is past predicting one class for everything, so agreement means something');
    model.dispose();
  });
}

test('vctrain export: a missing or damaged checkpoint, an unknown format, no --out and an out path that is a file are one-line errors', async () => {
  const { runCli } = await import('../cluster/cli-run');
  const dir = path.join(tmp, 'cli-errors');
  fs.mkdirSync(dir, { recursive: true });
  const bad = path.join(dir, 'bad.vct');
  fs.writeFileSync(bad, Buffer.alloc(100, 7));
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  const good = path.join(dir, 'good');
  const t = await Trainer.create({ ...trainOptions(good), dataset: tinyDataset() });
  t.checkpoint();
  t.destroy();
  const cases: [string[], number, RegExp][] = [
    [['export', path.join(dir, 'none.vct'), '--format', 'tfjs', '--out', path.join(dir, 'o1')], 1, /none\.vct: missing/],
    [['export', bad, '--format', 'tfjs', '--out', path.join(dir, 'o2')], 1, /bad\.vct: not a vctrain checkpoint/],
    [['export', good, '--format', 'keras', '--out', path.join(dir, 'o3')], 2, /--format must be one of/],
    [['export', good, '--format', 'tfjs'], 2, /--out/],
    [['export', good, '--format', 'tfjs', '--out', file], 1, /a-file/],
  ];
  for (const [argv, code, re] of cases) {
    const r = await runCli(argv);
    assert.equal(r.code, code, `${argv.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stderr, re, argv.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  for (const o of ['o1', 'o2', 'o3']) assert.ok(!fs.existsSync(path.join(dir, o)), `${o}: nothing written on an error`);
  // and the good checkpoint does export
  const ok = await runCli(['export', good, '--format', 'tfjs', '--out', path.join(dir, 'o4'), '--json']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(fs.statSync(path.join(dir, 'o4', 'weights.bin')).size > 0);
});
