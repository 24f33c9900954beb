// GossipNode: one board's side of the gossip. Every exchangeIntervalMs (jittered) a board that is
// not busy proposes an exchange to a random live peer:
//
//   A -> B  Propose            B: Accept (or Refuse: busy / not ready / other model)
//   A -> B  A's snapshot       chunks; B asks for missing ones with Need
//   B -> A  B's snapshot       only once B holds all of A's, authenticated and past the guards
//   A -> B  Commit             A holds all of B's: A's blend is ready; retried until CommitAck
//   B: on Commit its blend is ready.
//
// A lost reply, a dead peer or a timeout at any point before Commit means no averaging on either
// side; nothing is ever applied from a partial snapshot. Once B has sent its reply it waits for
// Commit past its own timeout, long enough for all of A's retries (see watchdog). (Two generals: if
// every Commit retry is lost, A has averaged and B has not; with 10 retries that needs 10 losses in
// a row.)
// A board is busy from Propose/Accept until its blend has been applied, so exchanges never
// overlap and each blend is computed from the snapshot actually sent.
//
// Training never waits: the node works from timers and datagram callbacks, and poll() hands the
// trainer a ready Blend (or null) between steps. A joiner with needsModel first pulls a full model
// from a peer (Propose with mode Pull) and poll() returns it as an 'adopt' Blend.
import { ARCH_FINGERPRINT, PARAM_COUNT } from '../net/spec';
import { checkSnapshot, makeAdopt, makeAverage, peerWeight, type Blend } from './averaging';
import { RealClock, type Clock } from './clock';
import { resolvePreset, type GossipPreset } from './config';
import { Opener, Sealer } from './crypto';
import { decode, encode, MAX_DATAGRAM, MAX_ID_BYTES, Mode, RefuseReason, T, type Msg, type MsgBody } from './messages';
import { Membership, stateName, type Outbound } from './membership';
import { chunkPayload, encodeSnapshot, fingerprintHash, Incoming, metaProblem, Outgoing } from './transfer';
import type { Transport } from './transport';

export type { Blend } from './averaging';

/** Process CPU time in ms (user + system). */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export interface Snapshot {
  params: Float32Array;
  samplesSeen: number;
}

export interface GossipNodeOptions {
  transport: Transport;
  key: Buffer;
  cluster: string;
  /** Unique per board (at most 48 bytes of UTF-8). */
  id: string;
  /** Called when an exchange starts; must return a copy (or a fresh array) of the current parameters. */
  getSnapshot: () => Snapshot;
  /** Addresses to contact first ("host:port"); the rest of the cluster is discovered through them. */
  seeds?: string[];
  /** A joiner pulls a full model from a peer before it averages (ready() waits for it). */
  needsModel?: boolean;
  preset?: GossipPreset | 'local' | 'lan';
  /** Field-by-field changes to the preset (tests shorten timings). */
  tune?: Partial<GossipPreset>;
  log?: (line: string) => void;
  clock?: Clock;
  random?: () => number;
  /** Model identity; defaults to LeNet's (tests gossip plain vectors). */
  fingerprint?: string;
  paramCount?: number;
  /** CPU ms that gossip has used so far, for the budget. A node on a thread of its own passes that
   * thread's CPU clock; without one, the process CPU spent inside the node's handlers is summed,
   * which also counts whatever other threads ran meanwhile. */
  cpuClock?: () => number;
  /** The process's CPU ms so far (default: process.cpuUsage()); tests pass their own. */
  processCpuClock?: () => number;
  /** Called when a blend becomes ready, so that a caller need not poll() on a timer. */
  onBlend?: () => void;
}

export interface GossipStats {
  id: string;
  peers: number;
  /** Gossip's CPU time over the last minute per CPU time of the rest of the process (what cpuBudget limits). */
  cpuShare: number;
  bytesSent: number;
  bytesReceived: number;
  datagramsSent: number;
  datagramsReceived: number;
  /** Blends of kind 'average' applied. */
  averages: number;
  adopts: number;
  /** Complete snapshots refused by the guards (non-finite, norm ratio, distance) or for another model. */
  refused: number;
  exchangesStarted: number;
  exchangesAborted: number;
  /** Model chunks sent again on request, chunks received twice, and requests (Need) sent. */
  chunksResent: number;
  chunksDuplicate: number;
  needsSent: number;
  /** Datagrams dropped, by reason. */
  dropped: { short: number; version: number; auth: number; replay: number; decode: number; unexpected: number };
  /** CPU time (process.cpuUsage, user + system) spent inside the node's handlers (receive path,
   * timers, snapshots, sealing), ms: gossip's CPU cost. */
  cpuMs: number;
  handlerErrors: number;
}

