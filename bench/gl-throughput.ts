// GL-engine LeNet training throughput (vc4 and desktop profiles) against TensorFlow.js's WebGL
// backend on the SAME headless-gl context, measured in one run, with the passes and texture
// fetches one training step makes. On a desktop under Xvfb all of it runs on llvmpipe (the CPU),
// so the ratio says how the two designs compare in work per step, not what a VideoCore does.
// Profile vc4 is the 16-bit step (q16-engine.ts); vc4-exact and desktop the exact packing. tfjs-webgl is
// timed before and after our rows, so that a load that changes during the run shows as two figures.
//   xvfb-run -a -s '-screen 0 64x64x24' npx tsx bench/gl-throughput.ts [batch] [steps] [profiles, e.g. vc4,vc4-exact,desktop]
import { GlEngine } from '../src/kernels/gl/engine';
import { glEngineFor } from '../src/kernels/select';
import { loadGl, type WebGLContext } from '../src/kernels/gl/load-gl';
import type { ProfileName } from '../src/kernels/gl/profile';
import { LeNet, initParams, mulberry32 } from '../src/net/lenet';

export interface GlThroughput {
  profile: ProfileName;
  batch: number;
  steps: number;
  imagesPerSecond: number;
  msPerStep: number;
  passesPerStep: number;
  fetchesPerStep: number;
  maxFetchesPerFragment: number;
  programs: number;
}

let shared: WebGLContext | null = null;
function context(): WebGLContext {
  if (shared) return shared;
  const f = loadGl();
  if ('error' in f) throw new Error(f.error);
  shared = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!shared) throw new Error('headless-gl returned no context (run under xvfb-run)');
  return shared;
}

/** Trains LeNet (tanh) on random data with the GL engine; the first step (compiling) is not timed. */
export function measureGlThroughput(o: { profile: ProfileName; batch?: number; steps?: number; gl?: WebGLContext }): GlThroughput {
  const batch = o.batch ?? 64, steps = o.steps ?? 3;
  const e = glEngineFor(new GlEngine(o.gl ?? context(), o.profile === 'vc4' ? 'vc4-exact' : o.profile), o.profile);
  const rnd = mulberry32(5);
  const net = new LeNet(e, initParams(5));
  const images = Float32Array.from({ length: batch * 784 }, () => rnd());
  const labels = Array.from({ length: batch }, () => Math.floor(rnd() * 10));
  const sgd = { lr: 0.05, momentum: 0, weightDecay: 0 };
  net.step(images, labels, sgd);
  e.flush();
  const s0 = { ...e.stats };
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) net.step(images, labels, sgd); // step() reads the loss back: each step is complete
  e.flush();
  const dt = (performance.now() - t0) / 1000;
  const r: GlThroughput = {
    profile: o.profile, batch, steps, imagesPerSecond: (batch * steps) / dt, msPerStep: (1000 * dt) / steps,
    passesPerStep: (e.stats.passes - s0.passes) / steps, fetchesPerStep: (e.stats.fetches - s0.fetches) / steps,
    maxFetchesPerFragment: e.stats.maxFragmentFetches, programs: e.stats.programs,
  };
  net.destroy();
  return r;
}

