// Whole-network gradient check: LeNet.gradients() (the backward pass the training step uses)
// against central finite differences of the mean cross-entropy, at a few coordinates of every
// parameter tensor — the largest-gradient coordinate and random ones. The loss is evaluated by an
// independent float64 forward pass written here, so the difference quotient is free of float32
// noise and a small step (rarely crossing a max-pool kink) can be used. Run on the naive
// reference engine and on the fast CpuEngine (one and two threads), with tanh and with relu.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Activation, Engine } from '../../src/kernels/engine';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { NaiveCpuEngine } from '../../src/kernels/cpu/naive-engine';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import { CLASSES, paramOffsets } from '../../src/net/spec';

/** LeNet's mean cross-entropy in float64, straight from the definition. */
function meanLoss64(params: Float64Array, images: Float32Array, labels: number[], act: Activation): number {
  const f = act === 'tanh' ? Math.tanh : act === 'relu' ? (v: number) => (v > 0 ? v : 0) : (v: number) => v;
  const [w1, b1, w2, b2, w3, b3, w4, b4] = paramOffsets().map((p) => params.subarray(p.offset, p.offset + p.size));
  const conv = (x: Float64Array, C: number, H: number, w: Float64Array, b: Float64Array, O: number) => {
    const P = H - 4, y = new Float64Array(O * P * P);
    for (let o = 0; o < O; o++) for (let p = 0; p < P; p++) for (let q = 0; q < P; q++) {
      let s = b[o];
      for (let c = 0; c < C; c++) for (let i = 0; i < 5; i++) for (let j = 0; j < 5; j++)
        s += x[(c * H + p + i) * H + q + j] * w[((o * C + c) * 5 + i) * 5 + j];
      y[(o * P + p) * P + q] = f(s);
    }
    return y;
  };
  const pool = (x: Float64Array, C: number, H: number) => {
    const h = H / 2, y = new Float64Array(C * h * h);
    for (let c = 0; c < C; c++) for (let p = 0; p < h; p++) for (let q = 0; q < h; q++) {
      const i = (c * H + 2 * p) * H + 2 * q;
      y[(c * h + p) * h + q] = Math.max(x[i], x[i + 1], x[i + H], x[i + H + 1]);
    }
    return y;
  };
  const fc = (x: Float64Array, w: Float64Array, b: Float64Array, I: number, O: number, activate: boolean) => {
    const y = Float64Array.from(b);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) y[o] += x[i] * w[i * O + o];
    return activate ? y.map(f) : y;
  };
  let total = 0;
  for (let n = 0; n < labels.length; n++) {
    const x = Float64Array.from(images.subarray(n * 784, (n + 1) * 784));
    const p1 = pool(conv(x, 1, 28, w1, b1, 20), 20, 24);
    const p2 = pool(conv(p1, 20, 12, w2, b2, 50), 50, 8);
    const z = fc(fc(p2, w3, b3, 800, 500, true), w4, b4, 500, 10, false);
    const m = Math.max(...z);
    let s = 0;
    for (const v of z) s += Math.exp(v - m);
    total += m + Math.log(s) - z[labels[n]];
  }
  return total / labels.length;
}

function check(makeEngine: () => Engine, seed: number, act: Activation = 'tanh'): void {
  const engine = makeEngine();
  try {
    const rnd = mulberry32(seed);
    const N = 4;
    const images = new Float32Array(N * 784).map(() => rnd());
    const labels = Array.from({ length: N }, () => Math.floor(rnd() * CLASSES));
    const params = initParams(seed);
    // biases start at zero; move them off it so their gradients pass through a generic point
    for (const p of paramOffsets()) if (p.shape.length === 1) for (let i = 0; i < p.size; i++) params[p.offset + i] = (rnd() - 0.5) * 0.2;
    const net = new LeNet(engine, params, act);
    const g = net.gradients(images, labels);
    assert.deepEqual(net.getParams(), params, 'gradients() must not change the parameters');
    // A step that moves a max-pool window's maximum to another element, or a relu input across 0,
    // crosses a kink; such coordinates show up as disagreeing one-sided slopes and are replaced by others.
    const p64 = Float64Array.from(params);
    const eps = 1e-6;
    const L0 = meanLoss64(p64, images, labels, act);
    for (const p of paramOffsets()) {
      let arg = p.offset;
      for (let i = p.offset; i < p.offset + p.size; i++) if (Math.abs(g[i]) > Math.abs(g[arg])) arg = i;
      let checked = 0;
      for (let attempt = 0; attempt < 8 && checked < 3; attempt++) {
        const i = attempt === 0 ? arg : p.offset + Math.floor(rnd() * p.size);
        const v = p64[i];
        p64[i] = v + eps; const up = meanLoss64(p64, images, labels, act);
        p64[i] = v - eps; const down = meanLoss64(p64, images, labels, act);
        p64[i] = v;
        const right = (up - L0) / eps, left = (L0 - down) / eps;
        if (Math.abs(right - left) > 1e-2 * Math.max(Math.abs(right), Math.abs(left)) + 1e-6) continue;
        const fd = (up - down) / (2 * eps);
        assert.ok(Math.abs(fd - g[i]) <= 1e-5 + 2e-3 * Math.abs(fd),
          `${p.name}[${i - p.offset}]: backward ${g[i]}, finite difference ${fd}`);
        checked++;
      }
      assert.equal(checked, 3, `${p.name}: too few coordinates away from max-pool (and relu) kinks`);
      // relu zeroes whole regions of a gradient; the largest coordinate keeps each check from being 0 = 0
      assert.ok(g[arg] !== 0, `${p.name}: the gradient is zero everywhere`);
    }
    net.destroy();
  } finally {
    engine.destroy();
  }
}

test('LeNet gradient matches finite differences of the loss (naive reference engine)', () => {
  check(() => new NaiveCpuEngine(), 11);
});

test('LeNet gradient matches finite differences of the loss (CpuEngine, 1 thread)', () => {
  check(() => new CpuEngine({ threads: 1 }), 12);
});

test('LeNet gradient matches finite differences of the loss (CpuEngine, 2 threads)', () => {
  check(() => new CpuEngine({ threads: 2 }), 13);
});

test('LeNet gradient matches finite differences of the loss with relu (naive reference engine)', () => {
  check(() => new NaiveCpuEngine(), 21, 'relu');
});

test('LeNet gradient matches finite differences of the loss with relu (CpuEngine, 2 threads)', () => {
  check(() => new CpuEngine({ threads: 2 }), 22, 'relu');
});
