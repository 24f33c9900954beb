// The vc4 profile's 16-bit training step (gl/q16-engine.ts) through the production LeNet code,
// against the CPU engine. Needs a GL context: without one these FAIL (run under xvfb-run).
//
// Tolerances. The q16 step is not meant to equal fp32: every stored activation and activation
// gradient carries a stochastic rounding error, zero-mean and below one step (step <= 4·max-abs /
// 32767 of its tensor at headroom 1). How far that moves a gradient depends on the network's
// Jacobians, so the bound is taken from the format itself: the same format emulated on the CPU
// engine (kernels/q16-emulate.ts: same step rule, same stochastic rounding, exact arithmetic
// otherwise) run with R independent noise streams. A GL step that implements the format draws its
// error from the same distribution; relative L2 errors of independent draws of a sum of many
// independent roundings concentrate (measured spread across streams under 2x on every tensor), so
// the GL error must stay within 2x the largest of R = 3 emulated errors, per parameter tensor. The
// GL path's own extras (the image stored at 2^-14, tanh by a polynomial within 1.5e-5, a quarter
// of the tanh output's step) are below one store's error and covered by the 2x. A wrong kernel shows
// up as an error the format does not make: a lost tap or a 1% skew in a dense or bias gradient is
// 30x the format's 3e-4 there.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import type { Engine } from '../../src/kernels/engine';
import { GlEngine } from '../../src/kernels/gl/engine';
import { Q16GlEngine, Q16View } from '../../src/kernels/gl/q16-engine';
import { Q16Emulation } from '../../src/kernels/q16-emulate';
import { glEngineFor, selectEngine, selfTestTolerance } from '../../src/kernels/select';
import { selfTest } from '../../src/kernels/selftest';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import { paramOffsets } from '../../src/net/spec';
import { recordContext } from '../../src/kernels/gl/cost/recorder';
import { stepExponent } from '../../src/kernels/gl/q16';
import { uploadQ16 } from '../../src/kernels/gl/q16/index';