/** TensorFlow.js with its WebGL backend (WebGL 1) drawing into `gl`, the context our engine uses. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function tfjsWebglOn(gl: WebGLContext): Promise<any> {
  /* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
  const tf: any = require('@tensorflow/tfjs');
  const webgl: any = require('@tensorflow/tfjs-backend-webgl');
  tf.env().set('PROD', true);
  tf.env().set('WEBGL_VERSION', 1);
  if (tf.findBackendFactory('webgl')) tf.removeBackend('webgl');
  tf.registerBackend('webgl', () => new webgl.MathBackendWebGL(new webgl.GPGPUContext(gl)), 3);
  await tf.setBackend('webgl');
  await tf.ready();
  return tf;
}

/** tfjs-webgl on the same context, the peer anchor's LeNet and training loop (../shared/anchors/tfjs_lenet.js). */
export async function measureTfjsWebgl(batch = 64, steps = 3, gl: WebGLContext = context()): Promise<{ imagesPerSecond: number; msPerStep: number }> {
  const tf = await tfjsWebglOn(gl);
  const v = (s: number[]) => tf.variable(tf.randomNormal(s, 0, 0.05));
  const w1 = v([5, 5, 1, 20]), b1 = tf.variable(tf.zeros([20])), w2 = v([5, 5, 20, 50]), b2 = tf.variable(tf.zeros([50]));
  const w3 = v([800, 500]), b3 = tf.variable(tf.zeros([500])), w4 = v([500, 10]), b4 = tf.variable(tf.zeros([10]));
  const x = tf.randomUniform([batch, 28, 28, 1]), y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32'), 10);
  const opt = tf.train.sgd(0.05);
  const loss = () => {
    let h = tf.maxPool(tf.tanh(tf.add(tf.conv2d(x, w1, 1, 'valid'), b1)), 2, 2, 'valid');
    h = tf.maxPool(tf.tanh(tf.add(tf.conv2d(h, w2, 1, 'valid'), b2)), 2, 2, 'valid');
    h = tf.tanh(tf.add(tf.matMul(tf.reshape(h, [batch, 800]), w3), b3));
    return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(h, w4), b4));
  };
  const step = async () => { const l = opt.minimize(loss, true); await l.data(); l.dispose(); };
  await step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const dt = (performance.now() - t0) / 1000;
  for (const t of [w1, b1, w2, b2, w3, b3, w4, b4, x, y]) t.dispose();
  return { imagesPerSecond: (batch * steps) / dt, msPerStep: (1000 * dt) / steps };
}

/** tfjs-webgl's matMul of [n,i]x[i,o] on the given context: median ms of `repeats`, after a warm-up. */
export async function measureTfjsMatMul(n: number, i: number, o: number, repeats: number, gl: WebGLContext = context()): Promise<number> {
  const tf = await tfjsWebglOn(gl);
  const a = tf.randomNormal([n, i]), b = tf.randomNormal([i, o]);
  const times: number[] = [];
  for (let r = 0; r <= repeats; r++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
    if (r > 0) times.push(performance.now() - t0);
  }
  a.dispose(); b.dispose();
  times.sort((x, y) => x - y);
  return times[times.length >> 1];
}

if (require.main === module) {
  (async () => {
    const batch = Number(process.argv[2] ?? 64), steps = Number(process.argv[3] ?? 3);
    const gl = context();
    console.log(`renderer: ${gl.getParameter(gl.RENDERER)} (${gl.getParameter(gl.VERSION)}); batch ${batch}, ${steps} timed steps each, same context`);
    const profiles = (process.argv[4] ?? 'vc4,vc4-exact,desktop').split(',') as ProfileName[];
    const tfw = await measureTfjsWebgl(batch, steps, gl);
    console.log(`tfjs-webgl        ${tfw.imagesPerSecond.toFixed(1)} img/s  ${tfw.msPerStep.toFixed(0)} ms/step  (before)`);
    const ours = profiles.map((profile) => measureGlThroughput({ profile, batch, steps, gl }));
    const tfw2 = await measureTfjsWebgl(batch, steps, gl);
    console.log(`tfjs-webgl        ${tfw2.imagesPerSecond.toFixed(1)} img/s  ${tfw2.msPerStep.toFixed(0)} ms/step  (after)`);
    for (const r of ours) {
      const ratio = (t: { imagesPerSecond: number }) => (r.imagesPerSecond / t.imagesPerSecond).toFixed(2);
      console.log(`gl-${r.profile.padEnd(10)}    ${r.imagesPerSecond.toFixed(1)} img/s  ${r.msPerStep.toFixed(0)} ms/step  vs tfjs-webgl ${ratio(tfw)}x before, ${ratio(tfw2)}x after  draws/step ${r.passesPerStep}  texture fetches/step ${(r.fetchesPerStep / 1e6).toFixed(1)}M  max fetches/fragment ${r.maxFetchesPerFragment}  programs ${r.programs}`);
    }
  })().catch((e) => { console.error('FAILED', e); process.exit(1); });
}
