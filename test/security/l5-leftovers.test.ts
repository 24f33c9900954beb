// The leftovers of L5 in the security review:
//  - a Need's `have` (up to 65535, from the peer) opened the sender's window completely: a key
//    holder could switch our flow control off;
//  - a seed given as a host name never matched a member's IP address, so it was resolved and
//    pinged every 5th period for ever;
//  - a pulled model (a joiner adopts it whole) was checked for finiteness only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { Cluster, FAST } from '../sync/harness';
import { Encoding, GossipNode, MemoryNetwork, VirtualClock } from '../../src/sync/index';
import { CHUNK_BYTES } from '../../src/sync/messages';
import { Outgoing, encodeSnapshot } from '../../src/sync/transfer';
import type { Datagram, MessageHandler, Transport } from '../../src/sync/transport';

test('a Need claiming more chunks than were sent does not open the window past them', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 40 }), (window, have, sentFirst) => {
      const snap = encodeSnapshot(new Float32Array(64 * 270), 0, 1, 1, Encoding.F32); // 64 chunks of 1,080 bytes
      const out = new Outgoing(snap, window);
      let sent = 0;
      for (let i = 0; i < sentFirst && out.take(0) >= 0; i++) sent++;
      out.confirm(have);
      // the receiver can hold at most what was sent: beyond it, at most a window more goes out
      let more = 0;
      while (out.take(0) >= 0) more++;
      const held = Math.min(have, sent);
      assert.ok(sent + more <= held + window, `sent ${sent}, confirmed ${have}, then ${more} more with a window of ${window}`);
    }),
    { numRuns: 300 },
  );
});

/** Resolves host names as a resolver would (here from a table) and counts the look-ups. */
class ResolvingTransport implements Transport {
  lookups = 0;
  constructor(private readonly inner: Transport, private readonly hosts: Record<string, string>) {}
  get address(): string { return this.inner.address; }
  send(to: string, d: Datagram): void {
    const host = to.slice(0, to.lastIndexOf(':'));
    if (this.hosts[host]) {
      this.lookups++;
      to = `${this.hosts[host]}${to.slice(to.lastIndexOf(':'))}`;
    }
    this.inner.send(to, d);
  }
  onMessage(h: MessageHandler): void { this.inner.onMessage(h); }
  close(): Promise<void> { return this.inner.close(); }
}

test('a seed given as a host name is looked up while it is not a member, not for ever after', () => {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: 5 });
  const key = randomBytes(32);
  const mk = (id: string, transport: Transport, seeds: string[]) => {
    const node = new GossipNode({
      transport, key, cluster: 'test', id, seeds, preset: 'local',
      tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, exchangeIntervalMs: 1e9 }, clock, fingerprint: 'test-vector',
      paramCount: 8, getSnapshot: () => ({ params: new Float32Array(8).fill(1), samplesSeen: 1 }),
    });
    node.start();
    return node;
  };
  const b = mk('b', net.endpoint('10.0.0.2:7002'), []);
  const at = new ResolvingTransport(net.endpoint('10.0.0.1:7001'), { 'pi-b.local': '10.0.0.2' });
  const a = mk('a', at, ['pi-b.local:7002']);
  const advance = (ms: number) => { for (let t = 0; t < ms; t += 5) clock.advance(5); };
  advance(1000);
  assert.deepEqual(a.members().map((m) => m.id), ['b'], 'a found b through its host name');
  const joined = at.lookups;
  assert.ok(joined >= 1);
  // 60 s with b alive: FAST probes every 100 ms, so the seed was pinged every 500 ms (120 times) before
  advance(60_000);
  assert.deepEqual(a.members().map((m) => m.id), ['b']);
  assert.ok(at.lookups - joined <= 2, `${at.lookups - joined} look-ups of the seed while its member was alive`);
  void a.stop();
  void b.stop();
});

test('a joiner refuses a pulled model whose norm is far from its own and pulls from another peer', () => {
  const logs: string[] = [];
  const c = new Cluster({ n: 0, dim: 300, seed: 23, logs });
  const poisoner = c.add({ vec: c.randomVector().map((v) => v * 1000) });
  const joiner = c.add({ needsModel: true });
  const own = joiner.vec.slice();
  c.run(1500);
  assert.deepEqual(joiner.vec, own, 'nothing adopted from the x1000 model');
  assert.ok(joiner.node.stats().refused >= 1, 'the pull was refused, not lost');
  assert.ok(logs.some((l) => /b1: refused model from b0: norm ratio/.test(l)), logs.filter((l) => l.includes('b1:')).join('\n'));
  const honest = c.add();
  c.run(3000, 2, () => joiner.vec[0] === honest.vec[0]);
  assert.deepEqual(joiner.vec, honest.vec, 'the honest peer\'s model is adopted');
  assert.equal(poisoner.node.stats().averages, 0);
  c.stop();
});
