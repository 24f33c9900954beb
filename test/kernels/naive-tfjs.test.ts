// The naive CPU twins against TensorFlow.js (pure-JS CPU backend, its own autodiff) on random
// inputs: forward outputs and the gradients tf.grads derives for L = Σ dy·f(inputs). tfjs's
// convolution works in NHWC with [K,K,C,O] filters, so data is transposed on the way in and out.
import { test } from 'node:test';
import fc from 'fast-check';
import { applyActivation, activationBackward } from '../../src/kernels/cpu/activation';
import { biasGrad } from '../../src/kernels/cpu/bias';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from '../../src/kernels/cpu/conv2d';
import { dense, denseBackwardInput, denseBackwardWeight } from '../../src/kernels/cpu/dense';
import { maxPool, maxPoolBackward } from '../../src/kernels/cpu/maxpool';
import { softmax, softmaxCrossEntropy } from '../../src/kernels/cpu/softmax_xent';
import { sgdUpdate } from '../../src/kernels/cpu/sgd';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import type { Activation } from '../../src/kernels/engine';
import {
  assertClose, kkcoToOckk, nchwToNhwc, nhwcToNchw, ockkToKkco, oneHotRandom, randArray, tfCpu,
} from './helpers';

const RUNS = { numRuns: 15 };
type TF = Awaited<ReturnType<typeof tfCpu>>;
type T = ReturnType<TF['tensor']>;

function actTf(tf: TF, act: Activation, z: T): T {
  return act === 'tanh' ? tf.tanh(z) : act === 'relu' ? tf.relu(z) : z;
}
const data = (t: T) => t.dataSync() as Float32Array;

test('conv2d forward and backward agree with tfjs', async () => {
  const tf = await tfCpu();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), O: fc.integer({ min: 1, max: 5 }),
    K: fc.integer({ min: 1, max: 5 }), eh: fc.integer({ min: 0, max: 6 }), ew: fc.integer({ min: 0, max: 6 }),
    act: fc.constantFrom<Activation>('none', 'tanh', 'relu'), seed: fc.integer(),
  }), ({ N, C, O, K, eh, ew, act, seed }) => {
    const H = K + eh, W = K + ew, P = H - K + 1, Q = W - K + 1;
    const x = randArray(N * C * H * W, seed), w = randArray(O * C * K * K, seed + 1), b = randArray(O, seed + 2);
    const dyAct = randArray(N * O * P * Q, seed + 3);
    tf.tidy(() => {
      const xt = tf.tensor4d(nchwToNhwc(x, N, C, H, W), [N, H, W, C]);
      const wt = tf.tensor4d(ockkToKkco(w, O, C, K), [K, K, C, O]);
      const bt = tf.tensor1d(b);
      const dyt = tf.tensor4d(nchwToNhwc(dyAct, N, O, P, Q), [N, P, Q, O]);
      const f = (a: T, ww: T, bb: T) => actTf(tf, act, tf.add(tf.conv2d(a as any, ww as any, 1, 'valid'), bb));
      const y = conv2d(x, [N, C, H, W], w, [O, C, K, K], b, act);
      assertClose(y, nhwcToNchw(data(f(xt, wt, bt)), N, O, P, Q), 1e-5, 1e-5, 'forward');
      const [gx, gw, gb] = tf.grads((a: T, ww: T, bb: T) => tf.sum(tf.mul(f(a, ww, bb), dyt)))([xt, wt, bt]);
      // the chain as LeNet runs it: activation backward from the output, then the conv's three
      const dz = activationBackward(act, y, dyAct);
      assertClose(conv2dBackwardInput(dz, w, [N, C, H, W], [O, C, K, K]), nhwcToNchw(data(gx), N, C, H, W), 1e-4, 1e-4, 'dx');
      assertClose(conv2dBackwardFilter(x, [N, C, H, W], dz, [O, C, K, K]), kkcoToOckk(data(gw), O, C, K), 1e-4, 1e-4, 'dw');
      assertClose(biasGrad(dz, [N, O, P, Q]), data(gb), 1e-4, 1e-4, 'db');
    });
  }), RUNS);
});

