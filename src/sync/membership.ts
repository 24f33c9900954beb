// SWIM membership (Das, Gupta, Motivala 2002) with memberlist's incarnation rules: each protocol
// period ping one member (round-robin over a shuffled list); without an ack by probeTimeout, ask
// up to k others to ping it (ping-req); without any ack by the end of the period, suspect it;
// a suspect not refuted within suspicionMs is dead. A member that hears itself suspected or
// declared dead refutes with a higher incarnation. Updates ride on pings and acks (infection
// style), a bounded number of times each. Seeds (--peers) are addresses without known ids: they
// are pinged until they answer, which is how a board joins and discovers everyone else.
//
// Hostile peers (docs/security.md): a member's address is set or moved only on proof of life, an
// Ack from that address to a Ping of ours with a fresh random seq, so replayed traffic (a board
// restarted and forgot its replay windows) cannot point a member at the replayer. Incarnations
// rise by a bounded step, and what others' updates can create (members, broadcasts, log lines,
// pings to addresses they name) is capped.
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { Clock } from './clock';
import type { GossipPreset } from './config';
import { MAX_INCARNATION, MemberState, MsgType, type MemberUpdate, type Msg } from './messages';
import { splitAddress } from './transport';
import { shuffle } from '../util/rng';

/** An incarnation rises by at most this in one update: more is a forgery (a board refutes one
 * step at a time), and a jump near 2^32 would leave the victim no higher number to refute with. */
export const MAX_INCARNATION_STEP = 1 << 16;
/** Address checks in flight at once (each is one Ping to the address a datagram came from). */
const MAX_CHALLENGES = 64;
/** Member log lines (joined, learned, suspected...) per minute; the rest are counted in one line. */
const MEMBER_LOG_PER_MINUTE = 30;

/** Only literal IP addresses are pinged on a peer's word: a host name would be resolved per datagram. */
export function isIpAddress(addr: string): boolean {
  const a = splitAddress(addr);
  return a !== null && isIP(a.host) !== 0;
}

export interface Member {
  id: string;
  addr: string;
  state: MemberState;
  incarnation: number;
  since: number;
}

export type Outbound =
  | { type: MsgType.Ping; seq: number; updates: MemberUpdate[] }
  | { type: MsgType.Ack; seq: number; updates: MemberUpdate[] }
  | { type: MsgType.PingReq; seq: number; target: string; targetAddr: string }
  | { type: MsgType.IndirectAck; seq: number; target: string }
  | { type: MsgType.Leave };

interface Probe {
  target: string;
  acked: boolean;
  /** Its indirect-check and deadline timers, cancelled by the ack: an idle board's thread woke
   * twice more per probe only to find it answered. */
  timers: number[];
}

const STATE_NAMES = ['alive', 'suspect', 'dead', 'left'] as const;
export const stateName = (s: MemberState): (typeof STATE_NAMES)[number] => STATE_NAMES[s];

export class Membership {
  incarnation = 0;
  readonly members = new Map<string, Member>();
  private readonly broadcasts = new Map<string, { u: MemberUpdate; left: number }>();
  private readonly probes = new Map<number, Probe>();
  private readonly relays = new Map<number, { requester: string; seq: number; target: string; targetAddr: string }>();
  /** Pings that prove an address: seq -> the address pinged. */
  private readonly challenges = new Map<number, string>();
  private readonly challengedAddrs = new Set<string>();
  private order: string[] = [];
  /** Random start: an Ack recorded before a restart must not match a seq of the new process. */
  private seq = randomBytes(4).readUInt32BE(0);
  private logWindow = { start: -Infinity, lines: 0, suppressed: 0 };
  /** Cap on members, and separately on queued broadcasts: what others' updates can make us hold. */
  readonly maxMembers: number;
  private tick = 0;
  private timer: number | null = null;
  private leaving = false;
  /** Last time any authenticated datagram came from each member: as good as an ack (a model transfer
   * can queue a ping's ack behind a thousand chunks). */
  private readonly lastHeard = new Map<string, number>();
  /** Which member answered a seed's challenge (a seed may be a host name). */
  private readonly seedMembers = new Map<string, string>();

