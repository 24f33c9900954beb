// One LeNet training step (batch 64 by default, SGD, tanh) in the float profile against
// TensorFlow.js webgl's trainOnBatch of the same network, on ONE headless-gl context in one run.
// Rounds alternate the two so that machine load hits them alike; medians are reported with the
// load average, the float step's fetches (engine count) and its passes.
//   xvfb-run -a -s '-screen 0 64x64x24' npx tsx bench/float-step.ts [rounds] [batch] [--json]
import * as os from 'node:os';
import { FloatEngine } from '../src/kernels/gl/float/engine';
import { loadGl } from '../src/kernels/gl/load-gl';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';
import { tfjsLeNet } from '../src/bench/peers';

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const rounds = Number(args[0] ?? 7), batch = Number(args[1] ?? 64);
  const json = process.argv.includes('--json');
  const load0 = os.loadavg()[0];
  const f = loadGl();
  if ('error' in f) throw new Error(f.error);
  const ctx = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!ctx) throw new Error('headless-gl returned no context (run under xvfb-run)');
  const e = new FloatEngine(ctx);
  const rnd = mulberry32(1);
  const images = Float32Array.from({ length: batch * 784 }, () => rnd());
  const labels = Uint8Array.from({ length: batch }, () => Math.floor(rnd() * 10));
  const net = new LeNet(e, initParams(1));
  const sgd = { lr: 0.05, momentum: 0, weightDecay: 0 };

  // tfjs's idiomatic path, as `vctrain bench` runs it (src/bench/peers.ts), on the same context.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require('@tensorflow/tfjs');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const webgl = require('@tensorflow/tfjs-backend-webgl');
  tf.env().set('WEBGL_VERSION', 1);
  if (tf.findBackendFactory('webgl')) tf.removeBackend('webgl');
  tf.registerBackend('webgl', () => new webgl.MathBackendWebGL(new webgl.GPGPUContext(ctx)), 1);
  await tf.setBackend('webgl');
  tf.enableProdMode();
  const model = tfjsLeNet(tf);
  const tx = tf.tensor4d(images, [batch, 28, 28, 1]);
  const ty = tf.oneHot(tf.tensor1d(Int32Array.from(labels), 'int32'), 10).toFloat();

  // Both steps end with the loss on the host (LeNet.step reads it; trainOnBatch resolves after
  // reading it), so each timed step is complete.
  const runs: Record<string, () => Promise<unknown> | unknown> = {
    float: () => net.step(images, labels, sgd),
    tfjs: () => model.trainOnBatch(tx, ty),
  };
  for (const k of Object.keys(runs)) { await runs[k](); await runs[k](); } // compile, warm up
  const ms: Record<string, number[]> = { float: [], tfjs: [] };
  const f0 = e.stats.fetches, p0 = e.stats.passes;
  for (let r = 0; r < rounds; r++) {
    for (const k of Object.keys(runs)) {
      const t0 = process.hrtime.bigint();
      await runs[k]();
      ms[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const fetches = (e.stats.fetches - f0) / rounds, passes = (e.stats.passes - p0) / rounds;
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const out = {
    batch, rounds, loadAverage: [load0, os.loadavg()[0]].map((x) => +x.toFixed(2)),
    floatMs: +med(ms.float).toFixed(1), tfjsMs: +med(ms.tfjs).toFixed(1),
    floatImagesPerSecond: +(batch / med(ms.float) * 1000).toFixed(1), tfjsImagesPerSecond: +(batch / med(ms.tfjs) * 1000).toFixed(1),
    ratio: +(med(ms.tfjs) / med(ms.float)).toFixed(2), floatFetchesPerStep: fetches, floatPassesPerStep: passes,
    tfjsVersion: tf.version?.tfjs ?? '?',
  };
  if (json) console.log(JSON.stringify(out));
  else {
    console.log(`batch ${batch}, ${rounds} alternating rounds, load ${out.loadAverage.join(' -> ')}`);
    console.log(`float profile: ${out.floatMs} ms/step (${out.floatImagesPerSecond} images/s), ${(fetches / 1e6).toFixed(1)}M fetches, ${passes} passes`);
    console.log(`tfjs-webgl ${out.tfjsVersion}: ${out.tfjsMs} ms/step (${out.tfjsImagesPerSecond} images/s)`);
    console.log(`float / tfjs-webgl: ${out.ratio}x`);
  }
  net.destroy();
  model.dispose();
}

main().catch((err) => { console.error(err); process.exit(1); });
