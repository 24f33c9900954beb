// The fast CpuEngine against the naive reference engine on random shapes and values: every op,
// forward and backward, with one and two threads and with the plain-JavaScript kernels that
// stand in where WebAssembly SIMD is missing. Shapes include sizes that are not multiples of the
// gemm's 4x8 blocks, so the edge paths are exercised too.
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import fc from 'fast-check';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { NaiveCpuEngine } from '../../src/kernels/cpu/naive-engine';
import type { Activation, Engine, Tensor } from '../../src/kernels/engine';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import { assertClose, randArray } from './helpers';

const ref = new NaiveCpuEngine();
const engines: [string, CpuEngine][] = [
  ['1 thread', new CpuEngine({ threads: 1 })],
  ['2 threads', new CpuEngine({ threads: 2 })],
  ['js kernels, 2 threads', new CpuEngine({ threads: 2, kernels: 'js' })],
];
after(() => { for (const [, e] of engines) e.destroy(); });
const RUNS = { numRuns: 12 };
const acts = fc.constantFrom<Activation>('none', 'tanh', 'relu');

/** Runs f on the reference and on every fast engine with the same inputs; compares all outputs. */
function same(inputs: { shape: number[]; data: Float32Array }[], f: (e: Engine, t: Tensor[]) => Tensor[], tol: number, what: string): void {
  const run = (e: Engine) => {
    const ts = inputs.map((i) => e.tensor(i.shape, i.data));
    const outs = f(e, ts);
    const res = outs.map((o) => ({ shape: [...o.shape], data: e.read(o) }));
    for (const t of [...ts, ...outs]) e.dispose(t);
    return res;
  };
  const want = run(ref);
  for (const [name, e] of engines) {
    const got = run(e);
    got.forEach((g, i) => {
      assert.deepEqual(g.shape, want[i].shape, `${what} (${name}) output ${i} shape`);
      assertClose(g.data, want[i].data, tol, tol, `${what} (${name}) output ${i}`);
    });
  }
}

const inp = (shape: number[], seed: number, lo = -1, hi = 1) => ({ shape, data: randArray(shape.reduce((a, b) => a * b, 1), seed, lo, hi) });

test('conv2d forward and both backward ops match the naive engine', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 5 }), C: fc.integer({ min: 1, max: 6 }), O: fc.integer({ min: 1, max: 11 }),
    K: fc.integer({ min: 1, max: 5 }), eh: fc.integer({ min: 0, max: 9 }), ew: fc.integer({ min: 0, max: 9 }),
    act: acts, seed: fc.integer(),
  }), ({ N, C, O, K, eh, ew, act, seed }) => {
    const H = K + eh, W = K + ew, P = H - K + 1, Q = W - K + 1;
    const x = inp([N, C, H, W], seed), w = inp([O, C, K, K], seed + 1), b = inp([O], seed + 2), dy = inp([N, O, P, Q], seed + 3);
    same([x, w, b, dy], (e, [xt, wt, bt, dyt]) => [
      e.conv2d(xt, wt, bt, act),
      e.conv2dBackwardInput(dyt, wt, xt.shape),
      e.conv2dBackwardFilter(xt, dyt, wt.shape),
    ], 2e-5, `conv2d N${N} C${C} O${O} K${K} ${H}x${W} ${act}`);
  }), RUNS);
});

test('conv2d at LeNet\'s shapes matches the naive engine', () => {
  for (const [C, H, O] of [[1, 28, 20], [20, 12, 50]]) {
    const N = 3, P = H - 4;
    const x = inp([N, C, H, H], C), w = inp([O, C, 5, 5], C + 1, -0.2, 0.2), b = inp([O], C + 2), dy = inp([N, O, P, P], C + 3);
    same([x, w, b, dy], (e, [xt, wt, bt, dyt]) => [
      e.conv2d(xt, wt, bt, 'tanh'), e.conv2dBackwardInput(dyt, wt, xt.shape), e.conv2dBackwardFilter(xt, dyt, wt.shape),
    ], 5e-5, `lenet conv C${C}`);
  }
});

