// The clocks a node reads per datagram. A lan exchange is ~3,400 datagrams a side, and each clock
// read is ~3 µs: two process.cpuUsage() calls around every handler plus a thread-clock read for the
// refusal timing were a fifth of an exchange's gossip CPU (bench/exchange-cost.ts). A node measured
// by its thread's clock reads none per accepted datagram; refusals are timed only when they come.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { GossipNode, MemoryNetwork, VirtualClock, applyBlend } from '../../src/sync/index';
import { Intake } from '../../src/sync/intake';
import { emptyStats } from '../../src/sync/context';
import type { Opener } from '../../src/sync/crypto';

test('Intake reads its clock only after a refusal, for the next 64 datagrams or timers', () => {
  let reads = 0;
  const clock = () => (reads++, 0);
  const opener = { open: () => ({ ok: false as const, reason: 'auth' as const }) } as unknown as Opener;
  const intake = new Intake(opener, emptyStats('x'), 2000, { now: () => 0 } as never, 'aes-256-gcm' as never, () => {}, () => {}, clock);
  const reads0 = reads; // the RejectedCost fit's own reads are not per datagram
  const accepted = (n: number) => {
    for (let i = 0; i < n; i++) {
      intake.handlerClock();
      intake.otherWork();
    }
  };
  accepted(500);
  assert.equal(reads - reads0, 0, 'accepted datagrams with no refusal in sight read no clock');
  const t0 = intake.handlerClock();
  intake.rejected(t0);
  const afterRefusal = reads;
  accepted(64);
  assert.equal(reads - afterRefusal, 64, 'the datagrams after a refusal are timed');
  const settled = reads;
  accepted(200);
  assert.equal(reads - settled, 0, 'and timing stops 64 datagrams later');
});

test('a node given its thread clock reads no process clock per datagram, and reports that clock as its CPU', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 3 });
  const key = randomBytes(32);
  let threadCpu = 0;
  const vecs = [new Float32Array(4000).fill(1), new Float32Array(4000).fill(3)];
  const ta = net.endpoint(), tb = net.endpoint();
  const mk = (i: number, t: typeof ta, seed: string) => new GossipNode({
    transport: t, key, cluster: 'test', id: `n${i}`, seeds: [seed], preset: 'lan', clock,
    tune: { cpuBudget: 0, exchangeIntervalMs: 50, averageAtLeastEveryMs: 0 },
    fingerprint: 'test-vector', paramCount: 4000,
    getSnapshot: () => ({ params: vecs[i].slice(), samplesSeen: 1 }),
    cpuClock: () => threadCpu, processCpuClock: () => clock.now(), rejectedCpuClock: () => threadCpu,
  });
  const a = mk(0, ta, tb.address), b = mk(1, tb, ta.address);
  const real = process.cpuUsage;
  let calls = 0;
  process.cpuUsage = ((prev?: NodeJS.CpuUsage) => (calls++, real(prev))) as typeof process.cpuUsage;
  let averages = 0;
  try {
    a.start();
    b.start();
    for (let t = 0; t < 3000; t += 2) {
      clock.advance(2);
      threadCpu += 0.5;
      for (const [i, n] of [a, b].entries()) {
        const blend = n.poll();
        if (blend) (applyBlend(vecs[i], blend), averages++);
      }
    }
  } finally {
    process.cpuUsage = real;
  }
  const s = a.stats();
  void a.stop();
  void b.stop();
  assert.ok(averages >= 4, `averages: ${averages}`);
  assert.ok(s.datagramsReceived > 100, `datagrams: ${s.datagramsReceived}`);
  assert.equal(calls, 0, 'process.cpuUsage() calls');
  assert.equal(s.cpuMs, threadCpu, 'stats().cpuMs follows the thread clock');
});
