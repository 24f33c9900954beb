// The gossip CPU budget over time, on a virtual clock: the window the share is measured over, the
// next exchange's cost counted ahead, aborted and forgiven exchanges, and a responder that refuses
// Proposes while over its budget and accepts again once the spending has left the window. Every
// expected figure is worked out by hand in the table beside it (gossip ms / other ms over the
// window), not by a second copy of CpuBudget's arithmetic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { CpuBudget } from '../../src/sync/budget';
import { Encoding, GossipNode, MemoryNetwork, VirtualClock } from '../../src/sync/index';
import { CHUNK_BYTES } from '../../src/sync/messages';
import { FAST } from './harness';

/** A process on a virtual clock: each virtual second the trainer takes `trainerMs` of CPU and
 * gossip `gossipMs`, and the budget is read once (as the node reads it at each exchange tick). */
function machine(cpuBudget: number, floorCores = 0) {
  const m = { now: 0, gossip: 0, proc: 0 };
  const b = new CpuBudget({ cpuBudget, cpuBudgetFloorCores: floorCores, now: () => m.now, gossipCpu: () => m.gossip, processCpu: () => m.proc });
  b.share(); // the first reading: the window starts at 0
  const seconds = (n: number, gossipMs: number, trainerMs = 1000) => {
    for (let i = 0; i < n; i++) {
      m.now += 1000;
      m.gossip += gossipMs;
      m.proc += gossipMs + trainerMs;
      b.share();
    }
  };
  /** gossip CPU spent at once (an exchange's burst); the process clock counts it too */
  const spend = (ms: number) => {
    m.gossip += ms;
    m.proc += ms;
  };
  return { m, b, seconds, spend };
}

const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 1e-12, `${what}: ${got}, want ${want}`);

test('the share covers about the last minute: a burst counts until it leaves the window, then not at all', () => {
  const { b, seconds, spend } = machine(0.05);
  seconds(10, 10);
  near(b.share(), 100 / 10_000, 't=10 s: 10 ms a second against one core');
  spend(600);
  seconds(1, 10);
  near(b.share(), 710 / 11_000, 't=11 s: the 600 ms burst on top');
  assert.equal(b.over(), true, 't=11 s: 6.5% > 5%');
  seconds(59, 10);
  // window [10 s, 70 s]: 60 s x 10 ms + the burst (it came after the reading at 10 s)
  near(b.share(), 1200 / 60_000, 't=70 s: the burst still inside');
  assert.equal(b.over(), false, 't=70 s: 2% < 5%');
  seconds(1, 10);
  near(b.share(), 600 / 60_000, 't=71 s: window [11 s, 71 s], the burst gone');
  seconds(120, 10);
  near(b.share(), 600 / 60_000, 't=191 s: the window stays a minute long');
});

test('a GL board\'s floor counts one core as training however little CPU the trainer takes', () => {
  const gl = machine(0.05, 1);
  gl.seconds(60, 30, 100); // the trainer waits on the GPU: 100 ms of CPU a second
  near(gl.b.share(), 1800 / 60_000, 'floor: 30 ms a second against 1000');
  assert.equal(gl.b.over(), false);
  const cpu = machine(0.05, 0);
  cpu.seconds(60, 30, 100);
  near(cpu.b.share(), 1800 / 6_000, 'no floor: 30 ms a second against the 100 ms the trainer used');
  assert.equal(cpu.b.over(), true);
});

