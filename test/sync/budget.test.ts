// The CPU budget with the budget ON, on a virtual clock: gossip's CPU is a fake clock driven by what
// the node sends (or its real handler time, for junk), training's CPU is the virtual wall clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { WIRE_VERSION } from '../../src/sync/crypto';
import { FAST, mulberry32 } from './harness';
import { Encoding, GossipNode, MemoryNetwork, VirtualClock, applyBlend, datagramLength, type GossipPreset } from '../../src/sync/index';
import { CHUNK_BYTES } from '../../src/sync/messages';
import { Shedder } from '../../src/sync/intake';
import type { MemoryTransport } from '../../src/sync/memory';

interface B {
  node: GossipNode;
  t: MemoryTransport;
  vec: Float32Array;
  averagesAt: number[];
  /** Fake gossip CPU ms: `msPerChunk` for each model chunk sent (control datagrams are free, so
   * that the arithmetic is about exchanges), plus whatever a test adds. */
  cpu: number;
  epochsAt: number[];
}

function cluster(n: number, tune: Partial<GossipPreset>, msPerChunk: number | null, seed = 5) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed });
  const key = randomBytes(32);
  const rand = mulberry32(seed);
  const boards: B[] = [];
  for (let i = 0; i < n; i++) {
    const t = net.endpoint();
    const b: B = { node: null as unknown as GossipNode, t, vec: Float32Array.from({ length: 600 }, () => rand() * 2 - 1), averagesAt: [], cpu: 0, epochsAt: [] };
    const send = t.send.bind(t);
    t.send = (to, d) => {
      if (datagramLength(d) > 400) b.cpu += msPerChunk ?? 0;
      send(to, d);
    };
    b.node = new GossipNode({
      transport: t, key, cluster: 'budget', id: `b${i}`, seeds: i ? [boards[0].t.address] : [], clock, random: mulberry32(seed * 31 + i),
      fingerprint: 'v', paramCount: 600,
      tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, maxNormRatio: 1e9, maxRelDistance: 1e9, ...tune },
      getSnapshot: () => ({ params: b.vec.slice(), samplesSeen: 0 }),
      // training takes one core all the time; gossip's CPU is what this test says it is
      processCpuClock: () => (msPerChunk === null ? 4 * clock.now() : clock.now() + b.cpu),
      ...(msPerChunk === null ? {} : { cpuClock: () => b.cpu }),
    });
    b.node.start();
    boards.push(b);
  }
  /** Runs `ms` of virtual time; with epochMs, board i begins an epoch every epochMs, i x 500 ms out of step. */
  const run = (ms: number, epochMs = 0) => {
    for (let t = 0; t < ms; t += 5) {
      clock.advance(5);
      boards.forEach((b, i) => {
        if (epochMs > 0 && (clock.now() - 500 * i) % epochMs === 0) {
          b.node.epochBegan();
          b.epochsAt.push(clock.now());
        }
        const blend = b.node.poll();
        if (blend) {
          applyBlend(b.vec, blend);
          b.averagesAt.push(clock.now());
        }
      });
    }
  };
  /** Epochs (from the second: the first one's length is not known yet) without an average. */
  const emptyEpochs = (b: B, from = 0) => {
    const out: number[] = [];
    for (let k = 1; k + 1 < b.epochsAt.length; k++) {
      const s0 = b.epochsAt[k], s1 = b.epochsAt[k + 1];
      if (s0 >= from && !b.averagesAt.some((a) => a >= s0 && a < s1)) out.push(s0);
    }
    return out;
  };
  return { clock, boards, run, emptyEpochs, stop: () => boards.forEach((b) => void b.node.stop()) };
}

test('after a busy minute, a board owed an average gets one in every epoch while the run has room; without the guarantee, none for a minute', () => {
  // exchanges of ~3 chunks at 10 ms each, a board starting one every ~4 s: about 1.2% of a core,
  // within a 5% budget. Then a busy spell charges each board 4 s of gossip at once: the last
  // minute is over the budget (4 s of 60) for a minute, the run (150 s) is not (1.2% + 2.7%).
  for (const every of [1000, 0]) {
    const c = cluster(3, { cpuBudget: 0.05, averageAtLeastEveryMs: every, exchangeIntervalMs: 4000 }, 10);
    c.run(150_000, 4000);
    const spikeAt = c.clock.now();
    for (const b of c.boards) b.cpu += 4000;
    c.run(50_000, 4000);
    const held = c.boards.map((b) => b.node.stats().budget.skipped + b.node.stats().budget.refused);
    const after = c.boards.map((b) => b.averagesAt.filter((a) => a > spikeAt + 2000).length);
    const empty = c.boards.map((b) => c.emptyEpochs(b, spikeAt + 4000).length);
    c.stop();
    assert.ok(held.every((h) => h > 0), `the minute's budget held exchanges back: ${held}`);
    if (every > 0) assert.deepEqual(empty, [0, 0, 0], `epochs without an average after the spell, per board (averages after: ${after})`);
    else assert.ok(after.every((a) => a === 0), `without the guarantee, averages in the 48 s after the spell: ${after}`);
  }
});

test('where one average an epoch costs more than the budget, the guarantee still gives every epoch one, and not more', () => {
  // the same exchanges at 60 ms a chunk against a 2% budget: ~200 ms an exchange side, one per ~10 s
  // of training; epochs of 4 s ask ~2.5 times that. The wall-clock stand-in (1 s) would ask 10 times.
  const c = cluster(4, { cpuBudget: 0.02, averageAtLeastEveryMs: 1000, exchangeIntervalMs: 200 }, 60);
  c.run(120_000, 4000);
  const empty = c.boards.map((b) => c.emptyEpochs(b).length);
  const perEpoch = c.boards.map((b) => b.averagesAt.filter((a) => a >= b.epochsAt[1]).length / ((c.clock.now() - b.epochsAt[1]) / 4000));
  const held = c.boards.map((b) => b.node.stats().budget.skipped);
  c.stop();
  assert.deepEqual(empty, [0, 0, 0, 0], 'epochs without an average, per board');
  // each board is owed one and answers others': up to about 2 an epoch
  assert.ok(perEpoch.every((n) => n <= 2.2), `averages per epoch: ${perEpoch.map((n) => n.toFixed(2))}`);
  assert.ok(held.every((h) => h > 0), `the budget held the other exchanges back: ${held}`);
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