function q16Engine(seed = 1): Q16GlEngine {
  try {
    return Q16GlEngine.create({ seed });
  } catch (err) {
    assert.fail(`no GL context for the q16 training tests: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
}

const N = 8, R = 3, FACTOR = 2;
const rnd = mulberry32(3);
const images = Float32Array.from({ length: N * 784 }, () => rnd());
const labels = Array.from({ length: N }, (_, i) => (i * 3) % 10);
const p0 = initParams(1);
const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 };

/** Relative L2 distance of a from ref, per parameter tensor. */
function relL2(a: Float32Array, ref: Float32Array): Map<string, number> {
  const out = new Map<string, number>();
  for (const po of paramOffsets()) {
    let e = 0, s = 0;
    for (let i = po.offset; i < po.offset + po.size; i++) { e += (a[i] - ref[i]) ** 2; s += ref[i] ** 2; }
    out.set(po.name, Math.sqrt(e / Math.max(s, 1e-60)));
  }
  return out;
}

function emulatedWorst(run: (e: Engine) => Float32Array, ref: Float32Array): Map<string, number> {
  const worst = new Map<string, number>();
  for (let r = 0; r < R; r++) {
    const em = new Q16Emulation(new CpuEngine(), 1, 101 + r);
    for (const [k, v] of relL2(run(em), ref)) worst.set(k, Math.max(worst.get(k) ?? 0, v));
    em.destroy();
  }
  return worst;
}

function within(gl: Map<string, number>, worst: Map<string, number>, what: string): void {
  for (const [k, v] of gl) {
    const bound = FACTOR * worst.get(k)!;
    assert.ok(v <= bound, `${what} ${k}: relative L2 error ${v.toExponential(2)} > ${FACTOR} x the emulated format's ${worst.get(k)!.toExponential(2)}`);
  }
}

test('one q16 step: gradients against the CPU engine within the format\'s own error', () => {
  // a first call settles every site's tracked step on this batch, as in training after step one
  const grads = (e: Engine) => { const net = new LeNet(e, p0); net.gradients(images, labels); const g = net.gradients(images, labels); net.destroy(); return g; };
  const cpu = new CpuEngine();
  const ref = grads(cpu);
  cpu.destroy();
  const q = q16Engine();
  const gq = grads(q);
  within(relL2(gq, ref), emulatedWorst(grads, ref), 'gradient');
  // the step ran on the GPU in 16 bits: stores were made and each tracked site has a step
  assert.ok(q.tracker.stats.stores >= 10, `only ${q.tracker.stats.stores} q16 stores`);
  q.destroy();
});

test('ten vc4 steps end within the format\'s own distance of the CPU engine', () => {
  const train = (e: Engine) => {
    const net = new LeNet(e, p0, 'tanh', sgd.momentum);
    const r = mulberry32(9);
    for (let s = 0; s < 10; s++) {
      const x = Float32Array.from({ length: N * 784 }, () => r());
      net.step(x, Array.from({ length: N }, () => Math.floor(r() * 10)), sgd);
    }
    const out = net.getParams();
    net.destroy();
    return out;
  };
  const cpu = new CpuEngine();
  const ref = train(cpu);
  cpu.destroy();
  const q = q16Engine(5);
  const pq = train(q);
  q.destroy();
  // distances of the parameters from the CPU run: the q16 noise integrated over ten steps; the
  // parameters moved from p0 by far more (checked, so that "close to the CPU" is not "never moved")
  const moved = relL2(ref, p0), dist = relL2(pq, ref);
  for (const [k, v] of dist) assert.ok(v < 0.5 * moved.get(k)!, `${k}: q16 run is ${v.toExponential(2)} from the CPU run, the CPU run moved only ${moved.get(k)!.toExponential(2)}`);
  within(dist, emulatedWorst(train, ref), 'after ten steps,');
});

test('a store that saturates at the tracked step is redone at a larger one, not clipped', () => {
  const q = q16Engine();
  const cpu = new CpuEngine();
  const r = mulberry32(4);
  const xs = Float32Array.from({ length: 2 * 2 * 8 * 8 }, () => r() * 2 - 1);
  const ws = Float32Array.from({ length: 4 * 2 * 3 * 3 }, () => r() - 0.5);
  const b = new Float32Array(4);
  const run = (e: Engine, scale: number) => e.read(e.conv2d(e.tensor([2, 2, 8, 8], xs.map((v) => v * scale)), e.tensor([4, 2, 3, 3], ws), e.tensor([4], b), 'none'));
  run(q, 1);
  const before = q.tracker.stats.saturations;
  // 1000x the values the site's step was tracked on: 2^10 past its headroom of 2
  const y = run(q, 1000), yc = run(cpu, 1000);
  assert.ok(q.tracker.stats.saturations > before, 'the 1000x store did not saturate at the tracked step');
  let m = 0, err = 0;
  for (let i = 0; i < yc.length; i++) { m = Math.max(m, Math.abs(yc[i])); err = Math.max(err, Math.abs(y[i] - yc[i])); }
  // the redone store: the first step that fits is within 4x (one redo's growth) of the smallest
  // that would, so one output step is below 4·m/32767 (m the largest |y|, plus a store's worth of
  // noise: 2x); the input went up at 2^-5 (|x| <= 1000 <= 32767·2^-5) and 18 taps of |w| <= 0.5
  // carry that rounding into y: 18·0.5·2^-5
  const bound = 2 * 4 * m / 32767 + 18 * 0.5 * 2 ** -5;
  assert.ok(err <= bound, `redone store off by ${err} > ${bound} (max ${m})`);
  q.destroy();
  cpu.destroy();
});

test('profiles: vc4 is the 16-bit engine, vc4-exact the exact one and still within 1e-4 of the CPU twin', () => {
  const q = q16Engine();
  const base = q.gl;
  const exact = glEngineFor(base, 'vc4-exact');
  assert.ok(exact instanceof GlEngine && exact.profile.name === 'vc4-exact');
  assert.ok(glEngineFor(base, 'vc4') instanceof Q16GlEngine);
  const st = selfTest(exact, selfTestTolerance('vc4-exact'));
  assert.ok(st.ok, `vc4-exact self-test: ${st.worstOp} off by ${st.maxRelError}`);
  const sq = selfTest(q, selfTestTolerance('vc4'));
  assert.ok(sq.ok, `vc4 (16-bit) self-test: ${sq.worstOp} off by ${sq.maxRelError}`);
  // activations stay on the GPU in 16 bits; parameters are host fp32
  const t = q.conv2d(q.tensor([1, 2, 6, 6], new Float32Array(72).fill(0.5)), q.tensor([2, 2, 3, 3], new Float32Array(36).fill(0.1)), q.tensor([2]), 'tanh');
  assert.ok(t instanceof Q16View);
  q.destroy();
});

test('cost recorder: draws into one target share a GPU job until a readback or a read of that target', () => {
  const q = q16Engine();
  const rec = recordContext(q.gl.gl);
  const g = new GlEngine(rec.gl, 'vc4');
  const a = g.allocRect(4, 4), b = g.allocRect(4, 4);
  const pass = (target: typeof a, input: typeof a, draws: number) => g.runRaw({
    name: 'fill', key: 'test:fill', target, fetches: 1, inputs: [{ name: 'x', tex: input.tex }],
    source: () => 'precision highp float;\nuniform sampler2D u_x;\nvoid main() { gl_FragColor = texture2D(u_x, vec2(0.5)); }',
    draws: Array.from({ length: draws }, (_, k) => ({ x: k, y: 0, w: 1, h: 4, uniforms: {} })),
  });
  pass(a, b, 3); // one job of three draws
  pass(a, b, 1); // same target, nothing flushed: still that job
  pass(b, a, 2); // new target: a second job
  g.readRect(b);
  pass(b, a, 1); // after a readback: a third
  pass(a, a, 1); // new target: a fourth ...
  pass(b, b, 1); // ... and a fifth
  pass(b, b, 1); // it samples its own job's target: a sixth
  assert.deepEqual(rec.draws.map((d) => d.job), [0, 0, 0, 0, 1, 1, 2, 3, 4, 5]);
  g.release(a); g.release(b);
  q.destroy();
});

test('the 16-bit engine\'s self-test catches a wrong q16 op (dense 1% off: 5x its 2e-3 tolerance)', async () => {
  q16Engine().destroy(); // fails with the reason if no context opens
  const proto = Q16GlEngine.prototype as unknown as { dense: (...a: unknown[]) => Q16View };
  const dense = proto.dense;
  proto.dense = function (this: Q16GlEngine, ...a: unknown[]) {
    const y = dense.apply(this, a);
    const v = this.read(y).map((x) => x * 1.01);
    const m = v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
    const q = uploadQ16(this.gl, y.q.shape, v, stepExponent(m, 0), Math.random).t;
    this.dispose(y);
    return new Q16View(y.shape, q);
  };
  let c;
  try {
    c = await selectEngine({ device: 'gl', profile: 'vc4' });
  } finally {
    proto.dense = dense;
  }
  assert.equal(c.device, 'cpu', c.reason);
  assert.match(c.reason, /^cpu: GL self-test disagrees with the CPU twin \(dense off by/);
  c.engine.destroy();
  const ok = await selectEngine({ device: 'gl', profile: 'vc4' });
  assert.equal(ok.device, 'gl', ok.reason);
  ok.engine.destroy();
});