test('the next exchange is counted ahead at the moving average of completed ones; aborted ones cost but do not set it, forgiven ones neither', () => {
  const { b, seconds, spend } = machine(0.05);
  seconds(60, 40); // 2400 ms of gossip over 60 s: 4%
  near(b.share(), 2400 / 60_000, 'steady 4%');
  assert.equal(b.over(), false, 'no exchange measured yet: nothing counted ahead');
  b.exchangeBegan(); spend(500); b.exchangeEnded(true); // estimate 500
  near(b.share(), 2900 / 60_000, 'the exchange itself is in the share');
  // 2900 + 500 ahead = 3400 / 60000 = 5.67%: over, although the share alone is 4.83%
  assert.equal(b.over(), true, 'counted ahead: (2900 + 500) / 60000 > 5%');
  seconds(61, 40); // the 500 ms leave the window: 2400 in it again
  near(b.share(), 2400 / 60_000, 'the burst has left the window');
  // (2400 + 500) / 60000 = 4.83%: not over
  assert.equal(b.over(), false);
  b.exchangeBegan(); spend(100); b.exchangeEnded(true); // estimate 0.7 x 500 + 0.3 x 100 = 380
  // (2500 + 380) / 60000 = 4.8%
  near(b.share(380) - b.share(), 380 / 60_000, 'share(extra) adds extra to gossip\'s side');
  assert.equal(b.over(), false);
  // The estimate line below is 600 ms (over() iff 2400 + estimate > 3000 once only the steady 40 ms
  // a second is in the window). An aborted 1400 ms exchange taken into the average would make it
  // 0.7 x 380 + 0.3 x 1400 = 686, a forgiven 1200 ms one 0.7 x 380 + 0.3 x 1200 = 626: either
  // would put over() on the other side.
  b.exchangeBegan(); spend(1400); b.exchangeEnded(false); // aborted: charged, the estimate stays 380
  near(b.share(), 3900 / 60_000, 'the aborted exchange is charged');
  b.exchangeBegan(); spend(1200); b.exchangeEnded(false, true); // a slow peer's timeout: forgiven
  // Forgiven CPU is gossip's, not training's: it leaves both sides of the share, so the
  // denominator stays the trainer's 60,000 ms (counting it as training would lower the share).
  near(b.share(), 3900 / 60_000, 'the forgiven exchange is not charged, nor counted as training');
  near(b.forgivenMs, 1200, 'forgiven ms');
  seconds(61, 40); // everything above leaves the window: 2400 ms in it
  near(b.share(), 2400 / 60_000, 'window emptied of the exchanges');
  assert.equal(b.over(), false, 'estimate still 380: the aborted and forgiven exchanges did not raise it');
  b.exchangeBegan(); spend(2000); b.exchangeEnded(true); // 0.7 x 380 + 0.3 x 2000 = 866
  seconds(61, 40);
  near(b.share(), 2400 / 60_000, 'and the 2000 ms left the window');
  assert.equal(b.over(), true, 'estimate 866 > 600: over, from the estimate alone');
});

test('evaluation CPU is neither training nor gossip: a board that evaluates a lot gets no more gossip room than one that does not', () => {
  // Two boards, the same each second: 1000 ms of training, 40 ms of gossip. Board B also spends
  // 3000 ms evaluating, reported as not training (at ten boards an epoch's evaluation took more CPU
  // than its training). Both shares are 40 / 1000 = 4%; counted as training, B's would read 1%.
  const boards = [0, 3000].map((evalPerSecond) => {
    const m = { now: 0, gossip: 0, proc: 0, eval: 0 };
    const b = new CpuBudget({ cpuBudget: 0.03, cpuBudgetFloorCores: 0, now: () => m.now, gossipCpu: () => m.gossip, processCpu: () => m.proc, notTrainingCpu: () => m.eval });
    b.share();
    for (let i = 0; i < 30; i++) {
      m.now += 1000;
      m.gossip += 40;
      m.eval += evalPerSecond;
      m.proc += 40 + 1000 + evalPerSecond;
      b.share();
    }
    return b;
  });
  for (const [i, b] of boards.entries()) {
    near(b.share(), 1200 / 30_000, `board ${i}: last-minute share, 1200 ms of gossip per 30,000 of training`);
    near(b.runShare(), 1200 / 30_000, `board ${i}: the run's share`);
    assert.equal(b.over(), true, `board ${i}: 4% is over a 3% budget, however much it evaluates`);
    assert.equal(b.runAllows(), false, `board ${i}: and the run has no room either`);
  }
});

