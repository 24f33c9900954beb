// The vc4 profile's rules are enforced, and its special-function emulation really is coarse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glEngine } from './helpers';
import { checkProfile, ProfileViolation, type KernelSpec } from '../../src/kernels/gl/program';
import { PROFILES } from '../../src/kernels/gl/profile';

const spec = (body: string, fetches = 1): KernelSpec => ({ name: 't', inputs: ['x'], inputSizes: [4], outSize: 4, body, fetches });

test('vc4 rejects special functions, division, extensions and over-budget fetches; desktop allows them', () => {
  for (const body of ['float kernel(float i) { return exp(fetch_x(i)); }', 'float kernel(float i) { return fetch_x(i) / 3.0; }',
    '#extension GL_OES_standard_derivatives : enable\nfloat kernel(float i) { return fetch_x(i); }',
    'float kernel(float i) { return pow(fetch_x(i), 2.0); }']) {
    assert.throws(() => checkProfile(spec(body), PROFILES.vc4), ProfileViolation, body);
  }
  assert.throws(() => checkProfile(spec('float kernel(float i) { return fetch_x(i); }', 65), PROFILES.vc4), /texture fetches/);
  checkProfile(spec('float kernel(float i) { return exp(fetch_x(i)) / 3.0; }', 65), PROFILES.desktop);
});

function runSfu(profile: 'vc4' | 'desktop', fn: string, xs: Float32Array): Float32Array {
  const e = glEngine(profile);
  const t = e.tensor([xs.length], xs);
  const out = e.run({ name: `sfu:${fn}`, inputs: ['x'], inputSizes: [xs.length], outSize: xs.length, fetches: 1,
    body: `float kernel(float i) { return ${fn}(fetch_x(i)); }` }, [t as never], [xs.length]);
  const r = e.read(out);
  e.dispose(t); e.dispose(out);
  return r;
}

test('vc4 rounds exp2/log2 to ~12 bits (so code leaning on them shows it); the precise paths stay at ~1e-6', () => {
  const xs = Float32Array.from({ length: 512 }, (_, i) => 0.37 + i * 0.0137);
  const rel = (a: Float32Array, f: (x: number) => number) => Math.max(...Array.from(a, (v, i) => Math.abs(v - f(xs[i])) / Math.abs(f(xs[i]))));
  const vc4Exp2 = rel(runSfu('vc4', 'SFU_EXP2', xs), (x) => 2 ** x), deskExp2 = rel(runSfu('desktop', 'SFU_EXP2', xs), (x) => 2 ** x);
  const vc4Log2 = rel(runSfu('vc4', 'SFU_LOG2', xs.map((x) => x + 2)), (x) => Math.log2(x + 2));
  assert.ok(vc4Exp2 > 3e-5 && vc4Exp2 < 3e-4, `vc4 exp2 error ${vc4Exp2}`);
  assert.ok(vc4Log2 > 3e-5 && vc4Log2 < 3e-4, `vc4 log2 error ${vc4Log2}`);
  assert.ok(deskExp2 < 1e-5, `desktop exp2 error ${deskExp2}`);
  const precExp = rel(runSfu('vc4', 'precExp', xs), Math.exp), precLog = rel(runSfu('vc4', 'precLog', xs), Math.log);
  const precTanh = rel(runSfu('vc4', 'precTanh', xs.map((x) => x - 3)), (x) => Math.tanh(x - 3) || 1);
  assert.ok(precExp < 2e-6, `vc4 precExp error ${precExp}`);
  assert.ok(precLog < 2e-6, `vc4 precLog error ${precLog}`);
  assert.ok(precTanh < 5e-6, `vc4 precTanh error ${precTanh}`);
});