export interface MemberInfo {
  id: string;
  addr: string;
  state: 'alive' | 'suspect' | 'dead' | 'left';
  incarnation: number;
}

type Role = 'init' | 'resp';
interface Exchange {
  role: Role;
  peer: string;
  addr: string;
  xfer: number;
  state: 'proposing' | 'pushing' | 'receiving' | 'replying' | 'committing';
  started: number;
  own?: Snapshot;
  out?: Outgoing;
  inc?: Incoming;
  peerParams?: Float32Array;
  weight?: number;
  tries: number;
  /** Until then, a silent Need is not sent (the peer is still busy with its own part). */
  quietUntil: number;
}

interface Serve {
  peer: string;
  addr: string;
  xfer: number;
  out: Outgoing;
  expires: number;
}

interface Pull {
  peer: string;
  addr: string;
  xfer: number;
  accepted: boolean;
  inc?: Incoming;
  started: number;
  tries: number;
}

const MAX_SERVES = 2;

export class GossipNode {
  readonly id: string;
  readonly preset: GossipPreset;
  private readonly t: Transport;
  private readonly clock: Clock;
  private readonly rand: () => number;
  private readonly log: (s: string) => void;
  private readonly sealer: Sealer;
  private readonly opener: Opener;
  private readonly ms: Membership;
  private readonly fp: number;
  private readonly paramCount: number;
  private readonly timers = new Set<number>();
  private running = false;
  private ex: Exchange | null = null;
  private lastCommitted: { peer: string; xfer: number } | null = null;
  private pending: Blend | null = null;
  private readonly serves = new Map<string, Serve>();
  private pull: Pull | null = null;
  private haveModel: boolean;
  private readyWaiters: (() => void)[] = [];
  private pumpScheduled = false;
  private lastPump = -1;
  private snapshotSeq = 1;
  private readonly s: GossipStats;

  constructor(private readonly o: GossipNodeOptions) {
    if (!o.id || Buffer.byteLength(o.id) > MAX_ID_BYTES) throw new Error(`gossip id "${o.id}" must be 1-${MAX_ID_BYTES} bytes`);
    this.id = o.id;
    this.t = o.transport;
    this.preset = resolvePreset(o.preset, o.tune);
    this.clock = o.clock ?? new RealClock();
    this.rand = o.random ?? Math.random;
    this.log = o.log ?? (() => {});
    this.sealer = new Sealer(o.key, o.cluster, o.id);
    this.opener = new Opener(o.key, o.cluster);
    this.paramCount = o.paramCount ?? PARAM_COUNT;
    this.fp = fingerprintHash(o.fingerprint ?? ARCH_FINGERPRINT, this.paramCount);
    this.haveModel = !o.needsModel;
    this.s = {
      id: o.id, peers: 0, cpuShare: 0, bytesSent: 0, bytesReceived: 0, datagramsSent: 0, datagramsReceived: 0, averages: 0, adopts: 0,
      refused: 0, exchangesStarted: 0, exchangesAborted: 0, chunksResent: 0, chunksDuplicate: 0, needsSent: 0,
      dropped: { short: 0, version: 0, auth: 0, replay: 0, decode: 0, unexpected: 0 }, cpuMs: 0, handlerErrors: 0,
    };
    const seeds = (o.seeds ?? []).filter((a) => a !== this.t.address);
    this.ms = new Membership(o.id, seeds, this.preset, this.clock, this.rand,
      (addr, m) => this.send(addr, m), (fn, ms) => this.timer(fn, ms), this.log);
    this.ms.onGone = (id) => this.peerGone(id);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.t.onMessage((d, from) => this.guarded(() => this.receive(d, from)));
    this.ms.start();
    this.scheduleExchange();
    if (!this.haveModel) {
      this.timer(() => this.tryPull(), this.preset.retryMs);
      this.timer(() => {
        if (this.haveModel) return;
        this.log(`no peer delivered a model within ${this.preset.joinTimeoutMs} ms; training from this board's own initialisation`);
        this.markReady();
      }, this.preset.joinTimeoutMs);
    }
  }

  /** A ready Blend for the trainer to apply between steps, or null. Never blocks. */
  poll(): Blend | null {
    const b = this.pending;
    this.pending = null;
    if (b) {
      this.pendingTaken = b;
      this.takenAt = this.clock.now();
    }
    return b;
  }
  private pendingTaken: Blend | null = null;
  private takenAt = 0;

  /** Resolves once a joiner has received a model (the next poll() returns it) or none is needed. */
  ready(): Promise<void> {
    if (this.haveModel) return Promise.resolve();
    return new Promise((res) => this.readyWaiters.push(res));
  }

  stats(): GossipStats {
    return { ...this.s, dropped: { ...this.s.dropped }, peers: this.ms.alive().length, cpuShare: this.cpuShare() };
  }

