// The CPU budget with the budget ON, on a virtual clock: gossip's CPU is a fake clock driven by what
// the node sends (or its real handler time, for junk), training's CPU is the virtual wall clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WIRE_VERSION } from '../../src/sync/crypto';
import { FAST, mulberry32 } from './harness';
import { Encoding, GossipNode, MemoryNetwork, VirtualClock, applyBlend, type GossipPreset } from '../../src/sync/index';
import { CHUNK_BYTES } from '../../src/sync/messages';
import { Shedder } from '../../src/sync/intake';
import type { MemoryTransport } from '../../src/sync/memory';

interface B {
  node: GossipNode;
  t: MemoryTransport;
  vec: Float32Array;
  averagesAt: number[];
  /** Fake gossip CPU ms: `msPerDatagram` for each datagram sent. */
  sent: number;
}

function cluster(n: number, tune: Partial<GossipPreset>, msPerDatagram: number | null, seed = 5) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed });
  const key = randomBytes(32);
  const rand = mulberry32(seed);
  const boards: B[] = [];
  for (let i = 0; i < n; i++) {
    const t = net.endpoint();
    const b: B = { node: null as unknown as GossipNode, t, vec: Float32Array.from({ length: 600 }, () => rand() * 2 - 1), averagesAt: [], sent: 0 };
    const send = t.send.bind(t);
    t.send = (to, d) => {
      b.sent++;
      send(to, d);
    };
    b.node = new GossipNode({
      transport: t, key, cluster: 'budget', id: `b${i}`, seeds: i ? [boards[0].t.address] : [], clock, random: mulberry32(seed * 31 + i),
      fingerprint: 'v', paramCount: 600,
      tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, maxNormRatio: 1e9, maxRelDistance: 1e9, ...tune },
      getSnapshot: () => ({ params: b.vec.slice(), samplesSeen: 0 }),
      // training takes one core all the time; gossip's CPU is what this test says it is
      processCpuClock: () => (msPerDatagram === null ? 4 * clock.now() : clock.now() + b.sent * msPerDatagram),
      ...(msPerDatagram === null ? {} : { cpuClock: () => b.sent * msPerDatagram }),
    });
    b.node.start();
    boards.push(b);
  }
  const run = (ms: number) => {
    for (let t = 0; t < ms; t += 5) {
      clock.advance(5);
      for (const b of boards) {
        const blend = b.node.poll();
        if (blend) {
          applyBlend(b.vec, blend);
          b.averagesAt.push(clock.now());
        }
      }
    }
  };
  return { clock, boards, run, stop: () => boards.forEach((b) => void b.node.stop()) };
}

test('an expensive exchange under a tight budget: every board still averages at least every averageAtLeastEveryMs', () => {
  // ~10 datagrams an exchange at 20 ms each: ~200 ms of gossip per exchange against a budget of
  // 2% of one core, i.e. one exchange per ~10 s of training, shared by 4 boards
  const every = 3000;
  const c = cluster(4, { cpuBudget: 0.02, averageAtLeastEveryMs: every, exchangeIntervalMs: 200 }, 20);
  c.run(2000); // membership settles; the first exchanges go through on the empty history
  const from = c.clock.now();
  c.run(30_000);
  const gaps = c.boards.map((b) => {
    const at = [from, ...b.averagesAt.filter((t) => t >= from), c.clock.now()];
    return Math.max(...at.slice(1).map((t, i) => t - at[i]));
  });
  const overdue = c.boards.map((b) => b.node.stats().budget.overdue);
  const skipped = c.boards.map((b) => b.node.stats().budget.skipped);
  c.stop();
  // a board overdue proposes at its next tick (<= 1.5 x 200 ms) and may meet a busy peer a few times
  assert.ok(gaps.every((g) => g <= every + 2000), `longest time without an average per board: ${gaps}`);
  assert.ok(overdue.every((o) => o > 0), `the guarantee was what let them through: overdue ${overdue}`);
  assert.ok(skipped.every((s) => s > 0), `and the budget did refuse: skipped ${skipped}`);
});

test('with the trainer\'s epochs reported, every board averages in every epoch, at about one guaranteed exchange per board and epoch', () => {
  // the same expensive exchanges and tight budget; epochs of 4 s, begun at staggered times (boards
  // are not in step), and a wall-clock stand-in of 1 s that must no longer set the rate once epochs come
  const epochMs = 4000, epochs = 8;
  const c = cluster(4, { cpuBudget: 0.02, averageAtLeastEveryMs: 1000, exchangeIntervalMs: 200 }, 20);
  c.run(2000);
  const starts: number[][] = c.boards.map(() => []);
  const t0 = c.clock.now();
  for (let t = 0; t < epochs * epochMs + 1500; t += 5) {
    c.boards.forEach((b, i) => {
      const at = t - 500 * i;
      if (at >= 0 && at % epochMs === 0 && at / epochMs < epochs) {
        b.node.epochBegan();
        starts[i].push(c.clock.now());
      }
    });
    c.run(5);
  }
  const end = c.clock.now();
  c.stop();
  c.boards.forEach((b, i) => {
    // epoch 1's length is not known yet (the 1 s stand-in waits); from epoch 2 on, half an epoch
    for (let k = 0; k < epochs; k++) {
      const from = starts[i][k], to = starts[i][k + 1] ?? from + epochMs;
      assert.ok(b.averagesAt.some((a) => a >= from && a < to), `board ${i} epoch ${k + 1} (${from - t0}-${to - t0} ms): averages at ${b.averagesAt.map((a) => a - t0)}`);
    }
    const during = b.averagesAt.filter((a) => a >= starts[i][1] && a < end).length;
    const perEpoch = during / ((end - starts[i][1]) / epochMs);
    // each board is owed one and answers others': about 2 per epoch; the 1 s stand-in would give ~4
    assert.ok(perEpoch <= 2.5, `board ${i}: ${perEpoch.toFixed(2)} averages per epoch (${b.averagesAt.length} in all)`);
  });
});

