// The profile comes from what a context offers; only a VideoCore IV is recognised by name.
// Fake contexts: the facts a Pi 3, a Pi 4, llvmpipe and a weak GPU would report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseProfile, contextFacts, floatTargets, videoCoreIV, type ContextFacts } from '../../src/kernels/gl/profile';

const desktop: ContextFacts = {
  renderer: 'ANGLE (llvmpipe (LLVM 15.0.6, 256 bits))', host: '', extensions: ['OES_texture_float', 'WEBGL_color_buffer_float'],
  maxTextureSize: 8192, maxFragmentUniformVectors: 1024, maxVaryingVectors: 15, fragmentHighpBits: 23,
};

test('a Pi 3 is a VideoCore IV by its renderer, its DRM driver or its board model', () => {
  for (const f of [{ renderer: 'VC4 V3D 2.1' }, { renderer: 'VideoCore IV HW' }, { host: 'drm card0: vc4-drm' },
    { host: 'Raspberry Pi 3 Model B Plus Rev 1.3' }, { host: 'Raspberry Pi Zero 2 W Rev 1.0' }]) {
    const c = chooseProfile({ ...desktop, extensions: [], ...f });
    assert.equal(c.profile, 'vc4', JSON.stringify(f));
    assert.match(c.why, /^VideoCore IV \(/);
  }
});

test('a Pi 4 or 5 (V3D 4.2, the v3d driver beside vc4-drm) is not a VideoCore IV and gets what its limits allow', () => {
  for (const f of [{ renderer: 'V3D 4.2' }, { renderer: 'ANGLE', host: 'drm card0: v3d; drm card1: vc4-drm; Raspberry Pi 4 Model B Rev 1.4' },
    { renderer: 'ANGLE', host: 'Raspberry Pi 5 Model B Rev 1.0' }]) {
    assert.equal(videoCoreIV(f.renderer, f.host ?? ''), null, JSON.stringify(f));
    const c = chooseProfile({ ...desktop, ...f });
    assert.equal(c.profile, 'desktop', JSON.stringify(f));
    assert.match(c.why, /not a VideoCore IV.*float render targets offered/);
  }
});

test('a context below the desktop profile gets the vc4 rules and says which limit; --profile wins', () => {
  const weak = chooseProfile({ ...desktop, fragmentHighpBits: 10, maxVaryingVectors: 4 });
  assert.equal(weak.profile, 'vc4');
  assert.match(weak.why, /highp float has 10 bits < 23; MAX_VARYING_VECTORS 4 < 8/);
  assert.deepEqual(chooseProfile({ ...desktop, renderer: 'VC4 V3D 2.1' }, 'desktop'), { profile: 'desktop', why: '--profile desktop' });
  assert.match(chooseProfile({ ...desktop, extensions: ['OES_texture_float'] }).why, /no float render targets/);
  assert.equal(floatTargets(['OES_texture_float', 'EXT_color_buffer_float']), true);
  assert.equal(floatTargets(['WEBGL_color_buffer_float']), false);
});

test('contextFacts reads the unmasked renderer and the limits from a context', () => {
  const P: Record<number, unknown> = { 1: 'ANGLE', 2: 4096, 3: 256, 4: 8, 9: 'Mesa llvmpipe' };
  const gl = {
    RENDERER: 1, MAX_TEXTURE_SIZE: 2, MAX_FRAGMENT_UNIFORM_VECTORS: 3, MAX_VARYING_VECTORS: 4, FRAGMENT_SHADER: 5, HIGH_FLOAT: 6,
    getSupportedExtensions: () => ['WEBGL_debug_renderer_info'], getExtension: () => ({ UNMASKED_RENDERER_WEBGL: 9 }),
    getParameter: (k: number) => P[k], getShaderPrecisionFormat: () => ({ precision: 23 }),
  };
  assert.deepEqual(contextFacts(gl, 'drm card0: i915'), {
    renderer: 'ANGLE (Mesa llvmpipe)', host: 'drm card0: i915', extensions: ['WEBGL_debug_renderer_info'],
    maxTextureSize: 4096, maxFragmentUniformVectors: 256, maxVaryingVectors: 8, fragmentHighpBits: 23,
  });
});