test('dense forward and both backward ops match the naive engine', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 13 }), I: fc.integer({ min: 1, max: 70 }), O: fc.integer({ min: 1, max: 37 }), act: acts, seed: fc.integer(),
  }), ({ N, I, O, act, seed }) => {
    const x = inp([N, I], seed), w = inp([I, O], seed + 1), b = inp([O], seed + 2), dy = inp([N, O], seed + 3);
    same([x, w, b, dy], (e, [xt, wt, bt, dyt]) => [
      e.dense(xt, wt, bt, act), e.denseBackwardInput(dyt, wt), e.denseBackwardWeight(xt, dyt),
    ], 2e-5, `dense N${N} I${I} O${O} ${act}`);
  }), RUNS);
});

test('bias gradient, activation backward, max-pool and its backward match the naive engine', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 4 }), C: fc.integer({ min: 1, max: 7 }), Ho: fc.integer({ min: 1, max: 6 }), Wo: fc.integer({ min: 1, max: 6 }),
    act: acts, seed: fc.integer(),
  }), ({ N, C, Ho, Wo, act, seed }) => {
    const x = inp([N, C, 2 * Ho, 2 * Wo], seed), dyPool = inp([N, C, Ho, Wo], seed + 1), dy = inp([N, C, 2 * Ho, 2 * Wo], seed + 2);
    const y = { shape: x.shape, data: x.data.map((v) => (act === 'tanh' ? Math.tanh(v) : act === 'relu' ? Math.max(v, 0) : v)) };
    same([x, dyPool, dy, y], (e, [xt, dpt, dyt, yt]) => {
      const pooled = e.maxPool(xt);
      return [pooled, e.maxPoolBackward(xt, pooled, dpt), e.biasGrad(dyt), e.biasGrad(e.reshape(dyt, [N * C * Ho * 2, Wo * 2])), e.activationBackward(act, yt, dyt)];
    }, 1e-5, `elementwise N${N} C${C} ${Ho}x${Wo} ${act}`);
  }), RUNS);
});

