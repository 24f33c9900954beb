// Start-up self-test of an engine against the CPU reference: every op the LeNet step uses, on
// small random tensors (shapes chosen so the vc4 profile must split reductions over passes).
// It needs only the Engine contract, so it lives beside the engines and knows nothing of the model.
import type { Activation, Engine, Tensor } from './engine';
import { CpuEngine } from './cpu/engine';
import { mulberry32 } from '../util/rng';

export interface SelfTestResult {
  ok: boolean;
  /** Largest error of any op, relative to that op's largest CPU magnitude. */
  maxRelError: number;
  worstOp: string;
  tolerance: number;
  ms: number;
}

export function selfTest(engine: Engine, tolerance = 1e-4, seed = 7): SelfTestResult {
  const t0 = performance.now();
  const cpu = new CpuEngine();
  const rnd = mulberry32(seed);
  const data = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * scale);
  // Every engine tensor made here is disposed at the end: the engine goes on to train.
  const made: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => { made.push(t); return t; };
  const pair = (shape: number[], scale = 1) => {
    const d = data(shape.reduce((a, b) => a * b, 1), scale);
    return [keep(engine.tensor(shape, d)), cpu.tensor(shape, d)] as const;
  };
  let worst = 0, worstOp = 'none';
  const cmp = (name: string, a: Tensor, b: Tensor) => {
    const x = engine.read(keep(a)), y = cpu.read(b);
    let scale = 1e-30, err = 0;
    for (let i = 0; i < y.length; i++) scale = Math.max(scale, Math.abs(y[i]));
    for (let i = 0; i < y.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      err = Math.max(err, Number.isNaN(d) ? Infinity : d);
    }
    const rel = err / scale;
    if (!(rel <= worst)) { worst = rel; worstOp = name; }
  };
  const act: Activation = 'tanh';
  const [x, xc] = pair([2, 3, 9, 9]), [w, wc] = pair([4, 3, 3, 3], 0.5), [b, bc] = pair([4], 0.1);
  const y = engine.conv2d(x, w, b, act), yc = cpu.conv2d(xc, wc, bc, act);
  cmp('conv2d', y, yc);
  const [dy, dyc] = pair([2, 4, 7, 7]);
  cmp('conv2dBackwardInput', engine.conv2dBackwardInput(dy, w, x.shape), cpu.conv2dBackwardInput(dyc, wc, xc.shape));
  cmp('conv2dBackwardFilter', engine.conv2dBackwardFilter(x, dy, w.shape), cpu.conv2dBackwardFilter(xc, dyc, wc.shape));
  cmp('biasGrad', engine.biasGrad(dy), cpu.biasGrad(dyc));
  cmp('activationBackward', engine.activationBackward(act, y, dy), cpu.activationBackward(act, yc, dyc));
  const [p, pc] = pair([2, 4, 6, 6]);
  const pm = engine.maxPool(p), pmc = cpu.maxPool(pc);
  cmp('maxPool', pm, pmc);
  const [dp, dpc] = pair([2, 4, 3, 3]);
  cmp('maxPoolBackward', engine.maxPoolBackward(p, pm, dp), cpu.maxPoolBackward(pc, pmc, dpc));
  const [dx, dxc] = pair([3, 70]), [dw, dwc] = pair([70, 10], 0.3), [db, dbc] = pair([10], 0.1);
  const z = engine.dense(dx, dw, db, 'none'), zc = cpu.dense(dxc, dwc, dbc, 'none');
  cmp('dense', z, zc);
  const [g, gc] = pair([3, 10]);
  cmp('denseBackwardInput', engine.denseBackwardInput(g, dw), cpu.denseBackwardInput(gc, dwc));
  cmp('denseBackwardWeight', engine.denseBackwardWeight(dx, g), cpu.denseBackwardWeight(dxc, gc));
  const lab = new Float32Array(30); for (let n = 0; n < 3; n++) lab[n * 10 + ((n * 7) % 10)] = 1;
  const [t, tc] = [engine.tensor([3, 10], lab), cpu.tensor([3, 10], lab)];
  const s = engine.softmaxCrossEntropy(z, t), sc = cpu.softmaxCrossEntropy(zc, tc);
  keep(z); keep(t); keep(pm); keep(y);
  cmp('softmaxCrossEntropy.losses', s.losses, sc.losses);
  cmp('softmaxCrossEntropy.dLogits', s.dLogits, sc.dLogits);
  cmp('softmax', engine.softmax(z), cpu.softmax(zc));
  const [v, vc] = pair([70, 10], 0.1);
  engine.sgdUpdate(dw, keep(engine.denseBackwardWeight(dx, g)), v, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  cpu.sgdUpdate(dwc, cpu.denseBackwardWeight(dxc, gc), vc, { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  cmp('sgdUpdate', dw, dwc);
  engine.flush();
  for (const m of new Set(made)) engine.dispose(m);
  return { ok: worst <= tolerance, maxRelError: worst, worstOp, tolerance, ms: performance.now() - t0 };
}