  members(): MemberInfo[] {
    return this.members_list();
  }
  private members_list(): MemberInfo[] {
    return [...this.ms.members.values()].map((m) => ({ id: m.id, addr: m.addr, state: stateName(m.state), incarnation: m.incarnation }));
  }

  /** Starts an exchange now with `peerId` (or a random live peer); false if busy or nobody is there. For benchmarks and tests. */
  exchangeNow(peerId?: string): boolean {
    let ok = false;
    this.guarded(() => {
      ok = this.startExchange(peerId);
    });
    return ok;
  }

  /** For a trainer's loop between steps: lets the event loop run until no more datagrams arrive or
   * maxMs passes. Node reads at most 32 datagrams per socket per loop turn, so a single yield per
   * training step would take ~50 steps to receive one fp32 model. */
  async drain(maxMs = 4): Promise<void> {
    const t0 = performance.now();
    let seen = -1;
    while (this.s.datagramsReceived !== seen && performance.now() - t0 < maxMs) {
      seen = this.s.datagramsReceived;
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** True while an exchange is in flight or its blend waits to be applied (a new snapshot before
   * that would not contain it, and the next blend's delta would undo it). A blend polled but never
   * applied stops counting after exchangeTimeoutMs, so a careless caller cannot wedge the node. */
  get busy(): boolean {
    if (this.ex !== null || this.pending !== null) return true;
    return this.pendingTaken !== null && !this.appliedTaken() && this.clock.now() - this.takenAt < this.preset.exchangeTimeoutMs;
  }

  /** Tells the peers we are going; they mark us 'left' at once instead of suspecting us. */
  async leave(): Promise<void> {
    if (!this.running) return;
    this.guarded(() => {
      if (this.ex) this.abort('leaving');
      this.ms.leave();
    });
  }

  /** Stops timers and handlers; the transport stays open (its owner closes it). */
  async stop(): Promise<void> {
    this.running = false;
    this.ms.stop();
    for (const id of this.timers) this.clock.clearTimeout(id);
    this.timers.clear();
    this.t.onMessage(() => {});
    this.markReady();
  }

  // ---------------------------------------------------------------- plumbing

  private applied = new WeakSet<Blend>();
  private appliedTaken(): boolean {
    return this.pendingTaken !== null && this.applied.has(this.pendingTaken);
  }

  /** Makes b the blend poll() hands out next, tracking when it is applied (see busy). */
  private setPending(b: Blend): void {
    this.markApplied(b);
    this.pending = b;
    if (this.o.onBlend) this.clock.setTimeout(() => this.o.onBlend?.(), 0);
  }

  private guarded(fn: () => void): void {
    // CPU time, not wall time: on a loaded machine wall time would charge gossip for preemption
    const t0 = cpuNow();
    try {
      fn();
    } catch (e) {
      // the receive path never throws: a bug or a hostile input costs one datagram, not the board
      this.s.handlerErrors++;
      this.log(`gossip handler error: ${(e as Error).stack ?? e}`);
    } finally {
      this.s.cpuMs += cpuNow() - t0;
    }
  }

  private timer(fn: () => void, ms: number): number {
    const id = this.clock.setTimeout(() => {
      this.timers.delete(id);
      if (this.running) this.guarded(fn);
    }, ms);
    this.timers.add(id);
    return id;
  }

  private send(addr: string, m: Outbound | MsgBody): void {
    if (!this.running) return;
    const plain = encode({ ...(m as object), from: this.id, incarnation: this.ms.incarnation } as Msg);
    const sealed = this.sealer.seal(plain);
    if (sealed.length > MAX_DATAGRAM) throw new Error(`datagram of ${sealed.length} bytes`);
    this.s.bytesSent += sealed.length;
    this.s.datagramsSent++;
    this.t.send(addr, sealed);
  }

  private receive(d: Uint8Array, from: string): void {
    if (!this.running) return;
    this.s.datagramsReceived++;
    this.s.bytesReceived += d.length;
    if (d.length > MAX_DATAGRAM) {
      this.s.dropped.short++;
      return;
    }
    const r = this.opener.open(d);
    if (!r.ok) {
      this.s.dropped[r.reason]++;
      return;
    }
    const m = decode(r.plain);
    if (!m) {
      this.s.dropped.decode++;
      return;
    }
    if (m.from === this.id) return; // our own datagram echoed back (a seed list that includes us)
    if (m.type !== T.Leave) this.ms.noteDirect(m.from, m.incarnation, from);
    switch (m.type) {
      case T.Ping:
      case T.Ack:
      case T.PingReq:
      case T.IndirectAck:
      case T.Leave:
        this.ms.handle(m, from);
        if (m.type === T.Leave) this.peerGone(m.from);
        break;
      case T.Propose:
        this.onPropose(m, from);
        break;
      case T.Accept:
        this.onAccept(m, from);
        break;
      case T.Refuse:
        this.onRefuse(m);
        break;
      case T.Chunk:
        this.onChunk(m, from);
        break;
      case T.Need:
        this.onNeed(m);
        break;
      case T.Commit:
        this.onCommit(m, from);
        break;
      case T.CommitAck:
        if (this.ex && this.ex.role === 'init' && this.ex.state === 'committing' && this.ex.xfer === m.xfer && this.ex.peer === m.from) this.finish();
        break;
      case T.Abort:
        if (this.ex && this.ex.xfer === m.xfer && this.ex.peer === m.from) this.abort(`${m.from} aborted`);
        break;
    }
  }

  // ---------------------------------------------------------------- exchange (initiator)

  private scheduleExchange(): void {
    const iv = this.preset.exchangeIntervalMs;
    this.timer(() => {
      this.scheduleExchange();
      this.startExchange();
    }, iv * (0.5 + this.rand()));
  }

  /** Gossip's CPU time over about the last minute, per CPU time the rest of the process (training)
   * took meanwhile: "gossip per training second", which is what the budget bounds, also on a board
   * that shares its cores. From the node's start on, so that the first exchanges count too. */
  cpuShare(extraMs = 0): number {
    const now = this.clock.now(), proc = this.o.processCpuClock ? this.o.processCpuClock() : cpuNow();
    const h = this.cpuHistory;
    const used = this.cpuUsed();
    if (h.length === 0 || now - h[h.length - 1].t >= 1000) h.push({ t: now, cpu: used, proc });
    while (h.length > 2 && now - h[1].t >= 60_000) h.shift();
    const g = used - h[0].cpu + extraMs;
    const rest = Math.max(proc - h[0].proc - (used - h[0].cpu), this.preset.cpuBudgetFloorCores * (now - h[0].t));
    return g <= 0 ? 0 : rest <= 0 ? Infinity : g / rest;
  }
  private readonly cpuHistory: { t: number; cpu: number; proc: number }[] = [];

  private cpuUsed(): number {
    return this.o.cpuClock ? this.o.cpuClock() : this.s.cpuMs;
  }
  /** CPU ms of recent exchanges (moving average) and the clock at the start of the current one. */
  private exchangeCost = 0;
  private exchangeCpu0 = 0;

  /** Whether one more exchange would take gossip past its budget: the check counts the exchange
   * about to start, since once begun it runs to the end (without that, boards ended ~10% over). */
  private overBudget(): boolean {
    return this.preset.cpuBudget > 0 && this.cpuShare(this.exchangeCost) > this.preset.cpuBudget;
  }

  private startExchange(peerId?: string): boolean {
    if (!this.running || this.busy || !this.haveModel) return false;
    if (!peerId && this.overBudget()) return false;
    const live = this.ms.alive();
    const peer = peerId ? live.find((m) => m.id === peerId) : live[Math.floor(this.rand() * live.length)];
    if (!peer) return false;
    const xfer = (this.rand() * 0x100000000) >>> 0;
    this.ex = { role: 'init', peer: peer.id, addr: peer.addr, xfer, state: 'proposing', started: this.clock.now(), tries: 0, quietUntil: 0 };
    this.exchangeCpu0 = this.cpuUsed();
    this.s.exchangesStarted++;
    this.sendPropose(this.ex);
    this.watchdog(this.ex);
    return true;
  }

  private sendPropose(ex: Exchange): void {
    if (this.ex !== ex || ex.state !== 'proposing') return;
    if (ex.tries++ >= this.preset.retries) return this.abort(`no answer from ${ex.peer}`);
    this.send(ex.addr, { type: T.Propose, xfer: ex.xfer, mode: Mode.Exchange, fingerprint: this.fp, paramCount: this.paramCount });
    this.timer(() => this.sendPropose(ex), this.preset.retryMs);
  }

  private onAccept(m: Msg & { type: T.Accept }, from: string): void {
    if (this.pull && this.pull.xfer === m.xfer && this.pull.peer === m.from) {
      this.pull.accepted = true;
      return;
    }
    const ex = this.ex;
    if (!ex || ex.role !== 'init' || ex.xfer !== m.xfer || ex.peer !== m.from || ex.state !== 'proposing') return;
    ex.addr = from;
    ex.state = 'pushing';
    ex.own = this.snapshot();
    ex.out = new Outgoing(encodeSnapshot(ex.own.params, ex.own.samplesSeen, this.snapshotSeq++, this.fp, this.preset.encoding), this.preset.windowChunks, this.preset.needAfterMs * 4);
    this.kick();
    this.needLoop(ex);
  }

  private onRefuse(m: Msg & { type: T.Refuse }): void {
    if (this.pull && this.pull.xfer === m.xfer && this.pull.peer === m.from) {
      this.pull = null;
      return;
    }
    if (this.ex && this.ex.xfer === m.xfer && this.ex.peer === m.from) {
      if (m.reason === RefuseReason.Guard || m.reason === RefuseReason.Fingerprint) this.log(`${m.from} refused our snapshot (reason ${m.reason})`);
      this.end(true);
    }
  }

  // ---------------------------------------------------------------- exchange (responder)

  private onPropose(m: Msg & { type: T.Propose }, from: string): void {
    if (m.fingerprint !== this.fp || m.paramCount !== this.paramCount) {
      this.s.refused++;
      this.send(from, { type: T.Refuse, xfer: m.xfer, reason: RefuseReason.Fingerprint });
      return;
    }
    if (m.mode === Mode.Pull) return this.onPullRequest(m, from);
    const ex = this.ex;
    if (ex && ex.role === 'resp' && ex.peer === m.from && ex.xfer === m.xfer) {
      this.send(from, { type: T.Accept, xfer: m.xfer }); // our Accept was lost
      return;
    }
    if (!this.haveModel) return this.send(from, { type: T.Refuse, xfer: m.xfer, reason: RefuseReason.NotReady });
    if (this.busy || this.overBudget()) return this.send(from, { type: T.Refuse, xfer: m.xfer, reason: RefuseReason.Busy });
    this.ex = { role: 'resp', peer: m.from, addr: from, xfer: m.xfer, state: 'receiving', started: this.clock.now(), tries: 0, quietUntil: 0 };
    this.exchangeCpu0 = this.cpuUsed();
    this.send(from, { type: T.Accept, xfer: m.xfer });
    this.watchdog(this.ex);
    this.needLoop(this.ex);
  }

  private onCommit(m: Msg & { type: T.Commit }, from: string): void {
    const ex = this.ex;
    if (ex && ex.role === 'resp' && ex.peer === m.from && ex.xfer === m.xfer && ex.state === 'replying') {
      this.setPending(makeAverage(ex.peer, ex.own!.params, ex.peerParams!, ex.weight!, () => this.s.averages++));
      this.lastCommitted = { peer: ex.peer, xfer: ex.xfer };
      this.send(from, { type: T.CommitAck, xfer: m.xfer });
      this.finish();
      return;
    }
    if (this.lastCommitted && this.lastCommitted.peer === m.from && this.lastCommitted.xfer === m.xfer) {
      this.send(from, { type: T.CommitAck, xfer: m.xfer }); // our ack was lost; the blend is already ours
    }
  }

  // ---------------------------------------------------------------- chunks

  private onChunk(m: Msg & { type: T.Chunk }, from: string): void {
    const now = this.clock.now();
    const pull = this.pull;
    if (pull && pull.xfer === m.xfer && pull.peer === m.from && m.dir === 1) {
      if (metaProblem(m.meta, this.fp, this.paramCount)) return void this.s.dropped.unexpected++;
      pull.accepted = true;
      if (!pull.inc) pull.inc = new Incoming(m.meta, now);
      if (!pull.inc.matches(m.meta)) return void this.s.dropped.unexpected++;
      if (pull.inc.add(m.index, m.payload, now)) this.maybeReport(pull.addr, pull.xfer, 1, pull.inc);
      else this.s.chunksDuplicate++;
      if (pull.inc.complete) this.pullComplete(pull);
      return;
    }
    const ex = this.ex;
    const want = ex && ex.xfer === m.xfer && ex.peer === m.from &&
      ((ex.role === 'resp' && m.dir === 0 && ex.state === 'receiving') || (ex.role === 'init' && m.dir === 1 && ex.state === 'pushing'));
    if (!ex || !want) return void this.s.dropped.unexpected++;
    if (metaProblem(m.meta, this.fp, this.paramCount)) return void this.s.dropped.unexpected++;
    ex.addr = from;
    if (!ex.inc) ex.inc = new Incoming(m.meta, now);
    if (!ex.inc.matches(m.meta)) return void this.s.dropped.unexpected++;
    if (ex.inc.add(m.index, m.payload, now)) this.maybeReport(ex.addr, ex.xfer, m.dir, ex.inc);
    else this.s.chunksDuplicate++;
    if (ex.inc.complete) this.snapshotComplete(ex);
  }

  private snapshotComplete(ex: Exchange): void {
    const meta = ex.inc!.meta;
    const peerParams = ex.inc!.params();
    ex.inc = undefined; // reassembly memory goes back as soon as the snapshot is decoded
    if (ex.role === 'resp') ex.own = this.snapshot();
    const why = checkSnapshot(ex.own!.params, peerParams, this.preset);
    if (why) {
      this.s.refused++;
      this.log(`refused snapshot from ${ex.peer}: ${why}`);
      this.send(ex.addr, ex.role === 'resp' ? { type: T.Refuse, xfer: ex.xfer, reason: RefuseReason.Guard } : { type: T.Abort, xfer: ex.xfer });
      return this.end(true);
    }
    ex.peerParams = peerParams;
    ex.weight = peerWeight(ex.own!.samplesSeen, meta.samplesSeen, this.preset.minWeight, this.preset.maxWeight);
    if (ex.role === 'resp') {
      ex.state = 'replying';
      ex.out = new Outgoing(encodeSnapshot(ex.own!.params, ex.own!.samplesSeen, this.snapshotSeq++, this.fp, this.preset.encoding), this.preset.windowChunks, this.preset.needAfterMs * 4);
      this.kick();
      return;
    }
    // initiator: both halves are here; our blend is ready now, the peer's once it hears Commit
    this.setPending(makeAverage(ex.peer, ex.own!.params, peerParams, ex.weight, () => this.s.averages++));
    ex.state = 'committing';
    ex.out = undefined;
    ex.tries = 0;
    this.sendCommit(ex);
  }

  private sendCommit(ex: Exchange): void {
    if (this.ex !== ex || ex.state !== 'committing') return;
    if (ex.tries++ >= this.preset.retries) {
      this.log(`no commit ack from ${ex.peer}; it may not have averaged`);
      return this.finish();
    }
    this.send(ex.addr, { type: T.Commit, xfer: ex.xfer });
    this.timer(() => this.sendCommit(ex), this.preset.retryMs);
  }

  /** While a snapshot is expected, ask for what is missing whenever the line goes quiet. */
  private needLoop(ex: Exchange): void {
    this.timer(() => {
      if (this.ex !== ex) return;
      const expecting = (ex.role === 'resp' && ex.state === 'receiving') || (ex.role === 'init' && ex.state === 'pushing');
      if (!expecting) return;
      const now = this.clock.now();
      if (ex.inc) {
        const inc = ex.inc;
        if (now - inc.lastProgress > this.preset.transferTimeoutMs) return this.abort(`transfer from ${ex.peer} stalled`);
        if (now - inc.lastHeard >= this.preset.needAfterMs) {
          // Quiet, or were we just busy (a training step)? Look again after the event loop has read
          // the socket once more: only if that brought nothing is the line really silent. Without
          // this, a busy receiver re-requests chunks that sit unread in its own socket buffer.
          const heard = inc.lastHeard;
          this.timer(() => {
            if (this.ex === ex && ex.inc === inc && inc.lastHeard === heard && !inc.complete) this.sendNeed(ex.addr, ex.xfer, ex.role === 'resp' ? 0 : 1, inc);
          }, 0);
        }
      } else if ((ex.role === 'resp' || (ex.out && ex.out.idle)) && now - this.ms.heardFrom(ex.peer) >= 4 * this.preset.needAfterMs) {
        // not one chunk yet and the peer silent for a while: perhaps all were lost. Asking while its
        // chunks sit unread in our socket would make it send everything twice, so confirm first.
        const heard = this.ms.heardFrom(ex.peer);
        this.timer(() => {
          if (this.ex === ex && !ex.inc && this.ms.heardFrom(ex.peer) === heard) {
            this.s.needsSent++;
            this.send(ex.addr, { type: T.Need, xfer: ex.xfer, dir: ex.role === 'resp' ? 0 : 1, have: 0, ranges: [[0, 0xffff]] });
          }
        }, 0);
      }
      this.needLoop(ex);
    }, this.preset.needAfterMs);
  }

  /** After silence: ask for the holes below the highest chunk seen (those were lost). Chunks past it
   * were maybe never sent yet, or wait in the sender's own socket queue while it trains (a UDP send
   * leaves only when the sender's event loop turns), so the tail is asked for only after a long
   * silence; asking early makes the sender queue the whole model twice. */
  private sendNeed(addr: string, xfer: number, dir: number, inc: Incoming): void {
    const longSilence = this.clock.now() - inc.lastHeard >= 8 * this.preset.needAfterMs;
    const ranges = inc.needRanges(longSilence ? inc.meta.chunkCount : inc.frontier);
    inc.sinceReport = 0;
    this.s.needsSent++;
    this.send(addr, { type: T.Need, xfer, dir, have: inc.haveCount, ranges });
  }

  /** Every window/4 new chunks: tell the sender how many we hold (opens its window) and which ones
   * below the highest seen are missing (most likely lost). */
  private maybeReport(addr: string, xfer: number, dir: number, inc: Incoming): void {
    if (inc.complete || inc.sinceReport < Math.max(1, this.preset.windowChunks >> 2)) return;
    inc.sinceReport = 0;
    this.send(addr, { type: T.Need, xfer, dir, have: inc.haveCount, ranges: inc.needRanges(inc.frontier) });
  }

  private onNeed(m: Msg & { type: T.Need }): void {
    let out: Outgoing | undefined;
    const ex = this.ex;
    if (ex && ex.xfer === m.xfer && ex.peer === m.from && ex.out && m.dir === (ex.role === 'init' ? 0 : 1)) out = ex.out;
    const sv = this.serves.get(`${m.from}/${m.xfer}`);
    if (!out && sv && m.dir === 1) {
      out = sv.out;
      sv.expires = this.clock.now() + this.preset.transferTimeoutMs;
    }
    if (!out) return;
    out.confirm(m.have);
    const r0 = out.pendingResends;
    out.request(m.ranges, this.clock.now());
    if (process.env.VCT_GOSSIP_DEBUG && out.pendingResends - r0 > 50) this.log(`need from ${m.from}: have ${m.have}, ranges ${JSON.stringify(m.ranges.slice(0, 5))}, queued ${out.pendingResends - r0}, next ${out.nextIndex}`);
    this.kick();
  }

  /** Paces every outgoing transfer: at most `burst` datagrams per `paceMs`, so receivers' socket buffers keep up. */
  private kick(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    this.timer(() => this.pump(), 0);
  }

  private pump(): void {
    this.pumpScheduled = false;
    const flows: { addr: string; xfer: number; dir: number; out: Outgoing }[] = [];
    const ex = this.ex;
    if (ex && ex.out && (ex.state === 'pushing' || ex.state === 'replying')) flows.push({ addr: ex.addr, xfer: ex.xfer, dir: ex.role === 'init' ? 0 : 1, out: ex.out });
    const now = this.clock.now();
    for (const [k, sv] of this.serves) {
      if (now > sv.expires) this.serves.delete(k);
      else flows.push({ addr: sv.addr, xfer: sv.xfer, dir: 1, out: sv.out });
    }
    // a sender busy in a training step catches up: the budget grows with the time since the last
    // pump, up to one window (the receiver's flow control still bounds what is in flight)
    const elapsed = this.lastPump < 0 ? this.preset.paceMs : now - this.lastPump;
    this.lastPump = now;
    const full = Math.min(this.preset.windowChunks, 256, Math.max(this.preset.burst, Math.floor((this.preset.burst * elapsed) / this.preset.paceMs)));
    let budget = full;
    let progress = true;
    while (budget > 0 && progress) {
      progress = false;
      for (const f of flows) {
        if (budget <= 0) break;
        const before = f.out.resent;
        const i = f.out.take(now);
        if (i < 0) continue;
        this.s.chunksResent += f.out.resent - before;
        this.send(f.addr, { type: T.Chunk, xfer: f.xfer, dir: f.dir, meta: f.out.snap.meta, index: i, payload: chunkPayload(f.out.snap, i) });
        budget--;
        progress = true;
      }
    }
    if (budget < full && flows.some((f) => !f.out.idle)) {
      this.pumpScheduled = true;
      this.timer(() => this.pump(), this.preset.paceMs);
    }
  }

  // ---------------------------------------------------------------- pulls (joining)

  private tryPull(): void {
    if (this.haveModel) return;
    const now = this.clock.now();
    const p = this.pull;
    if (p) {
      if (p.inc && now - p.inc.lastHeard >= this.preset.needAfterMs && now - p.inc.lastProgress < this.preset.transferTimeoutMs) {
        const inc = p.inc, heard = inc.lastHeard;
        this.timer(() => {
          if (this.pull === p && p.inc === inc && inc.lastHeard === heard) this.sendNeed(p.addr, p.xfer, 1, inc);
        }, 0);
      } else if (!p.accepted && p.tries < this.preset.retries) {
        p.tries++;
        this.send(p.addr, { type: T.Propose, xfer: p.xfer, mode: Mode.Pull, fingerprint: this.fp, paramCount: this.paramCount });
      } else if (p.accepted && !p.inc && now - p.started > this.preset.needAfterMs) {
        this.send(p.addr, { type: T.Need, xfer: p.xfer, dir: 1, have: 0, ranges: [[0, 0xffff]] });
      }
      const last = p.inc ? p.inc.lastProgress : p.started;
      if (now - last > this.preset.transferTimeoutMs || (!p.accepted && p.tries >= this.preset.retries)) {
        this.log(`model pull from ${p.peer} failed; trying another peer`);
        this.pull = null;
      }
    }
    if (!this.pull) {
      const live = this.ms.alive();
      if (live.length) {
        const peer = live[Math.floor(this.rand() * live.length)];
        this.pull = { peer: peer.id, addr: peer.addr, xfer: (this.rand() * 0x100000000) >>> 0, accepted: false, started: now, tries: 1 };
        this.send(peer.addr, { type: T.Propose, xfer: this.pull.xfer, mode: Mode.Pull, fingerprint: this.fp, paramCount: this.paramCount });
      }
    }
    this.timer(() => this.tryPull(), Math.min(this.preset.retryMs, this.preset.needAfterMs));
  }

  private onPullRequest(m: Msg & { type: T.Propose }, from: string): void {
    const key = `${m.from}/${m.xfer}`;
    if (this.serves.has(key)) return this.send(from, { type: T.Accept, xfer: m.xfer });
    if (!this.haveModel) return this.send(from, { type: T.Refuse, xfer: m.xfer, reason: RefuseReason.NotReady });
    if (this.serves.size >= MAX_SERVES) return this.send(from, { type: T.Refuse, xfer: m.xfer, reason: RefuseReason.Busy });
    const own = this.snapshot();
    const out = new Outgoing(encodeSnapshot(own.params, own.samplesSeen, this.snapshotSeq++, this.fp, this.preset.encoding), this.preset.windowChunks, this.preset.needAfterMs * 4);
    this.serves.set(key, { peer: m.from, addr: from, xfer: m.xfer, out, expires: this.clock.now() + this.preset.transferTimeoutMs });
    this.send(from, { type: T.Accept, xfer: m.xfer });
    this.kick();
  }

  private pullComplete(p: Pull): void {
    const params = p.inc!.params();
    p.inc = undefined;
    this.pull = null;
    for (let i = 0; i < params.length; i++) {
      if (!Number.isFinite(params[i])) {
        this.s.refused++;
        this.log(`refused model from ${p.peer}: non-finite value at ${i}`);
        return;
      }
    }
    this.setPending(makeAdopt(p.peer, params, () => this.s.adopts++));
    this.log(`received a full model from ${p.peer}`);
    this.markReady();
  }

  private markReady(): void {
    this.haveModel = true;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const f of w) f();
  }

  // ---------------------------------------------------------------- endings

  private markApplied(b: Blend): void {
    const inner = b.applyTo.bind(b);
    b.applyTo = (params: Float32Array) => {
      inner(params);
      this.applied.add(b);
    };
  }

  private snapshot(): Snapshot {
    const s = this.o.getSnapshot();
    if (s.params.length !== this.paramCount) throw new Error(`getSnapshot gave ${s.params.length} params, expected ${this.paramCount}`);
    return { params: s.params.slice(), samplesSeen: s.samplesSeen };
  }

  /** Ends an exchange that overran exchangeTimeoutMs, except in the two states where ending would
   * leave one side averaged and the other not. An initiator in 'committing' holds its blend already:
   * cutting its Commit retries short could strand the responder without its half, and the retries
   * end by themselves. A responder in 'replying' may yet receive that Commit: the initiator started
   * first, so its watchdog has fired by now and its last Commit follows within retries x retryMs;
   * the responder waits that long (plus two retries for the wire) before giving up. */
  private watchdog(ex: Exchange): void {
    this.timer(() => {
      if (this.ex !== ex || ex.state === 'committing') return;
      if (ex.role === 'resp' && ex.state === 'replying') {
        this.timer(() => {
          if (this.ex === ex) this.abort(`no commit from ${ex.peer}`);
        }, (this.preset.retries + 2) * this.preset.retryMs);
        return;
      }
      this.abort(`exchange with ${ex.peer} timed out`);
    }, this.preset.exchangeTimeoutMs);
  }

  private peerGone(id: string): void {
    // A responder in 'replying' keeps waiting for Commit even if membership gives the initiator up:
    // under heavy loss a live peer can be declared dead, and its Commit may still come (the watchdog
    // bounds the wait).
    if (this.ex && this.ex.peer === id && !(this.ex.role === 'resp' && this.ex.state === 'replying')) this.abort(`${id} left`);
    if (this.pull && this.pull.peer === id) this.pull = null;
  }

  private abort(why: string): void {
    const ex = this.ex;
    if (!ex) return;
    if (ex.state === 'committing') return this.finish(); // our blend exists already; nothing to undo
    this.log(`exchange ${ex.xfer.toString(16)} with ${ex.peer} abandoned (${ex.role === 'init' ? 'initiator' : 'responder'}, ${ex.state}): ${why}`);
    this.send(ex.addr, { type: T.Abort, xfer: ex.xfer });
    this.end(true);
  }

  private finish(): void {
    this.end(false);
  }

  private end(aborted: boolean): void {
    if (aborted) this.s.exchangesAborted++;
    else {
      const cost = this.cpuUsed() - this.exchangeCpu0;
      this.exchangeCost = this.exchangeCost === 0 ? cost : 0.7 * this.exchangeCost + 0.3 * cost;
    }
    this.ex = null;
  }
}
