// The vc4 fetch budget, measured in the shaders the engine really compiles: texture fetches per
// fragment counted from the GLSL source (glsl-fetches.ts), not the number a kernel declares. Every
// program a LeNet training step and the ops' multi-pass shapes build must stay within 64, and the
// declared count (which the engine's own check and stats use) must be the true one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glEngine } from './helpers';
import { fragmentFetches } from './glsl-fetches';
import type { KernelSpec } from '../../src/kernels/gl/program';
import type { GlEngine } from '../../src/kernels/gl/engine';
import { LeNet, initParams, mulberry32 } from '../../src/net/lenet';

test('the fetch counter counts loops, helpers and both arms of a select', () => {
  const src = `
float fetch_a(float j) { return unpackFloat(texture2D(u_a, vec2(j, 0.5))); }
float two(float b) { return fetch_a(b) + fetch_a(b + 1.0); } // texture2D( in a comment is not a fetch
float kernel(float i) {
  float s = 0.0;
  for (int kk = 0; kk < 5; kk++) { s += two(float(kk)); for (int q = 0; q < 3; q++) s += fetch_a(1.0); }
  return i > 1.0 ? fetch_a(i) : s;
}
void main() { gl_FragColor = vec4(kernel(1.0)); }`;
  assert.equal(fragmentFetches(src), 5 * (2 + 3) + 1);
  assert.throws(() => fragmentFetches('void main() { for (int k = 0; k < n; k++) x(); }'), /constant bounds/);
});

/** Records every fragment shader the engine compiles, with the spec it was built from. */
function record(e: GlEngine): { spec: KernelSpec; src: string }[] {
  const seen: { spec: KernelSpec; src: string }[] = [];
  const eng = e as unknown as { program(spec: KernelSpec): unknown; gl: { shaderSource(sh: unknown, src: string): void } };
  const program = eng.program.bind(e);
  let current: KernelSpec | null = null;
  eng.program = (spec: KernelSpec) => { current = spec; try { return program(spec); } finally { current = null; } };
  const shaderSource = eng.gl.shaderSource.bind(eng.gl);
  eng.gl.shaderSource = (sh: unknown, src: string) => {
    if (current) seen.push({ spec: current, src });
    shaderSource(sh, src);
  };
  return seen;
}

test('every vc4 program of a LeNet step (tanh and relu) and of long reductions makes at most 64 fetches, as declared', () => {
  const e = glEngine('vc4');
  const seen = record(e);
  const rnd = mulberry32(3);
  const images = Float32Array.from({ length: 2 * 784 }, () => rnd()), labels = [3, 7];
  for (const act of ['tanh', 'relu'] as const) {
    const net = new LeNet(e, initParams(4), act, 0.9);
    net.step(images, labels, { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    net.destroy();
  }
  // a reduction of 36,864 terms (partials folded over several passes), and softmax (K = 10;
  // a row of K > 31 exceeds the budget and is refused by the profile check: 2K + 1 fetches)
  const big = e.tensor([64, 1, 28, 28]), dy = e.tensor([64, 2, 24, 24]);
  e.read(e.conv2dBackwardFilter(big, dy, [2, 1, 5, 5]));
  e.read(e.softmax(e.tensor([2, 10])));
  assert.ok(seen.length >= 20, `only ${seen.length} programs were built`);
  const names = new Set(seen.map((s) => s.spec.name));
  for (const want of [':partial', ':sum', 'softmaxXent:loss', 'softmaxXent:grad'])
    assert.ok([...names].some((n) => n.includes(want)), `no ${want} program among ${[...names].join(', ')}`);
  for (const { spec, src } of seen) {
    const n = fragmentFetches(src);
    assert.ok(n <= e.profile.maxFetches, `${spec.name}: ${n} texture fetches per fragment in the emitted shader, vc4 allows ${e.profile.maxFetches}`);
    assert.equal(n, spec.fetches, `${spec.name}: the shader makes ${n} fetches, the kernel declares ${spec.fetches}`);
  }
});
