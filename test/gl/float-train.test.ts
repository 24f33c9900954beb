// Whole LeNet training steps in the float profile against the CPU engine, through the production
// forward and backward pass (LeNet.gradients / LeNet.step), and the profile's choice from a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { relErr } from './helpers';
import { destroyFloatEngine, floatEngine } from './float-helpers';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { FloatEngine } from '../../src/kernels/gl/float/engine';
import { GlUnavailableError } from '../../src/kernels/gl/errors';
import { chooseProfile, type ContextFacts } from '../../src/kernels/gl/profile';
import { openGl } from '../../src/kernels/select';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';
import type { Activation } from '../../src/kernels/engine';
import { paramOffsets } from '../../src/net/spec';


function batch(n: number, seed: number) {
  const rnd = mulberry32(seed);
  return { images: Float32Array.from({ length: n * 784 }, () => rnd()), labels: Array.from({ length: n }, () => Math.floor(rnd() * 10)) };
}

for (const act of ['tanh', 'relu'] as Activation[]) {
  test(`one whole LeNet training step (${act}): every gradient in the float profile matches the CPU engine`, () => {
    const { images, labels } = batch(4, 5);
    const params = initParams(5);
    const g = new LeNet(floatEngine(), params, act, 0), c = new LeNet(new CpuEngine(), params, act, 0);
    const a = g.gradients(images, labels), b = c.gradients(images, labels);
    g.destroy();
    c.destroy();
    // Per tensor, relative to its largest gradient: sums of up to 4·24·24 float32 terms, whose error
    // scales with the terms' size. 1e-5 is a hundredth of bench/gl-gradient-error.ts's 1e-3 target.
    for (const p of paramOffsets()) {
      const r = relErr(a.subarray(p.offset, p.offset + p.size), b.subarray(p.offset, p.offset + p.size));
      assert.ok(r <= 1e-5, `${p.name} gradient relative error ${r}`);
    }
  });
}

test('ten float-profile training steps (tanh, momentum 0.9) end within tolerance of the CPU engine', () => {
  const p0 = initParams(9);
  const g = new LeNet(floatEngine(), p0, 'tanh', 0.9), c = new LeNet(new CpuEngine(), p0, 'tanh', 0.9);
  const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 };
  for (let s = 0; s < 10; s++) {
    const { images, labels } = batch(8, 100 + s);
    const lg = g.step(images, labels, sgd).loss, lc = c.step(images, labels, sgd).loss;
    assert.ok(Math.abs(lg - lc) <= 1e-5, `step ${s}: loss ${lg} vs ${lc}`);
  }
  const pg = g.getParams(), pc = c.getParams();
  // what training changed, so that an engine that did nothing could not pass on the shared start
  const dg = pg.map((v, i) => v - p0[i]), dc = pc.map((v, i) => v - p0[i]);
  assert.ok(dc.some((v) => v !== 0), 'the CPU run changed the parameters');
  assert.ok(relErr(dg, dc) <= 1e-4, `parameter change after 10 steps: relative error ${relErr(dg, dc)}`);
  g.destroy();
  c.destroy();
});

test('a context that renders to RGBA32F gets the float profile, and says why; one that cannot does not', () => {
  const base: ContextFacts = {
    renderer: 'V3D 4.2', host: 'drm card0: v3d; Raspberry Pi 4 Model B Rev 1.4', extensions: ['OES_texture_float'],
    maxTextureSize: 4096, maxFragmentUniformVectors: 256, maxVaryingVectors: 8, fragmentHighpBits: 23,
  };
  const pi4 = chooseProfile({ ...base, floatUnsupported: null });
  assert.equal(pi4.profile, 'float');
  assert.match(pi4.why, /complete RGBA32F framebuffer/);
  const no = chooseProfile({ ...base, floatUnsupported: 'an RGBA32F framebuffer is not complete (status 0x8cdd)' });
  assert.equal(no.profile, 'desktop');
  assert.match(no.why, /no float profile: an RGBA32F framebuffer is not complete/);
  // A VideoCore IV stays vc4 whatever it claims.
  assert.equal(chooseProfile({ ...base, renderer: 'VC4 V3D 2.1', floatUnsupported: null }).profile, 'vc4');
  assert.deepEqual(chooseProfile({ ...base, floatUnsupported: null }, 'desktop'), { profile: 'desktop', why: '--profile desktop' });
});

test('on this context (llvmpipe renders to RGBA32F) the engine opened without --profile is the float one', () => {
  let opened;
  try {
    opened = openGl({});
  } catch (err) {
    assert.fail(`no GL context: ${(err as Error).message} (run under xvfb-run -a -s '-screen 0 64x64x24')`);
  }
  assert.ok(opened.engine instanceof FloatEngine, opened.why);
  assert.match(opened.why, /complete RGBA32F framebuffer/);
  opened.engine.destroy();
});

test('--profile float on a context without float textures or float targets is refused in one line saying which', () => {
  const fake = (ext: boolean, status: number) => ({
    FRAMEBUFFER_COMPLETE: 0x8cd5, NO_ERROR: 0, getError: () => 0, getExtension: (n: string) => (ext && n === 'OES_texture_float' ? {} : null),
    createTexture: () => ({}), createFramebuffer: () => ({}), getParameter: () => null, bindTexture: () => {}, texImage2D: () => {},
    bindFramebuffer: () => {}, framebufferTexture2D: () => {}, checkFramebufferStatus: () => status, deleteFramebuffer: () => {}, deleteTexture: () => {},
  });
  assert.throws(() => new FloatEngine(fake(false, 0x8cd5)), (e: Error) => e instanceof GlUnavailableError && /^profile float: no OES_texture_float$/.test(e.message));
  assert.throws(() => new FloatEngine(fake(true, 0x8cdd)), (e: Error) => e instanceof GlUnavailableError && /^profile float: an RGBA32F framebuffer is not complete \(status 0x8cdd\)$/.test(e.message));
});

test.after(destroyFloatEngine);
