// A GL board counts at least one core's time as training when it judges gossip's CPU share; once a
// GL fault has moved it to the CPU engine, that floor must go, or gossip keeps the larger budget of a
// board whose CPU sits idle (issue 12, the review's note on board.ts:100).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBudget } from '../../src/sync/budget';

test('the budget floor can be lowered while the node runs, and the share is judged without it from then on', () => {
  let now = 0, gossip = 0, proc = 0;
  const b = new CpuBudget({ cpuBudget: 0.05, cpuBudgetFloorCores: 1, now: () => now, gossipCpu: () => gossip, processCpu: () => proc });
  b.share();
  // 10 s of wall time; the trainer used 2 s of CPU, gossip 0.3 s.
  now = 10_000; gossip = 300; proc = 2_300;
  assert.ok(Math.abs(b.share() - 300 / 10_000) < 1e-9, 'with the floor, the rest counts as one core for 10 s');
  b.floorCores = 0;
  assert.ok(Math.abs(b.share() - 300 / 2_000) < 1e-9, 'without it, gossip is measured against the 2 s the trainer really used');
});
