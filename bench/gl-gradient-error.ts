// The largest relative error of any LeNet gradient, GL (vc4 profile by default) against the CPU
// twin, on a fixed batch. Relative = max |g_gl - g_cpu| over a parameter tensor divided by the
// largest |g_cpu| of that tensor; the figure is the worst tensor. Target: <= 1e-3.
//   xvfb-run -a -s '-screen 0 64x64x24' npx tsx bench/gl-gradient-error.ts [vc4|desktop] [batch]
import type { Engine, Tensor } from '../src/kernels/engine';
import { CpuEngine } from '../src/kernels/cpu/engine';
import { GlEngine } from '../src/kernels/gl/engine';
import type { ProfileName } from '../src/kernels/gl/profile';
import { initParams, mulberry32, oneHot } from '../src/net/lenet';
import { CLASSES, IMAGE_SIDE, paramOffsets, PARAM_COUNT } from '../src/net/spec';

/** LeNet (tanh) gradients of the mean cross-entropy, flat in PARAMS order, through `e`'s ops. */
export function lenetGradients(e: Engine, params: Float32Array, images: Float32Array, labels: ArrayLike<number>): { grads: Float32Array; loss: number } {
  const N = labels.length;
  const offs = paramOffsets();
  const P = offs.map((p) => e.tensor(p.shape, params.subarray(p.offset, p.offset + p.size)));
  const [w1, b1, w2, b2, w3, b3, w4, b4] = P;
  const x0 = e.tensor([N, 1, IMAGE_SIDE, IMAGE_SIDE], images), t = e.tensor([N, CLASSES], oneHot(labels));
  const a1 = e.conv2d(x0, w1, b1, 'tanh'), p1 = e.maxPool(a1);
  const a2 = e.conv2d(p1, w2, b2, 'tanh'), p2 = e.maxPool(a2);
  const f = e.reshape(p2, [N, 800]);
  const a3 = e.dense(f, w3, b3, 'tanh'), z = e.dense(a3, w4, b4, 'none');
  const { losses, dLogits } = e.softmaxCrossEntropy(z, t);
  const dA3 = e.denseBackwardInput(dLogits, w4), dZ3 = e.activationBackward('tanh', a3, dA3);
  const dF = e.denseBackwardInput(dZ3, w3), dP2 = e.reshape(dF, p2.shape);
  const dZ2 = e.activationBackward('tanh', a2, e.maxPoolBackward(a2, p2, dP2));
  const dP1 = e.conv2dBackwardInput(dZ2, w2, p1.shape);
  const dZ1 = e.activationBackward('tanh', a1, e.maxPoolBackward(a1, p1, dP1));
  const g: Tensor[] = [
    e.conv2dBackwardFilter(x0, dZ1, w1.shape), e.biasGrad(dZ1), e.conv2dBackwardFilter(p1, dZ2, w2.shape), e.biasGrad(dZ2),
    e.denseBackwardWeight(f, dZ3), e.biasGrad(dZ3), e.denseBackwardWeight(a3, dLogits), e.biasGrad(dLogits),
  ];
  const grads = new Float32Array(PARAM_COUNT);
  offs.forEach((p, i) => grads.set(e.read(g[i]), p.offset));
  const loss = e.read(losses).reduce((a, b) => a + b, 0) / N;
  return { grads, loss };
}

export interface GradientError { profile: ProfileName; batch: number; worst: number; worstParam: string; perParam: Record<string, number>; loss: { gl: number; cpu: number } }

export function measureGradientError(profile: ProfileName = 'vc4', batch = 64, seed = 1): GradientError {
  const rnd = mulberry32(seed + 100);
  const params = initParams(seed);
  const images = Float32Array.from({ length: batch * 784 }, () => rnd());
  const labels = Array.from({ length: batch }, () => Math.floor(rnd() * 10));
  const gl = GlEngine.create({ profile });
  const a = lenetGradients(gl, params, images, labels);
  gl.destroy();
  const b = lenetGradients(new CpuEngine(), params, images, labels);
  const perParam: Record<string, number> = {};
  let worst = 0, worstParam = '';
  for (const p of paramOffsets()) {
    let scale = 1e-30, err = 0;
    for (let i = p.offset; i < p.offset + p.size; i++) scale = Math.max(scale, Math.abs(b.grads[i]));
    for (let i = p.offset; i < p.offset + p.size; i++) err = Math.max(err, Math.abs(a.grads[i] - b.grads[i]));
    perParam[p.name] = err / scale;
    if (!(err / scale <= worst)) { worst = err / scale; worstParam = p.name; }
  }
  return { profile, batch, worst, worstParam, perParam, loss: { gl: a.loss, cpu: b.loss } };
}

if (require.main === module) {
  const profile = (process.argv[2] ?? 'vc4') as ProfileName;
  const batch = Number(process.argv[3] ?? 64);
  const r = measureGradientError(profile, batch);
  console.log(`gl-gradient-error profile=${r.profile} batch=${r.batch} worst=${r.worst.toExponential(3)} (${r.worstParam}) target<=1e-3 ${r.worst <= 1e-3 ? 'MET' : 'MISSED'}`);
  for (const [k, v] of Object.entries(r.perParam)) console.log(`  ${k.padEnd(6)} ${v.toExponential(3)}`);
  console.log(`  loss gl=${r.loss.gl} cpu=${r.loss.cpu}`);
  console.log(JSON.stringify(r));
}
