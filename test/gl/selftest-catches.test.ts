// The start-up self-test against GL kernels that are really wrong: a production GlEngine op is
// patched to compute something slightly off (not the self-test's reported error skewed after it
// ran), and the engine choice, and a whole `vctrain train --device gl` run, must fall back to the
// CPU naming the op. The ops patched are the exact engine's, so the profile is vc4-exact (vc4 trains
// with the 16-bit kernels of gl/q16/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { selectEngine } from '../../src/kernels/select';
import { spawnSync } from 'node:child_process';
import { writeTinyMnist } from '../cluster/tiny-data';
import { glEngine } from './helpers';
import { scaleBy, spoilOp, type Op } from './fixtures/wrong-op';

test('a GL op that is really wrong fails the self-test: the choice falls back to the CPU naming the op', async () => {
  glEngine('vc4'); // fails with the reason if no context opens
  const cases: [Op, (d: Float32Array) => void][] = [
    ['dense', scaleBy(1 + 1e-3)], // 1e-3 relative: 10x the self-test's tolerance
    ['conv2dBackwardInput', (d) => { d[d.length - 1] = 0; }], // one element lost, as a dropped edge term would
    ['maxPoolBackward', (d) => { const i = d.findIndex((v) => v !== 0); d[i + 1] = d[i]; d[i] = 0; }], // gradient routed to the wrong cell
  ];
  for (const [op, spoil] of cases) {
    const restore = spoilOp(op, spoil);
    const c = await selectEngine({ device: 'gl', profile: 'vc4-exact' }).finally(restore);
    assert.equal(c.device, 'cpu', `${op}: ${c.reason}`);
    assert.equal(c.engine.kind, 'cpu');
    assert.match(c.reason, new RegExp(`^cpu: GL self-test disagrees with the CPU twin \\(${op} off by`), op);
    c.engine.destroy();
  }
  // and unpatched, the same call takes the GL engine (so the cases above were failed by the patch)
  const ok = await selectEngine({ device: 'gl', profile: 'vc4-exact' });
  assert.equal(ok.device, 'gl', ok.reason);
  ok.engine.destroy();
});

test('vctrain train --device gl with a wrong GL dense trains on the CPU and says why', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-wrong-gl-'));
  try {
    const data = writeTinyMnist(path.join(tmp, 'data'), 10, 5);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'wrong-op.ts'),
      'train', '--workers', '1', '--device', 'gl', '--profile', 'vc4-exact', '--epochs', '1', '--batch', '20', '--threads', '1',
      '--data', data, '--out', path.join(tmp, 'run'), '--json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const s = JSON.parse(r.stdout.trimEnd().split('\n').pop()!);
    assert.equal(s.device, 'cpu', r.stdout);
    assert.match(r.stdout, /GL self-test disagrees with the CPU twin \(dense off by/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