test('dense forward and backward agree with tfjs', async () => {
  const tf = await tfCpu();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 6 }), I: fc.integer({ min: 1, max: 40 }), O: fc.integer({ min: 1, max: 20 }),
    act: fc.constantFrom<Activation>('none', 'tanh', 'relu'), seed: fc.integer(),
  }), ({ N, I, O, act, seed }) => {
    const x = randArray(N * I, seed), w = randArray(I * O, seed + 1), b = randArray(O, seed + 2), dyAct = randArray(N * O, seed + 3);
    tf.tidy(() => {
      const xt = tf.tensor2d(x, [N, I]), wt = tf.tensor2d(w, [I, O]), bt = tf.tensor1d(b), dyt = tf.tensor2d(dyAct, [N, O]);
      const f = (a: T, ww: T, bb: T) => actTf(tf, act, tf.add(tf.matMul(a as any, ww as any), bb));
      const y = dense(x, w, b, N, I, O, act);
      assertClose(y, data(f(xt, wt, bt)), 1e-5, 1e-5, 'forward');
      const [gx, gw, gb] = tf.grads((a: T, ww: T, bb: T) => tf.sum(tf.mul(f(a, ww, bb), dyt)))([xt, wt, bt]);
      const dz = activationBackward(act, y, dyAct);
      assertClose(denseBackwardInput(dz, w, N, I, O), data(gx), 1e-4, 1e-4, 'dx');
      assertClose(denseBackwardWeight(x, dz, N, I, O), data(gw), 1e-4, 1e-4, 'dw');
      assertClose(biasGrad(dz, [N, O]), data(gb), 1e-4, 1e-4, 'db');
    });
  }), RUNS);
});

test('activations forward and backward agree with tfjs', async () => {
  const tf = await tfCpu();
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 64 }), act: fc.constantFrom<Activation>('tanh', 'relu'), seed: fc.integer(),
  }), ({ n, act, seed }) => {
    const z = randArray(n, seed, -4, 4), dy = randArray(n, seed + 1);
    tf.tidy(() => {
      const zt = tf.tensor1d(z), dyt = tf.tensor1d(dy);
      const y = applyActivation(act, Float32Array.from(z));
      assertClose(y, data(actTf(tf, act, zt)), 1e-6, 1e-6, 'forward');
      const [g] = tf.grads((a: T) => tf.sum(tf.mul(actTf(tf, act, a), dyt)))([zt]);
      assertClose(activationBackward(act, y, dy), data(g), 1e-6, 1e-5, 'backward');
    });
  }), RUNS);
});

test('max-pool forward and backward agree with tfjs (distinct values)', async () => {
  const tf = await tfCpu();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), Ho: fc.integer({ min: 1, max: 5 }),
    Wo: fc.integer({ min: 1, max: 5 }), seed: fc.integer(),
  }), ({ N, C, Ho, Wo, seed }) => {
    const H = 2 * Ho, W = 2 * Wo;
    const x = randArray(N * C * H * W, seed), dy = randArray(N * C * Ho * Wo, seed + 1);
    tf.tidy(() => {
      const xt = tf.tensor4d(nchwToNhwc(x, N, C, H, W), [N, H, W, C]);
      const dyt = tf.tensor4d(nchwToNhwc(dy, N, C, Ho, Wo), [N, Ho, Wo, C]);
      const f = (a: T) => tf.maxPool(a as any, 2, 2, 'valid');
      const y = maxPool(x, [N, C, H, W]);
      assertClose(y, nhwcToNchw(data(f(xt)), N, C, Ho, Wo), 0, 0, 'forward');
      const [g] = tf.grads((a: T) => tf.sum(tf.mul(f(a), dyt)))([xt]);
      assertClose(maxPoolBackward(x, [N, C, H, W], y, dy), nhwcToNchw(data(g), N, C, H, W), 1e-7, 0, 'backward');
    });
  }), RUNS);
});

test('softmax and softmax cross-entropy agree with tfjs', async () => {
  const tf = await tfCpu();
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 8 }), K: fc.integer({ min: 2, max: 12 }), seed: fc.integer(),
  }), ({ N, K, seed }) => {
    const z = randArray(N * K, seed, -6, 6), t = oneHotRandom(N, K, seed + 1);
    tf.tidy(() => {
      const zt = tf.tensor2d(z, [N, K]), tt = tf.tensor2d(t, [N, K]);
      assertClose(softmax(z, N, K), data(tf.softmax(zt)), 1e-6, 1e-5, 'softmax');
      const perSample = (a: T) => tf.losses.softmaxCrossEntropy(tt, a as any, undefined, 0, tf.Reduction.NONE);
      const r = softmaxCrossEntropy(z, t, N, K);
      assertClose(r.losses, data(perSample(zt) as T), 1e-5, 1e-5, 'losses');
      const [g] = tf.grads((a: T) => tf.mean(perSample(a) as T))([zt]);
      assertClose(r.dLogits, data(g), 1e-6, 1e-5, 'dLogits');
    });
  }), RUNS);
});

