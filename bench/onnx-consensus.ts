// Scores a run's consensus model twice on the same test images: with vctrain (the CPU engine, as
// `vctrain train` evaluates it) and with onnxruntime-node on its ONNX export. The two accuracies
// must agree within 0.1 points (issue 14).
//
//   node bin/vctrain.cjs train --out runs/default           # the default job
//   npx tsx bench/onnx-consensus.ts runs/default            # this
//
// Prints one line of JSON; exits 1 when the gap exceeds 0.1 points.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { loadCheckpoint } from '../src/net/checkpoint';
import { imageBatch, loadDataset } from '../src/net/data';
import { LeNet } from '../src/net/lenet';
import { onnxModel, ONNX_INPUT, ONNX_OUTPUT } from '../src/net/onnx';

function argmax(p: Float32Array, row: number): number {
  let best = 0;
  for (let k = 1; k < 10; k++) if (p[row * 10 + k] > p[row * 10 + best]) best = k;
  return best;
}

async function main(): Promise<number> {
  const run = process.argv[2];
  if (!run) {
    process.stderr.write('usage: npx tsx bench/onnx-consensus.ts RUN_DIR (a `vctrain train` run directory)\n');
    return 2;
  }
  const ck = loadCheckpoint(path.join(run, 'consensus'));
  const act = ck.options.act === 'relu' ? 'relu' : 'tanh';
  const dataDir = typeof ck.options.dataDir === 'string' ? ck.options.dataDir : undefined;
  const test = loadDataset({ dataDir }).test;
  const session = await ort.InferenceSession.create(onnxModel(ck.params, act));
  const net = new LeNet(new CpuEngine(), ck.params, act);
  const B = 250;
  let ours = 0, theirs = 0, agree = 0;
  for (let start = 0; start < test.n; start += B) {
    const count = Math.min(B, test.n - start);
    const x = imageBatch(test, { start, count });
    const p = net.predict(x, count);
    const r = await session.run({ [ONNX_INPUT]: new ort.Tensor('float32', x, [count, 1, 28, 28]) });
    const q = r[ONNX_OUTPUT].data as Float32Array;
    for (let i = 0; i < count; i++) {
      const label = test.labels[start + i], a = argmax(p, i), b = argmax(q, i);
      ours += a === label ? 1 : 0;
      theirs += b === label ? 1 : 0;
      agree += a === b ? 1 : 0;
    }
  }
  const pts = (k: number) => Math.round((k / test.n) * 1e6) / 1e4;
  // What `vctrain train` itself printed for this model, when its report is there.
  const reportFile = path.join(run, 'report.json');
  const rep = fs.existsSync(reportFile) ? (JSON.parse(fs.readFileSync(reportFile, 'utf8')) as { consensus?: { testAccuracy?: number }; settings?: { workers?: number; epochs?: number } }) : undefined;
  const reported = rep?.consensus?.testAccuracy;
  const gap = Math.abs(pts(ours) - pts(theirs));
  process.stdout.write(JSON.stringify({
    run, workers: rep?.settings?.workers ?? null, epochs: rep?.settings?.epochs ?? null, act, images: test.n, vctrainAccuracy: pts(ours), onnxruntimeAccuracy: pts(theirs),
    reportedByTrain: reported === undefined ? null : Math.round(reported * 1e6) / 1e4,
    gapPoints: gap, samePrediction: agree, ok: gap <= 0.1,
  }) + '\n');
  return gap <= 0.1 ? 0 : 1;
}

void main().then((c) => (process.exitCode = c));
