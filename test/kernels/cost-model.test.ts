// The cost report's pure parts against hand-computed cases: per-fragment counts read off GLSL, the
// vc4 compiler's output parsed, and the Pi 3 projection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countShader, tripCount } from '../../src/kernels/gl/cost/glsl-count';
import { parseVc4Output } from '../../src/kernels/gl/cost/vc4-compiler';
import { PI3_DEFAULTS, project } from '../../src/kernels/gl/cost/pi3-model';
import { lenetMultiplyAdds } from '../../src/bench/step-cost';

test('fetches and uniform reads per fragment: calls weighted by the callee, loops by their trip count', () => {
  const src = `precision highp float;
uniform sampler2D u_x; uniform float u_a; uniform vec4 u_w[3]; uniform mat4 u_m;
// texture2D(u_x, vec2(0.0)) in a comment is not a fetch
float fetch_x(float j) { return texture2D(u_x, vec2(j, 0.5)).r; }
float kernel(float i) {
  float s = u_a;
  for (int k = 0; k < 5; k++) { s += fetch_x(i + float(k)) * u_w[1].x; for (int q = 1; q <= 3; q++) s += fetch_x(2.0); }
  for (int k = 0; k < 4; k += 2) s += texture2D(u_x, vec2(0.5)).g;
  return s;
}
void main() { gl_FragColor = vec4(kernel(1.0) + u_a); }`;
  // fetches: 5 * (1 + 3) + 2 = 22; uniform reads: u_a twice, u_w once in a 5-trip loop = 7;
  // uniform vec4 slots: u_a 1 + u_w 3 + u_m 4 = 8 (the sampler takes none)
  assert.deepEqual(countShader(src), { fetches: 22, uniformReads: 7, uniformVectors: 8, unboundedLoops: 0 });
  assert.equal(tripCount('int k = 0; k < 25; k++'), 25);
  assert.equal(tripCount('int k = 3; k <= 9; k += 3'), 3);
  assert.equal(tripCount('int k = 0; k < n; k++'), null);
  const open = countShader('uniform sampler2D t; void main() { for (int k = 0; k < n; k++) gl_FragColor = texture2D(t, vec2(0.5)); }');
  assert.equal(open.unboundedLoops, 1);
  assert.equal(open.fetches, 1);
});

test('the vc4 compiler output: the FS shader-db line per file, failures named, missing lines reported', () => {
  const out = ['renderer\tVC4 V3D 2.1', 'MAX_FRAGMENT_UNIFORM_VECTORS\t4095',
    'a.glsl\tMESA_SHADER_VERTEX shader: 20 inst, 1 threads, 5 uniforms, 3 max-temps, 30 estimated-cycles',
    'a.glsl\tMESA_SHADER_FRAGMENT shader: 120 inst, 2 threads, 14 uniforms, 9 max-temps, 200 estimated-cycles',
    'a.glsl\tGL_INVALID_FRAMEBUFFER_OPERATION in glDrawArrays',
    'b.glsl\tCOMPILE FAILED: 0:3: syntax error'].join('\n');
  const r = parseVc4Output(out, ['a.glsl', 'b.glsl', 'c.glsl']);
  assert.equal(r.maxFragmentUniformVectors, 4095);
  assert.deepEqual(r.shaders[0], { instructions: 120, threads: 2, uniforms: 14, maxTemps: 9, estimatedCycles: 200 });
  assert.match((r.shaders[1] as { error: string }).error, /COMPILE FAILED: 0:3: syntax error/);
  assert.match((r.shaders[2] as { error: string }).error, /no shader-db line/);
});

test('the Pi 3 projection: peaks from the constants, the slower unit bounds, efficiency and pass cost widen the range', () => {
  // 400 MHz: ALU 12 QPUs x 4 lanes = 19.2 G lane-instructions/s; TMU 6 x 1 = 2.4 G texels/s
  const p = project({ batch: 64, passes: 100, fetches: 2.4e9, laneInstructions: 9.6e9 }, PI3_DEFAULTS);
  assert.equal(p.bound, 'TMU');
  assert.ok(Math.abs(p.tmuSeconds - 1) < 1e-12 && Math.abs(p.aluSeconds! - 0.5) < 1e-12);
  assert.ok(Math.abs(p.ceiling - 64) < 1e-9);
  // slow: 1 / 0.1 + 100 * 1 ms = 10.1 s; fast: 1 / 0.3 + 100 * 0.3 ms = 3.3633 s
  assert.ok(Math.abs(p.imagesPerSecond[0] - 64 / 10.1) < 1e-9);
  assert.ok(Math.abs(p.imagesPerSecond[1] - 64 / (1 / 0.3 + 0.03)) < 1e-9);
  const idle = project({ batch: 64, passes: 0, fetches: 0, laneInstructions: 19.2e9 }, PI3_DEFAULTS, 250);
  assert.equal(idle.bound, 'ALU');
  assert.ok(Math.abs(idle.aluSeconds! - 1.6) < 1e-12);
  const noCompiler = project({ batch: 64, passes: 1, fetches: 2.4e9, laneInstructions: null });
  assert.equal(noCompiler.fetchesOnly, true);
  assert.equal(noCompiler.aluSeconds, null);
});

test('LeNet multiply-adds per image: forward 2.293M, weight gradients the same, input gradients without the first layer', () => {
  // conv1 24*24*20*25 = 288,000; conv2 8*8*50*20*25 = 1,600,000; fc1 800*500; fc2 500*10
  const fwd = 288_000 + 1_600_000 + 400_000 + 5_000;
  assert.equal(lenetMultiplyAdds(), 2 * fwd + (fwd - 288_000));
});
