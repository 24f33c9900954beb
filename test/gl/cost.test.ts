// The cost report on a real context: the recorder sees each draw of a hand-made kernel with the
// fragments and fetches worked out by hand, and a whole step's report agrees with the engine's own
// counts; with no vc4 compiler built, the report says so instead of failing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GlEngine } from '../../src/kernels/gl/engine';
import { loadGl } from '../../src/kernels/gl/load-gl';
import { countShader } from '../../src/kernels/gl/cost/glsl-count';
import { recordContext } from '../../src/kernels/gl/cost/recorder';
import { formatCost, measureStepCost } from '../../src/bench/step-cost';
import { glEngine } from './helpers';

test('the recorder: one draw of a 6-output kernel with a 3-fetch loop is 6 fragments and 18 fetches', () => {
  glEngine('vc4'); // fails with the reason if no context opens
  const f = loadGl();
  assert.ok(!('error' in f));
  const rec = recordContext(f.create(1, 1)!);
  const e = GlEngine.create({ gl: rec.gl, profile: 'vc4' });
  const x = e.tensor([8], Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
  const body = `float kernel(float i) { float s = 0.0; for (int k = 0; k < 3; k++) s += fetch_x(i + float(k)); return s; }`;
  const y = e.run({ name: 'sum3', inputs: ['x'], inputSizes: [8], outSize: 6, body, fetches: 3 }, [x as never], [6]);
  assert.deepEqual(Array.from(e.read(y)), [6, 9, 12, 15, 18, 21]);
  assert.equal(rec.draws.length, 1);
  assert.equal(rec.draws[0].fragments, 6);
  const c = countShader(rec.programs[rec.draws[0].program].fragmentSource);
  assert.equal(c.fetches, 3);
  assert.equal(c.fetches * rec.draws[0].fragments, e.stats.fetches);
  e.destroy();
});

test('a step\'s report agrees with the engine\'s counts, and says so when the vc4 compiler is absent', () => {
  glEngine('vc4');
  const r = measureStepCost({ profile: 'vc4', batch: 2, vc4Compiler: '/nonexistent/vc4stats.sh' });
  assert.match(r.vc4.absent ?? '', /not built at \/nonexistent\/vc4stats\.sh/);
  assert.equal(r.draws, r.passes);
  // the GLSL count is an upper bound (both arms of a branch); the engine's is from its kernel specs
  assert.ok(r.fetches >= r.engineFetches && r.fetches <= 1.02 * r.engineFetches, `${r.fetches} vs ${r.engineFetches}`);
  assert.ok(r.programs.length > 5 && r.fragments > 0 && r.uniformReads > 0);
  assert.equal(r.projection.busy.fetchesOnly, true);
  assert.ok(r.projection.busy.imagesPerSecond[0] < r.projection.busy.imagesPerSecond[1]);
  assert.ok(r.projection.idle.imagesPerSecond[1] < r.projection.busy.imagesPerSecond[1]);
  const text = formatCost(r);
  assert.match(text, /vc4 compiler: none \(.*\); no QPU instruction counts/);
  assert.match(text, /projected Pi 3 \(vc4\): .* fetches only/);
});
