// `vctrain probe --calibrate --quick` on the CI's llvmpipe: every figure is there, it says that it
// measured a software renderer, and the cost model takes the file in place of its defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { calibrate, formatCalibration, writeCalibration } from '../../src/cli/calibrate';
import { loadModel, PI3_DEFAULTS, peaks, project } from '../../src/kernels/gl/cost/pi3-model';
import { glEngine } from './helpers';

test('probe --calibrate --quick measures every figure, says software, and its file replaces the model defaults', () => {
  glEngine('vc4'); // fails with the reason if no context opens
  const r = calibrate({ quick: true });
  for (const k of ['1', '8', '32']) assert.ok(r.fetchRate[k] > 0, `fetch rate at ${k}`);
  assert.ok(r.aluRate > 0 && r.uniformRate > 0 && r.drawSeconds > 0);
  assert.ok(r.uniformVectors >= Math.min(1000, r.maxFragmentUniformVectors - 4) && r.maxFragmentUniformVectors >= 16);
  assert.ok(r.largestStraightLine >= 1024);
  assert.equal(r.software, true, `${r.renderer} / ${r.host}: CI runs llvmpipe`);
  assert.match(r.v3dClock, /vcgencmd/);
  const text = formatCalibration(r);
  for (const re of [/measured a software renderer/, /V3D clock:/, /fetch rate .* 1, 8, 32/, /ALU:/, /uniform operands:/, /largest straight-line/, /per-draw overhead/, /MAX_FRAGMENT_UNIFORM_VECTORS: \d+/])
    assert.match(text, re);

  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vct-cal-')), 'cal.json');
  writeCalibration(file, r);
  const m = loadModel(file);
  assert.match(m.from, /calibration .*a software renderer/);
  assert.equal(m.passSeconds[0], r.drawSeconds);
  assert.ok(Math.abs(m.efficiency[1] - Math.max(r.aluRate / peaks(m).alu, Math.max(...Object.values(r.fetchRate)) / peaks(m).tmu)) < 1e-12);
  const counts = { batch: 64, passes: 50, fetches: 1e9, laneInstructions: 1e10 };
  assert.notDeepEqual(project(counts, m).imagesPerSecond, project(counts, PI3_DEFAULTS).imagesPerSecond);
  fs.writeFileSync(file, '{"renderer":"x"}');
  assert.throws(() => loadModel(file), /cal\.json: calibration lacks aluRate/);
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
});