test('without the guarantee the same budget starves averaging (the guarantee is what the test above measured)', () => {
  const c = cluster(4, { cpuBudget: 0.02, averageAtLeastEveryMs: 0, exchangeIntervalMs: 200 }, 20);
  c.run(2000);
  const before = c.boards.map((b) => b.averagesAt.length);
  c.run(30_000);
  const during = c.boards.map((b, i) => b.averagesAt.length - before[i]);
  c.stop();
  // 30 s of one core at 2% is 600 ms: about 3 exchanges of ~200 ms for the whole board
  assert.ok(during.every((n) => n <= 6), `averages in 30 s per board: ${during}`);
});

test('a flood of unauthenticated datagrams does not spend the budget: averaging goes on (M1)', () => {
  // real handler CPU this time (no fake gossip clock) against a budget of 5% of four virtual cores:
  // room for the real cost of legitimate gossip on a busy test machine, not for the junk's
  const c = cluster(2, { cpuBudget: 0.05, averageAtLeastEveryMs: 0, exchangeIntervalMs: 40 }, null);
  c.run(500);
  const a = c.boards[0];
  const raw0 = a.node.stats().cpuMs, forgiven0 = a.node.stats().budget.forgivenMs;
  const junk = randomBytes(1200);
  // 40,000 junk datagrams within 400 virtual ms, from 4,000 forged sources (so shedding does not hide them)
  for (let k = 0; k < 40; k++) {
    for (let j = 0; j < 1000; j++) {
      junk.writeUInt32BE(k * 1000 + j, 20);
      junk[0] = WIRE_VERSION; // each one goes as far as the AEAD
      a.t.handler!(junk, `10.9.${(j % 4000) >> 8}.${j & 255}:${9000 + (k % 4)}`);
    }
    c.run(10);
  }
  const s = a.node.stats();
  const rawJunk = s.cpuMs - raw0, forgiven = s.budget.forgivenMs - forgiven0;
  const averagesBefore = a.averagesAt.length;
  c.run(1000);
  const after = a.averagesAt.length - averagesBefore;
  const skipped = a.node.stats().budget.skipped;
  c.stop();
  assert.ok(s.dropped.auth >= 30_000, `the junk reached authentication: ${JSON.stringify(s.dropped)}`);
  assert.ok(forgiven >= 0.5 * rawJunk, `junk CPU forgiven ${forgiven.toFixed(1)} ms of ${rawJunk.toFixed(1)} ms spent`);
  assert.ok(after >= 5, `averages in the second after the flood: ${after} (budget skipped ${skipped})`);
});

test('a flood from one source is shed after a few failures; a real peer at that address gets through again', () => {
  const s = new Shedder(32, 1000, 5000, 16);
  let opened = 0;
  for (let i = 0; i < 10_000; i++) {
    if (s.shed('6.6.6.6:1', 0)) continue;
    opened++;
    s.failed('6.6.6.6:1', 0);
  }
  assert.ok(opened <= 32 + 10_000 / 16 + 1, `opened ${opened} of 10,000`);
  assert.equal(s.shed('7.7.7.7:1', 0), false, 'other sources are not affected');
  s.passed('6.6.6.6:1'); // one authenticated datagram from the real peer
  assert.equal(s.shed('6.6.6.6:1', 1), false);
  for (let i = 0; i < 40; i++) s.failed('5.5.5.5:1', 0);
  assert.equal(s.shed('5.5.5.5:1', 5001), false, 'the cool-off ends');
});

test('an exchange that a slow peer lets time out lengthens the timeouts and is not charged', () => {
  // b answers late: 300 ms each way against an exchange deadline of 600 ms
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 9, delayMs: [300, 300] });
  const key = randomBytes(32);
  let gossip = 0;
  const mk = (id: string, seeds: string[]) => {
    const t = net.endpoint();
    const node = new GossipNode({
      transport: t, key, cluster: 'slow', id, seeds, clock, fingerprint: 'v', paramCount: 600,
      tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, exchangeIntervalMs: 1e9, probeTimeoutMs: 2000, suspicionMs: 10_000, retryMs: 700 },
      getSnapshot: () => ({ params: new Float32Array(600).fill(id === 'a' ? 1 : 2), samplesSeen: 0 }),
      cpuClock: () => gossip,
      processCpuClock: () => clock.now(),
    });
    node.start();
    return { node, t };
  };
  const a = mk('a', []), b = mk('b', [a.t.address]);
  for (let t = 0; t < 3000; t += 5) clock.advance(5);
  let done = 0;
  for (let round = 0; round < 4 && !done; round++) {
    assert.ok(a.node.exchangeNow('b'), `round ${round}: exchange started`);
    gossip += 100; // CPU spent during the exchange
    for (let t = 0; t < 10_000 && a.node.busy; t += 5) {
      clock.advance(5);
      if (a.node.poll()) done++;
      b.node.poll();
    }
  }
  const s = a.node.stats();
  void a.node.stop();
  void b.node.stop();
  assert.ok(s.exchangesAborted >= 1, 'the first exchange timed out');
  assert.ok(s.budget.forgivenMs >= 100, `its CPU was forgiven: ${s.budget.forgivenMs}`);
  assert.equal(done, 1, `a later one completed with longer timeouts (scale now ${s.timeoutScale})`);
});
