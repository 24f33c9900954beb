// A replayed Propose (recorded traffic of a's, sent from a's own address to b after b restarted, so
// that b's replay window does not know it) makes b Accept an exchange that a never began. Before the
// fix b then stayed busy until exchangeTimeoutMs, refusing every real Propose: a replay a few times
// a minute kept a board from averaging. Now a answers the stray Accept with an Abort, and a real
// Propose from a displaces the stale exchange that nothing has arrived for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, FAST } from '../sync/harness';
import { Encoding, GossipNode } from '../../src/sync/index';
import { Opener } from '../../src/sync/crypto';
import { CHUNK_BYTES, decode } from '../../src/sync/messages';

const PROPOSE = 5, ABORT = 12; // wire type numbers (messages.ts, append-only)
type Board = Cluster['boards'][number];

function typeOf(d: Uint8Array, key: Buffer): number {
  const r = new Opener(key, 'test').open(d);
  return r.ok ? (decode(r.plain)?.type ?? -1) : -1;
}

/** a's Propose of one complete a->b exchange, as a sniffer recorded it. */
function recordedPropose(c: Cluster, a: Board, b: Board): Uint8Array {
  const rec: Uint8Array[] = [];
  const o = new Opener(c.key, 'test');
  c.net.tap = (d, from, to) => {
    // the opener's replay window is its own: opening here takes nothing from b's
    if (from === a.addr && to === b.addr && o.open(d).ok && typeOf(d, c.key) === PROPOSE) rec.push(d);
  };
  assert.ok(a.node.exchangeNow(b.id));
  c.run(400);
  c.net.tap = null;
  assert.ok(rec.length >= 1, 'a Propose was recorded');
  return rec[0];
}

/** b's gossip node restarted on its old address (its replay windows are new), proven to a again;
 * its transfer settings are the harness's, so that a real exchange with a can complete. */
function restart(c: Cluster, b: Board, a: Board, timeoutMs: number): GossipNode {
  c.kill(b);
  const node = new GossipNode({
    transport: c.net.endpoint(b.addr), key: c.key, cluster: 'test', id: b.id, seeds: [a.addr], preset: 'local',
    tune: { ...FAST, encoding: Encoding.F32, chunkBytes: CHUNK_BYTES, windowChunks: 1024, exchangeIntervalMs: 1e9, exchangeTimeoutMs: timeoutMs }, clock: c.clock,
    fingerprint: 'test-vector', paramCount: b.vec.length, getSnapshot: () => ({ params: b.vec.slice(), samplesSeen: 100 }),
  });
  node.start();
  for (let t = 0; t < 600; t += 2) c.clock.advance(2);
  assert.ok(node.members().some((m) => m.id === a.id && m.addr === a.addr && m.state === 'alive'), 'b knows a again');
  return node;
}

function setup(seed: number): { c: Cluster; a: Board; b: Board; propose: Uint8Array; node: GossipNode } {
  // a long exchange timeout: what the replay could hold b for, were nothing to end it sooner
  const c = new Cluster({ n: 2, dim: 64, seed, tune: { exchangeIntervalMs: 1e9, exchangeTimeoutMs: 30_000 } });
  const [a, b] = c.boards;
  c.run(400);
  const propose = recordedPropose(c, a, b);
  return { c, a, b, propose, node: restart(c, b, a, 30_000) };
}

test('a replayed Propose: b accepts it, a answers the stray Accept with an Abort, and b is free again long before its exchange timeout', () => {
  const { c, a, b, propose, node } = setup(61);
  const toA: number[] = [];
  c.net.tap = (d, from, to) => void (from === a.addr && to === b.addr && toA.push(typeOf(d, c.key)));
  c.net.inject(propose, a.addr, b.addr);
  c.clock.advance(1);
  assert.ok(node.busy, 'the restarted board took the replayed Propose (its window cannot know it)');
  for (let t = 0; t < 200; t += 2) c.clock.advance(2); // a few network delays, far below the 30 s timeout
  c.net.tap = null;
  assert.ok(toA.includes(ABORT), `a told b it is in no such exchange (a sent types ${toA})`);
  assert.ok(!node.busy, 'b no longer held busy by the replayed exchange');
  assert.equal(node.stats().handlerErrors, 0);
  void node.stop();
  c.stop();
});

test('a replayed Propose does not block a real one: a real exchange right after it averages, even with a\'s Abort lost', () => {
  const { c, a, b, propose, node } = setup(67);
  // lose every Abort a sends b, so that only the second defence (a new Propose from the same peer
  // displaces an accepted exchange nothing has come for) can free b
  const route = c.net.route.bind(c.net);
  c.net.route = (d, from, to) => {
    if (!(from === a.addr && to === b.addr && typeOf(d, c.key) === ABORT)) route(d, from, to);
  };
  c.net.inject(propose, a.addr, b.addr);
  c.clock.advance(1);
  assert.ok(node.busy);
  const before = node.stats().averages;
  assert.ok(a.node.exchangeNow(b.id), 'a proposes a real exchange');
  let blends = 0;
  for (let t = 0; t < 2000 && blends === 0; t += 2) {
    c.clock.advance(2);
    if (node.poll()) blends++;
    a.node.poll();
  }
  assert.equal(blends, 1, `the real exchange averaged (b averages ${node.stats().averages - before}, refusals at a ${a.node.stats().peerRefusals})`);
  void node.stop();
  c.stop();
});
