// One layer in the vc4 16-bit style against the two things it should beat, on ONE headless-gl
// context in one run: LeNet's conv2 forward at batch 64 (x [64,20,12,12], w [50,20,5,5], tanh) as
//   q16    src/kernels/gl/q16/conv2d.ts conv2dQ16 (16-bit pairs, fp32 uniform weights, straight-line);
//          q16NoAct the same without tanh (vc4's emulated-SFU tanh is costly on llvmpipe only)
//   exact  the vc4 profile's exact-fp32 packing (GlEngine.conv2d, reductions split over passes)
//   tfjs   TensorFlow.js webgl tf.conv2d + tanh (float textures where the context has them)
// Rounds alternate the three so that machine load hits them alike; medians are reported, with
// fetches per pass counted by the engine (fetches per fragment x fragments).
//   xvfb-run -a -s '-screen 0 64x64x24' npx tsx bench/gl-q16-conv.ts [rounds]
import * as os from 'node:os';
import { GlEngine } from '../src/kernels/gl/engine';
import { loadGl } from '../src/kernels/gl/load-gl';
import { stepExponent } from '../src/kernels/gl/q16';
import { conv2dQ16, disposeQ16, uploadQ16 } from '../src/kernels/gl/q16/index';

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 5);
  const N = 64, C = 20, H = 12, W = 12, O = 50, K = 5;
  const f = loadGl();
  if ('error' in f) throw new Error(f.error);
  const ctx = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!ctx) throw new Error('headless-gl returned no context (run under xvfb-run)');
  const g = new GlEngine(ctx, 'vc4');
  let s = 12345;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const xv = Float32Array.from({ length: N * C * H * W }, () => rnd() * 2 - 1);
  const w = Float32Array.from({ length: O * C * K * K }, () => (rnd() * 2 - 1) * 0.1);
  const b = Float32Array.from({ length: O }, () => (rnd() * 2 - 1) * 0.1);
  const xq = uploadQ16(g, [N, C, H, W], xv, -14, rnd).t;
  const xe = g.tensor([N, C, H, W], xv), we = g.tensor([O, C, K, K], w), be = g.tensor([O], b);
  const eOut = stepExponent(1, 1); // tanh output
  const tf = require('@tensorflow/tfjs');
  const webgl = require('@tensorflow/tfjs-backend-webgl');
  tf.env().set('WEBGL_VERSION', 1);
  if (tf.findBackendFactory('webgl')) tf.removeBackend('webgl');
  tf.registerBackend('webgl', () => new webgl.MathBackendWebGL(new webgl.GPGPUContext(ctx)), 1);
  await tf.setBackend('webgl');
  tf.enableProdMode();
  const tx = tf.tensor4d(xv, [N, C, H, W]).transpose([0, 2, 3, 1]), tw = tf.tensor4d(w, [O, C, K, K]).transpose([2, 3, 1, 0]);
  const tb = tf.tensor1d(b);

  const runs = {
    // read back as bytes, as tfjs's dataSync reads its texture: the host-side reorder of readQ16 is
    // not GPU work
    q16: () => { g.stats.fetches = 0; const y = conv2dQ16(g, xq, w, [O, C, K, K], b, 'tanh', eOut, 1); g.readRect(y.ref); disposeQ16(g, y); return g.stats.fetches; },
    q16NoAct: () => { g.stats.fetches = 0; const y = conv2dQ16(g, xq, w, [O, C, K, K], b, 'none', eOut, 1); g.readRect(y.ref); disposeQ16(g, y); return g.stats.fetches; },
    exact: () => { g.stats.fetches = 0; const y = g.conv2d(xe, we, be, 'tanh'); g.read(y); g.dispose(y); return g.stats.fetches; },
    tfjs: () => { const y = tf.tidy(() => tf.tanh(tf.add(tf.conv2d(tx, tw, 1, 'valid'), tb))); y.dataSync(); y.dispose(); return NaN; },
  };
  const ms: Record<string, number[]> = { q16: [], q16NoAct: [], exact: [], tfjs: [] };
  const fetches: Record<string, number> = {};
  for (const k of Object.keys(runs) as (keyof typeof runs)[]) fetches[k] = runs[k](); // compile, warm up
  for (let r = 0; r < rounds; r++) {
    for (const k of Object.keys(runs) as (keyof typeof runs)[]) {
      const t0 = process.hrtime.bigint();
      runs[k]();
      ms[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const out = {
    layer: 'LeNet conv2 forward + tanh, batch 64', renderer: g.renderer, rounds, load: os.loadavg().map((x) => +x.toFixed(2)),
    msMedian: { q16: med(ms.q16), q16NoAct: med(ms.q16NoAct), exact: med(ms.exact), tfjs: med(ms.tfjs) },
    tfjsOverQ16: +(med(ms.tfjs) / med(ms.q16)).toFixed(2),
    exactOverQ16: +(med(ms.exact) / med(ms.q16)).toFixed(2),
    fetches: { q16: fetches.q16, exact: fetches.exact },
    multiplyAdds: N * O * 8 * 8 * C * K * K,
  };
  console.log(JSON.stringify(out, null, 1));
  g.destroy();
}

main().catch((e) => { console.error(`gl-q16-conv: ${(e as Error).message}`); process.exit(1); });
