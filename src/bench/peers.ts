// The systems a user could train the same LeNet with instead, measured beside vctrain in one
// `vctrain bench` run: TensorFlow.js (cpu and webgl backends) and PyTorch. They are development
// tools, not dependencies: TensorFlow.js is a devDependency, loaded with a guarded require that the
// bundle leaves external, and PyTorch is whatever python3 has torch. Missing ones are reported as
// not installed, never faked.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadGl } from '../kernels/gl/load-gl';
import { mulberry32 } from '../net/lenet';
import { median, timeSteps, type TimeOptions, type Timing } from './measure';

export type PeerResult = ({ status: 'ok'; version: string } & Timing) | { status: 'unavailable' | 'failed'; note: string };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

function optionalRequire(name: string): Any | null {
  try {
    // A computed name keeps bundlers from pulling the package in.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name);
  } catch {
    return null;
  }
}

let tfjs: Any | null | undefined;
let webglRegistered: string | undefined;

function loadTfjs(): Any | null {
  if (tfjs === undefined) tfjs = optionalRequire('@tensorflow/tfjs');
  return tfjs;
}

/** Makes the 'webgl' backend available in Node on a headless-gl context; returns why not, or ''. */
function registerWebgl(tf: Any): string {
  if (webglRegistered !== undefined) return webglRegistered;
  const webgl = optionalRequire('@tensorflow/tfjs-backend-webgl');
  if (!webgl) return (webglRegistered = '@tensorflow/tfjs-backend-webgl not installed');
  const gl = loadGl();
  if ('error' in gl) return (webglRegistered = gl.error);
  const ctx = gl.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!ctx) return (webglRegistered = 'headless-gl could not create a context (no X display? run under xvfb-run)');
  // headless-gl is WebGL 1; tfjs must not probe for WebGL 2.
  tf.env().set('WEBGL_VERSION', 1);
  // The package registered a browser-only 'webgl' factory; its kernels are registered under that
  // name, so the headless-gl backend has to take the name over.
  if (tf.findBackendFactory('webgl')) tf.removeBackend('webgl');
  tf.registerBackend('webgl', () => new webgl.MathBackendWebGL(new webgl.GPGPUContext(ctx)), 1);
  return (webglRegistered = '');
}

/** The same LeNet as a tfjs layers model, compiled for SGD at lr 0.05 on categorical cross-entropy. */
export function tfjsLeNet(tf: Any): Any {
  const L = tf.layers;
  const model = tf.sequential({
    layers: [
      L.conv2d({ inputShape: [28, 28, 1], filters: 20, kernelSize: 5, activation: 'tanh' }),
      L.maxPooling2d({ poolSize: 2, strides: 2 }),
      L.conv2d({ filters: 50, kernelSize: 5, activation: 'tanh' }),
      L.maxPooling2d({ poolSize: 2, strides: 2 }),
      L.flatten(),
      L.dense({ units: 500, activation: 'tanh' }),
      L.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  if (model.countParams() !== 431080) throw new Error(`tfjs LeNet has ${model.countParams()} parameters`);
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'categoricalCrossentropy' });
  return model;
}

/** tfjs's idiomatic training path: a layers model of the same LeNet and trainOnBatch. */
export async function benchTfjs(backend: 'cpu' | 'webgl', o: TimeOptions, seed: number): Promise<PeerResult> {
  const tf = loadTfjs();
  if (!tf) return { status: 'unavailable', note: '@tensorflow/tfjs not installed' };
  const name = backend;
  // Production mode: no debug checks, and no "install tfjs-node" banner on stdout.
  tf.enableProdMode();
  if (backend === 'webgl') {
    const why = registerWebgl(tf);
    if (why) return { status: 'unavailable', note: why };
  }
  try {
    if (!(await tf.setBackend(name))) return { status: 'unavailable', note: `tfjs backend ${backend} did not initialise` };
    await tf.ready();
    tf.setSeed?.(seed);
    const model = tfjsLeNet(tf);
    const rnd = mulberry32(seed);
    const px = new Float32Array(o.batch * 784).map(() => rnd());
    const lab = new Int32Array(o.batch).map(() => Math.floor(rnd() * 10));
    const x = tf.tensor4d(px, [o.batch, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(lab, 'int32'), 10).toFloat();
    // trainOnBatch resolves after the loss is read back, so each step is complete when timed.
    const t = await timeSteps(() => model.trainOnBatch(x, y), o);
    x.dispose();
    y.dispose();
    model.dispose();
    return { status: 'ok', version: tf.version?.tfjs ?? tf.version_core ?? '?', ...t };
  } catch (e) {
    return { status: 'failed', note: (e as Error).message.split('\n')[0] };
  }
}

function torchScript(): string | null {
  // Beside the bundle (dist/peers/) or in the source tree (bench/peers/).
  for (const p of [path.join(__dirname, 'peers', 'torch_lenet.py'), path.join(__dirname, '..', '..', 'bench', 'peers', 'torch_lenet.py')]) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

function python(): string | null {
  const cands = [process.env.VCTRAIN_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const c of cands) {
    const r = spawnSync(c, ['-c', 'import torch'], { stdio: 'ignore', timeout: 60_000 });
    if (r.status === 0) return c;
  }
  return null;
}

let pythonCached: string | null | undefined;

export function benchTorch(threads: number, o: TimeOptions): PeerResult {
  const script = torchScript();
  if (!script) return { status: 'unavailable', note: 'bench/peers/torch_lenet.py not found' };
  if (pythonCached === undefined) pythonCached = python();
  if (!pythonCached) return { status: 'unavailable', note: 'no python3 with torch (Debian: apt install python3-torch)' };
  const r = spawnSync(pythonCached, [script, String(threads), String(o.batch), String(o.runs), String(o.minSeconds)], {
    encoding: 'utf8',
    timeout: Math.max(60, o.budgetSeconds * 3) * 1000,
  });
  if (r.status !== 0) return { status: 'failed', note: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()! };
  try {
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const rates: number[] = out.imagesPerSecond;
    const ips = median(rates);
    return { status: 'ok', version: `torch ${out.version}`, rates, imagesPerSecond: ips, msPerStep: (1000 * o.batch) / ips, steps: 0 };
  } catch (e) {
    return { status: 'failed', note: `unreadable output from the torch peer: ${(e as Error).message}` };
  }
}