  constructor(
    readonly selfId: string,
    private readonly seeds: string[],
    private readonly p: GossipPreset,
    private readonly clock: Clock,
    private readonly rand: () => number,
    private readonly send: (addr: string, m: Outbound) => void,
    private readonly schedule: (fn: () => void, ms: number) => number,
    private readonly log: (s: string) => void,
    private readonly cancel: (id: number) => void,
  ) {
    this.maxMembers = 4 * seeds.length + 64;
  }

  /** Called when a member is declared dead or leaves. */
  onGone: (id: string) => void = () => {};
  /** Called when a proven address makes `id` a member (first contact). */
  onJoin: (id: string) => void = () => {};

  start(): void {
    this.periodic();
  }
  stop(): void {
    if (this.timer !== null) this.cancel(this.timer);
    this.timer = null;
  }

  alive(): Member[] {
    return [...this.members.values()].filter((m) => m.state === MemberState.Alive);
  }
  heardFrom(id: string): number {
    return this.lastHeard.get(id) ?? -Infinity;
  }
  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    return this.seq;
  }

  /** Member news in the log, at most MEMBER_LOG_PER_MINUTE lines a minute (a key holder could make
   * up a hundred members per Ping, each a line in board.log.jsonl). */
  private note(line: string): void {
    const now = this.clock.now(), w = this.logWindow;
    if (now - w.start >= 60_000) {
      if (w.suppressed) this.log(`${w.suppressed} more member log lines in the last minute were left out`);
      this.logWindow = { start: now, lines: 0, suppressed: 0 };
    }
    if (this.logWindow.lines++ < MEMBER_LOG_PER_MINUTE) this.log(line);
    else this.logWindow.suppressed++;
  }

  /**
   * An authenticated datagram from `id` at `addr`: true if `id` is a member known at that address
   * (first-hand evidence that it lives). Otherwise the address is challenged with a Ping and
   * nothing else is believed until its Ack comes back (proves()): an authenticated datagram may be
   * a replay from anywhere.
   */
  noteDirect(id: string, incarnation: number, addr: string): boolean {
    if (id === this.selfId) return false;
    const m = this.members.get(id);
    if (!m || m.addr !== addr) {
      this.challenge(addr);
      return false;
    }
    this.heard(m, incarnation);
    return true;
  }

  /** Whether `m` answers one of our address challenges; if so its sender is a member at `from` now. */
  proves(m: Msg & { type: MsgType.Ack }, from: string): boolean {
    const addr = this.challenges.get(m.seq);
    // a seed may be a host name: then the seq alone (fresh, random, inside the AEAD) is the proof
    if (addr === undefined || (addr !== from && isIpAddress(addr)) || m.from === this.selfId) return false;
    this.challenges.delete(m.seq);
    this.challengedAddrs.delete(addr);
    if (this.seeds.includes(addr)) this.seedMembers.set(addr, m.from);
    const known = this.members.get(m.from);
    if (!known) {
      if (this.members.size >= 2 * this.maxMembers) return false;
      const now = this.clock.now();
      this.members.set(m.from, { id: m.from, addr: from, state: MemberState.Alive, incarnation: m.incarnation, since: now });
      this.lastHeard.set(m.from, now);
      this.note(`member ${m.from} at ${from} joined (incarnation ${m.incarnation})`);
      this.onJoin(m.from);
      this.queue({ id: m.from, addr: from, state: MemberState.Alive, incarnation: m.incarnation });
      return true;
    }
    if (known.addr !== from) {
      this.note(`member ${m.from} moved from ${known.addr} to ${from}`);
      known.addr = from;
    }
    this.heard(known, m.incarnation);
    return true;
  }

  /** Pings `addr` with a fresh seq whose Ack proves it (at most one at a time per address). */
  private challenge(addr: string): void {
    if (this.challengedAddrs.has(addr) || this.challenges.size >= MAX_CHALLENGES) return;
    const seq = this.nextSeq();
    this.challenges.set(seq, addr);
    this.challengedAddrs.add(addr);
    // the address may be checked again after a period; this Ack stays good for as long as a
    // probe's would (a slow or loaded peer answers late)
    this.schedule(() => this.challengedAddrs.delete(addr), this.p.probeIntervalMs);
    this.schedule(() => this.challenges.delete(seq), this.p.probeIntervalMs + 2 * Math.max(this.p.probeIntervalMs, this.p.probeTimeoutMs));
    this.send(addr, { type: MsgType.Ping, seq, updates: [] });
  }

  /** A Ping from a sender not (yet) known at its address: answered, so that the sender can prove
   * us, and challenged back; its updates wait until it is proven. */
  answerStranger(m: Msg & { type: MsgType.Ping }, from: string): void {
    this.send(from, { type: MsgType.Ack, seq: m.seq, updates: [] });
  }

  /** An Ack from a sender not known at its address: only a relayed probe's answer counts. */
  relayedAck(m: Msg & { type: MsgType.Ack }, from: string): void {
    const relay = this.relays.get(m.seq);
    if (relay && relay.target === m.from && relay.targetAddr === from) {
      this.relays.delete(m.seq);
      this.send(relay.requester, { type: MsgType.IndirectAck, seq: relay.seq, target: relay.target });
    }
  }

  /** First-hand evidence that `m` lives, with the incarnation it claims. */
  private heard(m: Member, incarnation: number): void {
    const now = this.clock.now();
    const id = m.id, addr = m.addr;
    this.lastHeard.set(id, now);
    if (incarnation > m.incarnation && incarnation - m.incarnation <= MAX_INCARNATION_STEP) {
      const was = m.state;
      m.incarnation = incarnation;
      m.state = MemberState.Alive;
      m.since = now;
      if (was !== MemberState.Alive) this.note(`member ${id} is alive again (incarnation ${incarnation})`);
      this.queue({ id, addr, state: MemberState.Alive, incarnation });
    }
    // same or older incarnation while suspect/dead: it refutes once our piggyback tells it (updatesFor)
  }

  apply(u: MemberUpdate): void {
    const now = this.clock.now();
    if (u.incarnation >= MAX_INCARNATION) return;
    if (u.id === this.selfId) {
      // a claim far above any incarnation we ever had is forged; refuting it would only climb
      if (u.state !== MemberState.Alive && !this.leaving && u.incarnation >= this.incarnation && u.incarnation - this.incarnation <= MAX_INCARNATION_STEP) {
        this.incarnation = u.incarnation + 1;
        this.log(`refuting "${stateName(u.state)}" about me with incarnation ${this.incarnation}`);
        this.queue(this.selfUpdate());
      }
      return;
    }
    const m = this.members.get(u.id);
    if (!m) {
      if (!u.addr) return; // a refutation relayed without an address: nothing to reach yet
      // second-hand news makes a member only below the cap, at an IP address, with a sane incarnation
      if (this.members.size >= this.maxMembers || !isIpAddress(u.addr) || u.incarnation > MAX_INCARNATION_STEP) return;
      if (u.state === MemberState.Dead || u.state === MemberState.Left) {
        this.members.set(u.id, { ...u, since: now }); // tombstone: stale "alive" cannot revive it
        return;
      }
      this.members.set(u.id, { ...u, since: now });
      this.note(`member ${u.id} at ${u.addr} learned through gossip (${stateName(u.state)})`);
      this.queue(u);
      return;
    }
    if (u.incarnation - m.incarnation > MAX_INCARNATION_STEP) return;
    const gone = m.state === MemberState.Dead || m.state === MemberState.Left;
    let changed = false;
    switch (u.state) {
      case MemberState.Alive:
        if (u.incarnation > m.incarnation) {
          if (u.addr && isIpAddress(u.addr) && (gone || m.state === MemberState.Suspect)) m.addr = u.addr;
          changed = true;
        }
        break;
      case MemberState.Suspect:
        changed = (m.state === MemberState.Alive && u.incarnation >= m.incarnation) ||
          (m.state === MemberState.Suspect && u.incarnation > m.incarnation) ||
          (gone && u.incarnation > m.incarnation);
        break;
      case MemberState.Dead:
      case MemberState.Left:
        changed = (!gone && u.incarnation >= m.incarnation) || (gone && u.incarnation > m.incarnation);
        break;
    }
    if (!changed) return;
    if (m.state !== u.state) this.note(`member ${u.id}: ${stateName(m.state)} -> ${stateName(u.state)} (gossip, incarnation ${u.incarnation})`);
    if (!gone && (u.state === MemberState.Dead || u.state === MemberState.Left)) this.onGone(u.id);
    m.state = u.state;
    m.incarnation = u.incarnation;
    m.since = now;
    this.queue({ id: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation });
  }

  handle(m: Msg, from: string): void {
    switch (m.type) {
      case MsgType.Ping:
        for (const u of m.updates) this.apply(u);
        this.send(from, { type: MsgType.Ack, seq: m.seq, updates: this.updatesFor(m.from) });
        break;
      case MsgType.Ack: {
        for (const u of m.updates) this.apply(u);
        this.answered(m.seq);
        this.relayedAck(m, from);
        break;
      }
      case MsgType.PingReq: {
        if (!isIpAddress(m.targetAddr) || this.relays.size >= MAX_CHALLENGES) break;
        const seq = this.nextSeq();
        this.relays.set(seq, { requester: from, seq: m.seq, target: m.target, targetAddr: m.targetAddr });
        this.schedule(() => this.relays.delete(seq), this.p.probeIntervalMs);
        this.send(m.targetAddr, { type: MsgType.Ping, seq, updates: this.updatesFor(m.target) });
        break;
      }
      case MsgType.IndirectAck: {
        if (this.probes.get(m.seq)?.target === m.target) this.answered(m.seq);
        break;
      }
      case MsgType.Leave: {
        const mem = this.members.get(m.from);
        if (mem && mem.state !== MemberState.Left) {
          this.note(`member ${m.from} left`);
          mem.state = MemberState.Left;
          if (m.incarnation - mem.incarnation <= MAX_INCARNATION_STEP) mem.incarnation = Math.max(mem.incarnation, m.incarnation);
          mem.since = this.clock.now();
          this.queue({ id: mem.id, addr: mem.addr, state: MemberState.Left, incarnation: mem.incarnation });
        }
        break;
      }
      default:
        break;
    }
  }

  /** Tells every live member we are going (twice, against loss); after this we refute nothing. */
  leave(): void {
    this.leaving = true;
    this.incarnation++;
    for (let k = 0; k < 2; k++) for (const m of this.alive()) this.send(m.addr, { type: MsgType.Leave });
  }

  private selfUpdate(): MemberUpdate {
    return { id: this.selfId, addr: '', state: MemberState.Alive, incarnation: this.incarnation };
  }

  private queue(u: MemberUpdate): void {
    if (this.broadcasts.size >= this.maxMembers && !this.broadcasts.has(u.id) && u.id !== this.selfId) return;
    const n = this.members.size + 1;
    this.broadcasts.set(u.id, { u, left: Math.ceil(3 * Math.log2(n + 1)) + 1 });
  }

  /** Piggyback for a message to `to`: its own bad standing first (so it can refute), then queued news, then a few random members (discovery). */
  updatesFor(to: string): MemberUpdate[] {
    const out: MemberUpdate[] = [];
    const seen = new Set<string>();
    const target = this.members.get(to);
    if (target && target.state !== MemberState.Alive) {
      out.push({ id: target.id, addr: target.addr, state: target.state, incarnation: target.incarnation });
      seen.add(target.id);
    }
    const news = [...this.broadcasts.values()].sort((a, b) => b.left - a.left).slice(0, 8);
    for (const b of news) {
      if (seen.has(b.u.id)) continue;
      out.push(b.u);
      seen.add(b.u.id);
      if (--b.left <= 0) this.broadcasts.delete(b.u.id);
    }
    const rest = this.alive().filter((m) => !seen.has(m.id) && m.id !== to);
    for (let k = 0; k < 3 && rest.length; k++) {
      const m = rest.splice(Math.floor(this.rand() * rest.length), 1)[0];
      out.push({ id: m.id, addr: m.addr, state: m.state, incarnation: m.incarnation });
    }
    return out;
  }

  private periodic(): void {
    this.timer = this.schedule(() => this.periodic(), this.p.probeIntervalMs);
    this.tick++;
    const now = this.clock.now();
    for (const m of this.members.values()) {
      if (m.state === MemberState.Suspect && now - m.since >= this.p.suspicionMs) {
        m.state = MemberState.Dead;
        m.since = now;
        this.note(`member ${m.id} at ${m.addr} declared dead (no refutation in ${this.p.suspicionMs} ms)`);
        this.onGone(m.id);
        this.queue({ id: m.id, addr: m.addr, state: MemberState.Dead, incarnation: m.incarnation });
      } else if ((m.state === MemberState.Dead || m.state === MemberState.Left) && now - m.since >= this.p.tombstoneMs) {
        this.members.delete(m.id);
        this.broadcasts.delete(m.id);
        this.lastHeard.delete(m.id);
      }
    }
    this.pingSeeds();
    this.probe();
  }

  /** Seeds with no live member at their address are pinged: at first every period, later every 5th. */
  private pingSeeds(): void {
    const known = new Set(this.alive().map((m) => m.addr));
    const lonely = this.alive().length === 0;
    if (!lonely && this.tick % 5 !== 0) return;
    for (const s of this.seeds) {
      // a seed given as a host name never equals a member's IP address: without the member it
      // proved, it would be resolved and pinged every 5th period for ever
      const proven = this.seedMembers.get(s);
      if (known.has(s) || (proven !== undefined && this.members.get(proven)?.state === MemberState.Alive)) continue;
      this.challenge(s);
    }
  }

  private probe(): void {
    const live = () => [...this.members.values()].filter((m) => m.state === MemberState.Alive || m.state === MemberState.Suspect);
    if (this.order.length === 0) {
      this.order = shuffle(live().map((m) => m.id), this.rand);
    }
    let target: Member | undefined;
    while (this.order.length && !target) {
      const m = this.members.get(this.order.shift()!);
      if (m && (m.state === MemberState.Alive || m.state === MemberState.Suspect)) target = m;
    }
    if (!target) return;
    const t = target;
    // A datagram from it within the period proves as much as an ack would (lastHeard), so with no
    // news to carry (a ping is also how joins, deaths and departures spread) its turn is passed. In
    // an idle cluster each board hears from the boards that probe it, so about half the pings, acks
    // and their timers go; a board that has died is silent and so is still probed.
    if (t.state === MemberState.Alive && this.broadcasts.size === 0 && this.clock.now() - this.heardFrom(t.id) < this.p.probeIntervalMs) return;
    const seq = this.nextSeq();
    const probe: Probe = { target: t.id, acked: false, timers: [] };
    this.probes.set(seq, probe);
    this.send(t.addr, { type: MsgType.Ping, seq, updates: this.updatesFor(t.id) });
    probe.timers.push(this.schedule(() => {
      if (probe.acked || (this.lastHeard.get(t.id) ?? -Infinity) >= sentAt) return;
      const helpers = live().filter((m) => m.id !== t.id && m.state === MemberState.Alive);
      for (let k = 0; k < this.p.indirectChecks && helpers.length; k++) {
        const h = helpers.splice(Math.floor(this.rand() * helpers.length), 1)[0];
        this.send(h.addr, { type: MsgType.PingReq, seq, target: t.id, targetAddr: t.addr });
      }
    }, this.p.probeTimeoutMs));
    const sentAt = this.clock.now();
    const deadline = this.p.probeIntervalMs * 0.9;
    probe.timers.push(this.schedule(() => {
      this.probes.delete(seq);
      if (probe.acked || (this.lastHeard.get(t.id) ?? -Infinity) >= sentAt) return;
      // Lifeguard-style self-awareness: if this timer itself fired late, our own thread was busy (a
      // training step) and the ack may be sitting unread in the socket; the probe proves nothing
      if (this.clock.now() - sentAt > deadline * 1.5) return;
      const m = this.members.get(t.id);
      if (m && m.state === MemberState.Alive) {
        m.state = MemberState.Suspect;
        m.since = this.clock.now();
        this.note(`member ${m.id} at ${m.addr} suspected (no ack, direct or indirect)`);
        this.queue({ id: m.id, addr: m.addr, state: MemberState.Suspect, incarnation: m.incarnation });
      }
    }, deadline));
  }

  /** Our probe `seq` was answered, directly or through a helper: its timers have nothing left to do. */
  private answered(seq: number): void {
    const pr = this.probes.get(seq);
    if (!pr) return;
    pr.acked = true;
    this.probes.delete(seq);
    for (const id of pr.timers) this.cancel(id);
  }
}
