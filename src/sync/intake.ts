// What a datagram meets before anything reads it: the size rule, flood shedding and the AEAD. Its
// cost is anyone's to impose, so it is kept apart from the protocol (and, by GossipNode, from the
// CPU budget); every refusal is counted by reason in the node's stats.
import type { Clock } from './clock';
import type { GossipStats } from './context';
import type { Aead, Opener } from './crypto';
import { RejectedCost } from './rejected-cost';

/** How many datagrams and timers after a refusal are still timed (a fit's run is 64 refusals). */
const REARM_AFTER_REFUSAL = 64;

export class Intake {
  private readonly shedder = new Shedder();
  private readonly cost: RejectedCost;
  /** What a datagram's handler is timed on until there is a fit: the thread's CPU clock where there
   * is one, since on a loaded machine wall time counts the preemptions too (ms for a 30 µs
   * datagram). Once fitted, the timing is not used, and not taken: a read of the thread's clock
   * (2.4 µs) on each of an exchange's ~1,600 datagrams would add to its cost. -1: not timed. */
  readonly handlerClock: () => number;
  private aeadLogged = false;

  /** `forgive`: keeps CPU ms out of the budget. `rejectedClock`: see RejectedCost. */
  constructor(
    private readonly opener: Opener,
    private readonly stats: GossipStats,
    private readonly maxDatagram: number,
    private readonly clock: Clock,
    private readonly aead: Aead,
    private readonly log: (line: string) => void,
    private readonly forgive: (ms: number) => void = () => {},
    rejectedClock: (() => number) | null = null,
  ) {
    this.cost = new RejectedCost(rejectedClock);
    const cpu = rejectedClock ?? (() => performance.now());
    // Only while rejections are recent: read on every datagram, the clock cost each accepted one
    // ~3 µs, some 10 ms of a lan exchange's 3,400 datagrams, to time refusals that mostly never
    // come. So the first refusal after a quiet spell is charged to gossip (tens of µs), the ones
    // after it are timed, and from a run of them on, the fit needs no per-datagram clock at all.
    this.handlerClock = () => (Number.isNaN(this.cost.perDatagramMs) && this.armed > 0 ? cpu() : -1);
  }

  /** Datagrams or timers still to time since the latest refusal (see handlerClock). */
  private armed = 0;

  /** True: the datagram is dropped (counted, and its cost forgiven) before anything reads it: too
   * long, or from a source being shed. The cheapest path there is, as a flood takes it ~15 times in
   * 16: no clock but the node's, no parse, no AEAD. */
  gate(d: Uint8Array, from: string): boolean {
    const s = this.stats;
    s.datagramsReceived++;
    s.bytesReceived += d.length;
    if (d.length > this.maxDatagram) s.dropped.short++;
    else if (this.shedder.shed(from, this.clock.now())) s.dropped.shed++;
    else return false;
    this.rejected(-1);
    return true;
  }

  /** A datagram that passed gate() but not open() (or not the checks after it) has been handled
   * since `t0` (handlerClock): forgive its cost (see RejectedCost). */
  rejected(t0: number): void {
    const ms = this.cost.rejected(t0 < 0 ? 0 : this.handlerClock() - t0);
    this.armed = REARM_AFTER_REFUSAL;
    this.stats.rejectedCpuMs += ms;
    if (!Number.isNaN(this.cost.perDatagramMs)) this.stats.rejectedFitUs = this.cost.perDatagramMs * 1000;
    this.forgive(ms);
  }

  /** The thread did other work (an accepted datagram, a timer): see RejectedCost.interrupt. */
  otherWork(): void {
    this.cost.interrupt();
    if (this.armed > 0) this.armed--;
  }

  /** The plaintext and the sender's nonce epoch of an authenticated datagram, or null (counted).
   * Call after gate(). */
  open(d: Uint8Array, from: string): { plain: Buffer; epoch: Buffer } | null {
    const s = this.stats;
    const r = this.opener.open(d);
    if (!r.ok) {
      s.dropped[r.reason]++;
      if (r.otherAead && !this.aeadLogged) {
        // once: a misconfigured board sends many, and a forger could send them too
        this.aeadLogged = true;
        this.log(`datagrams from ${from} are sealed with ${r.otherAead}; this cluster uses ${this.aead} (--aead): every board must name the same AEAD, and these are dropped`);
      }
      if (r.reason !== 'replay') this.shedder.failed(from, this.clock.now());
      return null;
    }
    this.shedder.passed(from);
    return r;
  }
}

/** Sheds a flood: a source (host:port) whose datagrams failed authentication `limit` times within
 * `windowMs` is not opened for `coolMs`, except one datagram in `probeEvery`, so a real peer whose
 * address a flooder forged recovers with its next good datagram. Bounded: at most `maxSources`
 * remembered, the oldest forgotten first. */
export class Shedder {
  private readonly sources = new Map<string, { fails: number; since: number; until: number; skipped: number }>();

  constructor(
    private readonly limit = 32,
    private readonly windowMs = 1000,
    private readonly coolMs = 5000,
    private readonly probeEvery = 16,
    private readonly maxSources = 4096,
  ) {}

  /** True: drop this datagram unopened. */
  shed(from: string, now: number): boolean {
    const s = this.sources.get(from);
    if (!s || s.until <= now) return false;
    return ++s.skipped % this.probeEvery !== 0;
  }

  failed(from: string, now: number): void {
    let s = this.sources.get(from);
    if (!s || (s.until <= now && now - s.since > this.windowMs)) {
      if (!s && this.sources.size >= this.maxSources) this.sources.delete(this.sources.keys().next().value!);
      s = { fails: 0, since: now, until: 0, skipped: 0 };
      this.sources.set(from, s);
    }
    if (++s.fails >= this.limit) s.until = now + this.coolMs;
  }

  /** An authenticated datagram from `from`: it is a peer, not (only) a flooder. */
  passed(from: string): void {
    if (this.sources.size > 0) this.sources.delete(from);
  }
}