test('budget 0 lifts the limit whatever the share', () => {
  const { b, seconds } = machine(0);
  seconds(60, 900, 100);
  assert.ok(b.share() > 1);
  assert.equal(b.over(), false);
});

test('a responder over its budget refuses Proposes as busy, and accepts again once its spending has left the window', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 4 });
  const key = randomBytes(32);
  let bGossip = 0;
  const mk = (id: string, seeds: string[], tune: object, cpu?: () => number) => {
    const t = net.endpoint();
    const node = new GossipNode({
      transport: t, key, cluster: 'resp', id, seeds, clock, fingerprint: 'v', paramCount: 64,
      // no exchanges of their own (exchangeIntervalMs 1e9): the test starts each one; no guarantee
      // (averageAtLeastEveryMs 0), so only the budget decides
      tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, exchangeIntervalMs: 1e9, averageAtLeastEveryMs: 0, ...tune },
      getSnapshot: () => ({ params: new Float32Array(64).fill(id === 'a' ? 1 : 3), samplesSeen: 0 }),
      processCpuClock: () => clock.now() + (cpu ? cpu() : 0), // one core of training
      ...(cpu ? { cpuClock: cpu } : {}),
    });
    node.start();
    return { node, t };
  };
  const a = mk('a', [], { cpuBudget: 0 });
  const b = mk('b', [a.t.address], { cpuBudget: 0.05 }, () => bGossip);
  const run = (ms: number) => {
    let blends = 0;
    for (let t = 0; t < ms; t += 5) {
      clock.advance(5);
      if (a.node.poll()) blends++;
      b.node.poll();
    }
    return blends;
  };
  run(2000); // they meet
  const tryOnce = () => {
    assert.ok(a.node.exchangeNow('b'), 'a starts an exchange');
    return run(1000);
  };
  assert.equal(tryOnce(), 1, 'within budget: b accepts and they average');
  bGossip += 6000; // a 6 s burst of gossip CPU on b (the share is read at each Propose it answers)
  run(1000);
  const refusedBefore = b.node.stats().budget.refused, peerRefusals = a.node.stats().peerRefusals;
  assert.equal(tryOnce(), 0, 'b over budget refuses');
  assert.equal(b.node.stats().budget.refused, refusedBefore + 1, 'b counts the refusal as its budget\'s');
  assert.equal(a.node.stats().peerRefusals, peerRefusals + 1, 'a hears "busy"');
  run(30_000);
  assert.equal(tryOnce(), 0, '30 s later the burst is still in b\'s window: refused again');
  run(31_000);
  assert.equal(tryOnce(), 1, 'a minute after the burst b accepts again');
  void a.node.stop();
  void b.node.stop();
});

test('the run\'s share counts a gossip thread\'s start-up when told it (startupCpuMs): it is on the thread\'s clock and in the share a board reports', () => {
  for (const startupCpuMs of [0, 300]) {
    const m = { now: 0, gossip: 300, proc: 2000 }; // the clocks as the node is made: 300 ms of start-up on gossip's
    const b = new CpuBudget({ cpuBudget: 0.05, cpuBudgetFloorCores: 0, now: () => m.now, gossipCpu: () => m.gossip, processCpu: () => m.proc, startupCpuMs });
    m.now += 5000;
    m.proc += 5000; // five seconds of training, no gossip
    // 300 / 5000 = 6% counted, 0 not
    near(b.runShare(), startupCpuMs / 5000, `startupCpuMs ${startupCpuMs}: the run's share`);
    assert.equal(b.runAllows(), startupCpuMs === 0, `startupCpuMs ${startupCpuMs}: room in the run`);
    near(b.share(), 0, 'the last minute\'s share starts at the node either way');
  }
});