test('max-pool ties go to the first maximum on the fast engines too', () => {
  // windows with every tie pattern, including ±0 and equal maxima
  const x = Float32Array.from([1, 3, 3, 3, 2, 2, 2, 2, 5, 0, 0, 5, -0, 0, 0, -0, 0, 7, 7, 7, -1, -1, -1, -2]);
  same([{ shape: [1, 6, 2, 2], data: x }, { shape: [1, 6, 1, 1], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
    (e, [xt, dyt]) => { const y = e.maxPool(xt); return [y, e.maxPoolBackward(xt, y, dyt)]; }, 0, 'pool ties');
  for (const [name, e] of engines) {
    const y = e.maxPool(e.tensor([1, 6, 2, 2], x));
    assert.ok(Object.is(e.read(y)[3], 0), `${name}: max(-0, 0, 0, -0) must be +0 as in the naive twin`);
  }
});

test('max-pool forward and backward with many ties (values in {-1, -0, 0, 1}) match the naive engine', () => {
  fc.assert(fc.property(fc.record({
    N: fc.integer({ min: 1, max: 3 }), C: fc.integer({ min: 1, max: 4 }), Ho: fc.integer({ min: 1, max: 11 }), Wo: fc.integer({ min: 1, max: 11 }),
    oddH: fc.boolean(), oddW: fc.boolean(), seed: fc.integer(),
  }), ({ N, C, Ho, Wo, oddH, oddW, seed }) => {
    const H = 2 * Ho + (oddH ? 1 : 0), W = 2 * Wo + (oddW ? 1 : 0);
    const r = mulberry32(seed);
    const x = new Float32Array(N * C * H * W).map(() => [-1, -0, 0, 1][Math.floor(r() * 4)]);
    const dy = inp([N, C, Ho, Wo], seed + 1);
    same([{ shape: [N, C, H, W], data: x }, dy], (e, [xt, dyt]) => {
      const y = e.maxPool(xt);
      return [y, e.maxPoolBackward(xt, y, dyt)];
    }, 0, `pool ties N${N} C${C} ${H}x${W}`);
  }), RUNS);
});

// Softmax is not compared with the naive engine here: CpuEngine calls the naive twin's own functions,
// so that comparison could not fail. softmax-oracle.test.ts checks both against an independent oracle.

test('sgd update matches the naive engine, with and without momentum and weight decay', () => {
  fc.assert(fc.property(fc.record({
    n: fc.integer({ min: 1, max: 100 }), lr: fc.constantFrom(0.01, 0.05, 0.3), momentum: fc.constantFrom(0, 0.9), wd: fc.constantFrom(0, 1e-3), seed: fc.integer(),
  }), ({ n, lr, momentum, wd, seed }) => {
    same([inp([n], seed), inp([n], seed + 1), inp([n], seed + 2)], (e, [w, g, v]) => {
      e.sgdUpdate(w, g, momentum ? v : null, { lr, momentum, weightDecay: wd });
      e.sgdUpdate(w, g, momentum ? v : null, { lr, momentum, weightDecay: wd });
      return [e.reshape(w, [n]), e.reshape(v, [n])];
    }, 1e-6, 'sgd');
  }), RUNS);
});

test('tanh of the SIMD kernels stays within 2e-7 of Math.tanh over a wide range', () => {
  const e = engines[0][1];
  const n = 4001;
  const z = new Float32Array(n).map((_, i) => (i - 2000) / 100); // -20 .. 20 in steps of 0.01
  z[0] = -0; z[1] = 1e-30; z[2] = -1e-7; z[3] = 100; z[4] = -100;
  // dense [1,1]x[1,n] with zero input and weights: y = tanh(b), so z goes in through the bias
  const x = e.tensor([1, 1]), w = e.tensor([1, n]), b = e.tensor([n], z);
  const yt = e.dense(x, w, b, 'tanh');
  const y = e.read(yt);
  for (let i = 0; i < n; i++) {
    const want = Math.tanh(z[i]);
    assert.ok(Math.abs(y[i] - want) <= 2e-7 + 2e-7 * Math.abs(want), `tanh(${z[i]}) = ${y[i]}, want ${want}`);
  }
  assert.ok(Object.is(y[0], 0), `tanh(0 + -0) = ${y[0]}`);
  for (const t of [x, w, b, yt]) e.dispose(t);
});

test('LeNet steps on the fast engines track the naive engine', () => {
  const rnd = mulberry32(5);
  const N = 10;
  const images = new Float32Array(N * 784).map(() => rnd());
  const labels = Array.from({ length: N }, () => Math.floor(rnd() * 10));
  const sgd = { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 };
  const refNet = new LeNet(ref, initParams(9), 'tanh', 0.9);
  const refLoss = [0, 1, 2].map(() => refNet.step(images, labels, sgd).loss);
  for (const [name, e] of engines) {
    const net = new LeNet(e, initParams(9), 'tanh', 0.9);
    const loss = [0, 1, 2].map(() => net.step(images, labels, sgd).loss);
    assertClose(loss, refLoss, 1e-5, 1e-5, `losses (${name})`);
    assertClose(net.getParams(), refNet.getParams(), 1e-5, 1e-4, `params after 3 steps (${name})`);
    net.destroy();
  }
});

test('tensors: zero-initialised, reshape shares storage until both views are disposed, read copies', () => {
  const e = engines[0][1];
  const a = e.tensor([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]));
  const r = e.reshape(a, [3, 2]);
  e.dispose(a);
  e.dispose(a); // twice is harmless
  const c = e.tensor([2, 3]); // must not reuse the block r still holds
  assert.deepEqual([...e.read(c)], [0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...e.read(r)], [1, 2, 3, 4, 5, 6]);
  const copy = e.read(r);
  copy[0] = 99;
  assert.equal(e.read(r)[0], 1);
  e.dispose(r);
  const d = e.tensor([6]);
  assert.deepEqual([...e.read(d)], [0, 0, 0, 0, 0, 0], 'a recycled block comes back zeroed');
  assert.throws(() => e.reshape(d, [4]), /reshape/);
  assert.throws(() => e.write(d, new Float32Array(5)), /write/);
  for (const t of [c, d]) e.dispose(t);
});

test('the description names the kernels and the thread count', () => {
  assert.match(engines[0][1].description, /^cpu \(wasm-simd, 1 thread\)$/);
  assert.match(engines[1][1].description, /^cpu \(wasm-simd, 2 threads\)$/);
  assert.match(engines[2][1].description, /js kernels/);
});

test('the generated wasm module is up to date with kernels.wat (build-wasm --check)', () => {
  const root = path.resolve(__dirname, '../..');
  execFileSync(process.execPath, [path.join(root, 'scripts/build-wasm.mjs'), '--check'], { cwd: root, stdio: 'pipe' });
});
