// What membership costs a cluster with nothing to exchange: every wake of a gossip thread is CPU on a
// board that trains (a few hundred µs cold beside a trainer), so an idle board should send and wake
// only for what failure detection needs. Counted on the virtual clock, so the figures are exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from './harness';
import { VirtualClock } from '../../src/sync/index';

const IDLE = { exchangeIntervalMs: 1e9, averageAtLeastEveryMs: 0 };

/** Counts the timer callbacks run on every VirtualClock from now until restore() (a cancelled
 * timer does not run). */
function countTimers(): { fired: () => number; restore: () => void } {
  const original = VirtualClock.prototype.setTimeout;
  let fired = 0;
  VirtualClock.prototype.setTimeout = function (this: VirtualClock, cb: () => void, ms: number) {
    return original.call(this, () => {
      fired++;
      cb();
    }, ms);
  };
  return { fired: () => fired, restore: () => void (VirtualClock.prototype.setTimeout = original) };
}

test('an idle cluster: a probe answered wakes its board no more, and a member just heard from is not pinged', () => {
  const periods = 300;
  const timers = countTimers();
  let result: { sent: number[]; peers: number[]; wakes: number };
  try {
    const c = new Cluster({ n: 4, dim: 8, seed: 3, tune: IDLE });
    c.run(2000); // everyone proven and every join's news spread
    const probe = c.boards[0].node.preset.probeIntervalMs;
    const sent0 = c.boards.map((b) => b.node.stats().datagramsSent);
    const fired0 = timers.fired();
    c.run(periods * probe);
    const sent = c.boards.map((b, i) => b.node.stats().datagramsSent - sent0[i]);
    const peers = c.boards.map((b) => b.node.stats().peers);
    c.stop();
    result = { sent, peers, wakes: timers.fired() - fired0 };
  } finally {
    timers.restore();
  }
  assert.deepEqual(result.peers, [3, 3, 3, 3], 'everyone knows everyone');
  // A probe every period and its ack would be 2 datagrams a board a period; boards heard from within
  // the period are passed over, so about half of them go.
  for (const s of result.sent) assert.ok(s / periods < 1.5, `a board sent ${(s / periods).toFixed(2)} datagrams a probe period (${result.sent})`);
  // A board wakes for each timer and each datagram it receives (the memory network delivers by a
  // timer too): the periodic timer, a probe's ack and its indirect-check and deadline timers unless
  // the ack cancels them, and a ping to answer. Nothing passed over or cancelled: 5 a period.
  const wakes = result.wakes / (4 * periods);
  assert.ok(wakes < 3, `${wakes.toFixed(2)} wakes a board a probe period`);
});

test('an idle cluster still finds a dead board as fast: passing over members heard from skips no silent one', () => {
  const c = new Cluster({ n: 4, dim: 8, seed: 4, tune: IDLE });
  c.run(2000);
  const victim = c.boards[3];
  c.kill(victim);
  const p = c.boards[0].node.preset;
  // each survivor probes the victim within n-1 periods of its last datagram, then suspicion runs out
  const bound = 3 * p.probeIntervalMs + p.probeTimeoutMs + p.suspicionMs + 2 * p.probeIntervalMs;
  c.run(bound, 2, () => c.live().every((b) => b.node.members().find((m) => m.id === victim.id)?.state === 'dead'));
  const states = c.live().map((b) => b.node.members().find((m) => m.id === victim.id)?.state);
  c.stop();
  assert.deepEqual(states, ['dead', 'dead', 'dead'], `within ${bound} ms`);
});
