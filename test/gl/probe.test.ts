import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runProbe, formatProbe } from '../../src/cli/probe';
import { glEngine } from './helpers';

test('probe reports the context, limits, the profile, a passing self-test and both speeds', async () => {
  glEngine('vc4');
  const r = await runProbe({ profile: 'vc4', batch: 2, steps: 1 });
  assert.equal(r.gl.available, true, r.gl.error);
  assert.equal(r.profile?.name, 'vc4');
  assert.ok((r.limits.MAX_TEXTURE_SIZE as number) >= 2048);
  assert.equal(r.selfTest?.ok, true);
  assert.ok((r.imagesPerSecond.gl ?? 0) > 0 && r.imagesPerSecond.cpu > 0);
  const text = formatProbe(r);
  assert.match(text, /profile: vc4 \(--profile vc4\)/);
  assert.match(text, /self-test: ok/);
  assert.doesNotThrow(() => JSON.parse(JSON.stringify(r)));
});
