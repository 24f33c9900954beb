// The Pi bundle: `npm run bundle`'s files copied alone into an empty folder must run there with no
// node_modules anywhere above them — probe, and a short two-board job on the built-in digits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildBundle, describe, lastJson, reachableNodeModules, run, shipBox, SHIPPED } from './helpers';

test('the bundle is one file under 5 MB with the dev-only packages left out', () => {
  const dist = buildBundle();
  for (const f of SHIPPED) assert.ok(fs.existsSync(path.join(dist, f)), `${f} missing from the bundle output`);
  const size = fs.statSync(path.join(dist, 'vctrain.cjs')).size;
  assert.ok(size < 5 * 1024 * 1024, `vctrain.cjs is ${size} bytes`);
  const text = fs.readFileSync(path.join(dist, 'vctrain.cjs'), 'utf8');
  assert.ok(text.startsWith('#!/usr/bin/env node'), 'bundle is not directly executable');
  // TensorFlow.js is a benchmark peer only; tsx is how a checkout runs the sources.
  // (Strings found only inside those packages' code, not in vctrain's own references to them.)
  for (const dev of ['Conv2DBackpropFilter', 'looks like you are running TensorFlow.js', 'tsx must be loaded with']) assert.ok(!text.includes(dev), `bundle contains ${dev}`);
});

test('probe --json runs from an empty folder with no node_modules reachable', () => {
  const box = shipBox(buildBundle());
  assert.deepEqual(reachableNodeModules(box), [], 'the test folder must not see any node_modules');
  const r = run(process.execPath, ['vctrain.cjs', 'probe', '--json'], box, 120_000);
  assert.equal(r.status, 0, describe(r));
  const j = lastJson(r.stdout) as { gl?: { available?: boolean; error?: string } };
  // No `gl` beside the bundle or globally: the probe must say the GL path is not there, and why.
  assert.equal(j.gl?.available, false, describe(r));
  assert.match(String(j.gl?.error), /gl/, describe(r));
});

test('a two-board job runs from the bundle folder and reports a trained consensus model', () => {
  const box = shipBox(buildBundle());
  const out = path.join(box, 'run');
  const r = run(process.execPath, ['vctrain.cjs', 'train', '--workers', '2', '--epochs', '1', '--out', out, '--json'], box, 600_000);
  assert.equal(r.status, 0, describe(r));
  const j = lastJson(r.stdout);
  assert.equal(j.workers, 2, describe(r));
  assert.equal(j.device, 'cpu', 'without gl the bundle must train on the CPU engine');
  assert.ok(typeof j.testAccuracy === 'number' && j.testAccuracy > 0.8, `consensus accuracy ${j.testAccuracy} after one epoch\n${describe(r)}`);
  // One clear line about the missing native piece.
  assert.match(r.stdout + r.stderr, /gl[^\n]*(not installed|unavailable|did not load)/i, describe(r));
  assert.ok(fs.existsSync(path.join(out, 'report.json')), 'no report.json in the run folder');
});
