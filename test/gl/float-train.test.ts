// Whole LeNet training steps in the float profile against the CPU engine, through the production
// forward and backward pass (LeNet.gradients / LeNet.step), and the profile's choice from a context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertStepGradients, assertTenSteps } from './helpers';
import { destroyFloatEngine, floatEngine } from './float-helpers';
import { FloatEngine } from '../../src/kernels/gl/float/engine';
import { GlUnavailableError } from '../../src/kernels/gl/errors';
import { chooseProfile, type ContextFacts } from '../../src/kernels/gl/profile';
import { openGl } from '../../src/kernels/select';
import type { Activation } from '../../src/kernels/engine';

for (const act of ['tanh', 'relu'] as Activation[]) {
  test(`one whole LeNet training step (${act}): every gradient in the float profile matches the CPU engine`, () => {
    // Per tensor, relative to its largest gradient: sums of up to 4·24·24 float32 terms, whose error
    // scales with the terms' size. 1e-5 is a hundredth of bench/gl-gradient-error.ts's 1e-3 target.
    assertStepGradients(floatEngine(), act, 1e-5);
  });
}

test('ten float-profile training steps (tanh, momentum 0.9) end within tolerance of the CPU engine', () => {
  assertTenSteps(floatEngine(), 'tanh', 1e-5, 1e-4);
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