test('sgd with momentum agrees with tfjs\'s momentum optimizer', async () => {
  const tf = await tfCpu();
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 50 }), lr: fc.constantFrom(0.01, 0.05, 0.5), momentum: fc.constantFrom(0.5, 0.9), seed: fc.integer(),
  }), ({ n, lr, momentum, seed }) => {
    const w0 = randArray(n, seed), g1 = randArray(n, seed + 1), g2 = randArray(n, seed + 2);
    const w = Float32Array.from(w0), v = new Float32Array(n);
    for (const g of [g1, g2]) sgdUpdate(w, g, v, { lr, momentum, weightDecay: 0 });
    const wt = tf.variable(tf.tensor1d(w0));
    const opt = tf.train.momentum(lr, momentum);
    for (const g of [g1, g2]) opt.applyGradients([{ name: wt.name, tensor: tf.tensor1d(g) }]);
    assertClose(w, data(wt), 1e-6, 1e-5, 'w after two steps');
    opt.dispose(); wt.dispose();
  }), RUNS);
});

test('weight decay is the gradient of an L2 penalty: sgd with wd agrees with tfjs optimizers on Σ g·w + wd/2·|w|² (naive and wasm twins)', async () => {
  // The oracle does not restate "g + wd·w": tfjs's autodiff differentiates the penalised objective
  // at each step's current w, and tfjs's own sgd or momentum optimizer applies the result. Three
  // steps, so weight decay inside the velocity (the convention: decay before momentum) is exercised
  // across steps, not only once. wd up to 0.5, so a wrong decay factor moves w by far more than the
  // tolerance (fp32 on both sides, magnitudes below ~5 after three steps: 1e-5 relative is ~100 ulps).
  const tf = await tfCpu();
  const wasm = new CpuEngine({ threads: 1 });
  const wasmSgd = (w: Float32Array, g: Float32Array, v: Float32Array | null, o: { lr: number; momentum: number; weightDecay: number }) => {
    const [wt, gt, vt] = [w, g, v].map((a) => (a ? wasm.tensor([a.length], a) : null));
    wasm.sgdUpdate(wt!, gt!, vt, o);
    w.set(wasm.read(wt!));
    if (v && vt) v.set(wasm.read(vt));
    for (const t of [wt, gt, vt]) if (t) wasm.dispose(t);
  };
  try {
    fc.assert(fc.property(fc.record({
      n: fc.integer({ min: 1, max: 40 }), lr: fc.constantFrom(0.01, 0.1, 0.5), seed: fc.integer(),
    }), ({ n, lr, seed }) => {
      // every momentum (0 takes the other code path) with every decay, in every run
      for (const momentum of [0, 0.5, 0.9]) for (const wd of [1e-4, 0.05, 0.5]) {
        const w0 = randArray(n, seed), gs = [1, 2, 3].map((k) => randArray(n, seed + k));
        const wt = tf.variable(tf.tensor1d(w0));
        const opt = momentum > 0 ? tf.train.momentum(lr, momentum) : tf.train.sgd(lr);
        for (const g of gs) {
          const gT = tf.tensor1d(g);
          const grad = tf.grad((x: T) => tf.add(tf.sum(tf.mul(gT, x)), tf.mul(wd / 2, tf.sum(tf.square(x)))))(wt);
          opt.applyGradients([{ name: wt.name, tensor: grad }]);
          gT.dispose(); grad.dispose();
        }
        const want = Float32Array.from(data(wt));
        opt.dispose(); wt.dispose();
        for (const [name, update] of [['naive', sgdUpdate], ['wasm', wasmSgd]] as const) {
          const w = Float32Array.from(w0), v = momentum > 0 ? new Float32Array(n) : null;
          for (const g of gs) update(w, g, v, { lr, momentum, weightDecay: wd });
          assertClose(w, want, 1e-6, 1e-5, `${name}: w after three steps (lr ${lr}, momentum ${momentum}, wd ${wd})`);
        }
      }
    }), RUNS);
  } finally {
    wasm.destroy();
  }
});
