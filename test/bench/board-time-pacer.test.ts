// The scaling bench's board-time pacing and its projection (bench/board-time-pacer.ts), and the run-time
// interval change the pacing relies on (GossipNode.setExchangeInterval), on a virtual clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  BoardTimePacer, FRAME_OVERHEAD_BYTES, LAN_WIRE_PER_PAYLOAD_BYTE, LINK_BYTES_PER_S, lanLinkSeconds, projectEpoch, wallIntervalFor,
} from '../../bench/board-time-pacer';
import { CHUNK_BYTES, MAX_DATAGRAM, datagramLimit } from '../../src/sync/messages';
import { Cluster } from '../sync/harness';

/** A board that gets `share` of a core: its CPU clock advances share ms per wall ms. */
function fakeBoard(share: number) {
  let wall = 0, board = 0;
  return {
    wallMs: () => wall,
    boardMs: () => board,
    advance(ms: number, s = share) {
      wall += ms;
      board += ms * s;
    },
  };
}

test('the wall interval is the board interval times the dilation, never shorter than the board interval', () => {
  fc.assert(fc.property(fc.double({ min: 1, max: 1e5, noNaN: true }), fc.double({ min: 0, max: 50, noNaN: true }), (iv, d) => {
    const w = wallIntervalFor(iv, d);
    assert.ok(w >= iv);
    if (d >= 1) assert.ok(Math.abs(w - iv * d) <= 1e-9 * iv * d);
  }));
  assert.equal(wallIntervalFor(500, Infinity), 500);
  assert.equal(wallIntervalFor(500, NaN), 500);
});

test('a board given a fifth of a core is paced five times slower on the wall clock once a window is measured', () => {
  const b = fakeBoard(0.2);
  const p = new BoardTimePacer({ boardIntervalMs: 500, wallMs: b.wallMs, boardMs: b.boardMs, initialDilation: 2, windowMs: 3000 });
  assert.equal(p.initialWallIntervalMs(), 1000);
  // before a full window the assumption stands
  b.advance(1000);
  assert.equal(p.update(), null);
  assert.equal(p.dilation(), 2);
  let sent: number | null = null;
  for (let t = 0; t < 6; t++) {
    b.advance(500);
    sent = p.update() ?? sent;
  }
  assert.ok(Math.abs(p.dilation() - 5) < 1e-9, `dilation ${p.dilation()}`);
  assert.ok(sent !== null && Math.abs(sent - 2500) < 1e-6, `sent ${sent}`);
  assert.equal(p.wallIntervalMs, sent);
});

test('the pacer follows a change in the board\'s share of the machine, and stays quiet on small ones', () => {
  const b = fakeBoard(0.5);
  const p = new BoardTimePacer({ boardIntervalMs: 100, wallMs: b.wallMs, boardMs: b.boardMs, initialDilation: 2, windowMs: 2000, minChange: 0.1 });
  for (let t = 0; t < 10; t++) {
    b.advance(500);
    assert.equal(p.update(), null, 'dilation 2 is what was assumed: nothing to send');
  }
  // 5% slower: within minChange
  for (let t = 0; t < 10; t++) {
    b.advance(500, 1 / 2.1);
    assert.equal(p.update(), null);
  }
  // the other boards finish: the board gets a whole core
  const sent: number[] = [];
  for (let t = 0; t < 10; t++) {
    b.advance(500, 1);
    const s = p.update();
    if (s !== null) sent.push(s);
  }
  assert.ok(sent.length >= 1);
  assert.ok(Math.abs(sent[sent.length - 1] - 100) < 1e-6, `last sent ${sent.join(', ')}`);
  assert.ok(Math.abs(p.dilation() - 1) < 1e-9);
});

test('a board whose clock has not moved keeps the assumed dilation', () => {
  const b = fakeBoard(0);
  const p = new BoardTimePacer({ boardIntervalMs: 500, wallMs: b.wallMs, boardMs: b.boardMs, initialDilation: 5, windowMs: 1000 });
  for (let t = 0; t < 5; t++) {
    b.advance(500);
    assert.equal(p.update(), null);
  }
  assert.equal(p.dilation(), 5);
});

test('link time: the larger direction, re-framed into lan datagrams with their Ethernet frames', () => {
  assert.equal(FRAME_OVERHEAD_BYTES, 66);
  // the largest lan chunk datagram: the bound the framing factor uses
  assert.ok(Math.abs(LAN_WIRE_PER_PAYLOAD_BYTE - (datagramLimit(CHUNK_BYTES) + FRAME_OVERHEAD_BYTES) / CHUNK_BYTES) < 1e-12);
  assert.ok(datagramLimit(CHUNK_BYTES) >= MAX_DATAGRAM);
  fc.assert(fc.property(fc.nat(1e9), fc.nat(1e9), (sent, received) => {
    const s = lanLinkSeconds(sent, received);
    assert.equal(s, lanLinkSeconds(received, sent));
    assert.ok(s >= Math.max(sent, received) / LINK_BYTES_PER_S);
    assert.ok(Math.abs(s - (Math.max(sent, received) * LAN_WIRE_PER_PAYLOAD_BYTE) / LINK_BYTES_PER_S) <= 1e-9 * (1 + s));
  }));
  // one fp16 LeNet each way (~0.86 MB): ~81 ms at 100 Mbit/s
  assert.ok(Math.abs(lanLinkSeconds(862_000, 862_000) - 0.081) < 0.001);
});

test('a projected epoch is the larger of CPU and link time, and says which', () => {
  fc.assert(fc.property(fc.double({ min: 0, max: 1e6, noNaN: true }), fc.double({ min: 0, max: 1e6, noNaN: true }), (cpu, link) => {
    const p = projectEpoch(cpu, link);
    assert.equal(p.epochMs, Math.max(cpu, link));
    assert.equal(p.bound, link > cpu ? 'link' : 'cpu');
    assert.equal(p.cpuMs, cpu);
    assert.equal(p.linkMs, link);
  }));
});

test('GossipNode.setExchangeInterval: a node told a ten times longer interval starts about ten times fewer exchanges', () => {
  // the guarantee (averageAtLeastEveryMs) starts exchanges of its own: off, to count the schedule alone
  const c = new Cluster({ n: 2, dim: 64, seed: 3, tune: { exchangeIntervalMs: 100, averageAtLeastEveryMs: 0 } });
  try {
    const a = c.boards[0].node;
    c.run(500); // membership settles
    const s0 = a.stats().exchangesStarted;
    c.run(5000);
    const before = a.stats().exchangesStarted - s0;
    a.setExchangeInterval(1000);
    c.run(1000); // the tick scheduled at the old interval has passed
    const s1 = a.stats().exchangesStarted;
    c.run(5000);
    const after = a.stats().exchangesStarted - s1;
    assert.ok(before >= 20, `at 100 ms, ${before} exchanges in 5 s`);
    assert.ok(after <= 10 && after >= 1, `at 1000 ms, ${after} exchanges in 5 s (before: ${before})`);
  } finally {
    c.stop();
  }
});
