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
// Commit past its own timeout, long enough for all of A's retries (two generals: if all 10 Commit
// retries are lost, A has averaged and B has not).
// A board is busy from Propose/Accept until its blend has been applied, so exchanges never
// overlap and each blend is computed from the snapshot actually sent.
//
// Training never waits: the node works from timers and datagram callbacks, and poll() hands the
// trainer a ready Blend (or null) between steps. A joiner with needsModel first pulls a full model
// from a peer (Propose with mode Pull) and poll() returns it as an 'adopt' Blend.
//
// This file is the node's wiring and its dispatch; the parts live beside it: exchange.ts (the state
// machine above), join.ts (pulls), transfer.ts (chunks and pacing), budget.ts (CPU budget), intake.ts
// (size, shedding, AEAD), membership.ts (who is alive).
import type { Blend } from './averaging';
import { CpuBudget, cpuNow, fineThreadCpuClock, ProgressGuarantee } from './budget';
import { RealClock, type Clock } from './clock';
import { resolvePreset, type GossipPreset } from './config';
import { emptyStats, type GossipNodeOptions, type GossipStats, type MemberInfo, type NodeContext, type Snapshot } from './context';
import { DEFAULT_AEAD, Opener, Sealer } from './crypto';
import { Intake } from './intake';
import { Exchanges } from './exchange';
import { Joins } from './join';
import { datagramLimit, decode, encodeFrom, MAX_ID_BYTES, Mode, MsgType, RefuseReason, type Msg, type MsgBody } from './messages';
import { Membership, stateName, type Outbound } from './membership';
import { chunkHeader, chunkPayload, encodeSnapshot, fingerprintHash, fitWindow, Outgoing, Pacer, type Flow } from './transfer';
import { datagramLength, type Transport } from './transport';

export type { Blend } from './averaging';
export type { GossipNodeOptions, GossipStats, MemberInfo, Snapshot } from './context';
export { fitWindow } from './transfer';

export class GossipNode {
  readonly id: string;
  readonly preset: GossipPreset;
  private readonly opts: GossipNodeOptions;
  private readonly transport: Transport;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: (line: string) => void;
  private readonly sealer: Sealer;
  private readonly intake: Intake;
  private readonly membership: Membership;
  private readonly fingerprint: number;
  private readonly paramCount: number;
  /** opts.cpuClock at construction: stats().cpuMs counts from here. */
  private readonly cpuAtStart: number;
  /** Sealed bytes a datagram may have, sent or received (wider with wide chunks). */
  private readonly maxDatagram: number;
  private readonly counts: GossipStats;
  private readonly budget: CpuBudget;
  private readonly pacer: Pacer;
  private readonly exchanges: Exchanges;
  private readonly joins: Joins;
  private readonly timers = new Set<number>();
  private running = false;
  private readonly guarantee: ProgressGuarantee;
  private pending: Blend | null = null; // the blend poll() hands out next
  private snapshotSeq = 1;
  private sameIdLogged = false;
  private missedForNoPeer = false;

  constructor(opts: GossipNodeOptions) {
    if (!opts.id || Buffer.byteLength(opts.id) > MAX_ID_BYTES) throw new Error(`gossip id "${opts.id}" must be 1-${MAX_ID_BYTES} bytes`);
    if (!opts.fingerprint || !(opts.paramCount > 0)) throw new Error(`gossip node ${opts.id}: a model fingerprint and a positive paramCount are required`);
    this.opts = opts;
    this.id = opts.id;
    this.transport = opts.transport;
    this.preset = fitWindow(resolvePreset(opts.preset, opts.tune), opts.transport.recvBufferBytes);
    this.clock = opts.clock ?? new RealClock();
    this.random = opts.random ?? Math.random;
    this.log = opts.log ?? (() => {});
    this.sealer = new Sealer(opts.key, opts.cluster, opts.id, opts.aead);
    this.paramCount = opts.paramCount;
    this.fingerprint = fingerprintHash(opts.fingerprint, this.paramCount);
    this.maxDatagram = datagramLimit(this.preset.chunkBytes);
    this.counts = emptyStats(opts.id);
    this.cpuAtStart = opts.cpuClock ? opts.cpuClock() : 0;
    this.intake = new Intake(new Opener(opts.key, opts.cluster, opts.aead), this.counts, this.maxDatagram, this.clock, opts.aead ?? DEFAULT_AEAD, this.log,
      (ms) => this.budget.forgive(ms), opts.rejectedCpuClock === undefined ? fineThreadCpuClock() : opts.rejectedCpuClock);
    this.budget = new CpuBudget({
      cpuBudget: this.preset.cpuBudget,
      cpuBudgetFloorCores: this.preset.cpuBudgetFloorCores,
      now: () => this.clock.now(),
      gossipCpu: opts.cpuClock ?? (() => this.counts.cpuMs),
      processCpu: opts.processCpuClock ?? cpuNow,
      notTrainingCpu: opts.notTrainingCpuClock,
      startupCpuMs: opts.startupCpuMs,
    });
    const seeds = (opts.seeds ?? []).filter((a) => a !== this.transport.address);
    this.membership = new Membership(opts.id, seeds, this.preset, this.clock, this.random,
      (addr, m) => this.send(addr, m), (fn, ms) => this.timer(fn, ms), this.log, (id) => this.cancelTimer(id));
    this.membership.onGone = (id) => this.peerGone(id);
    // Proving an address costs a round trip more than the old first contact did: a scheduled
    // exchange that found nobody yet is made up as soon as the first peer is proven, instead of
    // waiting out a whole interval.
    this.membership.onJoin = () => {
      if (!this.missedForNoPeer) return;
      this.missedForNoPeer = false;
      this.timer(() => void this.startExchange(), 0);
    };
    this.pacer = new Pacer({
      pacing: this.preset,
      now: () => this.clock.now(),
      flows: (now) => this.flows(now),
      sendChunk: (f, i, resent) => this.sendChunk(f, i, resent),
      timer: (fn, ms) => void this.timer(fn, ms),
    });
    this.guarantee = new ProgressGuarantee(this.preset.averageAtLeastEveryMs, () => this.clock.now(), (fn, ms) => this.timer(fn, ms),
      () => void (this.busy || this.startExchange()), this.preset.exchangeIntervalMs / 4);
    const ctx = this.context();
    this.exchanges = new Exchanges(ctx);
    this.joins = new Joins(ctx, !!opts.needsModel);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.transport.onMessage((d, from) => {
      // Until a datagram authenticates, its cost is anyone's to impose: a flooding source is dropped
      // before anything is timed or parsed (gate); what fails later stays out of the budget too.
      if (!this.running || this.intake.gate(d, from)) return;
      const t0 = this.intake.handlerClock();
      let accepted = false;
      this.guarded(() => (accepted = this.receive(d, from)));
      if (accepted) this.intake.otherWork(); else this.intake.rejected(t0);
    });
    this.membership.start();
    this.scheduleExchange();
    this.joins.start();
  }

  /** The trainer began an epoch: the board is owed an average within it (ProgressGuarantee). */
  epochBegan(): void {
    this.guarantee.epochBegan();
  }

  /** See CpuBudget.floorCores. */
  setCpuBudgetFloorCores(cores: number): void { this.budget.floorCores = cores; }
  /** From the next scheduled exchange on; the scaling bench paces boards on their own time (bench/board-time-pacer.ts). */
  setExchangeInterval(ms: number): void { this.preset.exchangeIntervalMs = ms; }

  /** A ready Blend for the trainer to apply between steps (applyBlend), or null. Never blocks. */
  poll(): Blend | null {
    const b = this.pending;
    this.pending = null;
    if (b?.kind === 'average') this.counts.averages++;
    else if (b) this.counts.adopts++;
    return b;
  }

  /** Hands back a polled blend's values once applied: the next blend reuses the array. */
  recycle(values: Float32Array): void {
    this.exchanges.recycle(values);
  }

  /** Resolves once a joiner has received a model (the next poll() returns it) or none is needed. */
  ready(): Promise<void> {
    return this.joins.ready();
  }

  stats(): GossipStats {
    const s = this.counts;
    return {
      ...s, cpuMs: this.opts.cpuClock ? this.opts.cpuClock() - this.cpuAtStart : s.cpuMs, dropped: { ...s.dropped }, peers: this.membership.alive().length, cpuShare: this.budget.share(),
      budget: { ...s.budget, forgivenMs: this.budget.forgivenMs, exchangeMs: this.budget.exchangeCpuMs }, timeoutScale: this.exchanges.timeoutScale,
    };
  }

  members(): MemberInfo[] {
    return [...this.membership.members.values()].map((m) => ({ id: m.id, addr: m.addr, state: stateName(m.state), incarnation: m.incarnation }));
  }

  /** Starts an exchange now with `peerId` (or a random live peer); false if busy or nobody is there. For benchmarks and tests. */
  exchangeNow(peerId?: string): boolean {
    let ok = false;
    this.guarded(() => (ok = this.startExchange(peerId)));
    return ok;
  }

  /** Q8 error feedback's residual: what our peers have not yet been given of our parameters (null
   * unless snapshots travel as q8 and one has gone out). Read-only, for reports and tests. */
  get sendResidual(): Readonly<Float32Array> | null {
    return this.exchanges.residual;
  }

  /** True while an exchange is in flight or its blend waits for poll() (a new snapshot before that
   * would not contain it, and the next blend's delta would undo it). */
  get busy(): boolean {
    return this.exchanges.active || this.pending !== null;
  }

  /** Tells the peers we are going; they mark us 'left' at once instead of suspecting us. */
  async leave(): Promise<void> {
    if (!this.running) return;
    this.guarded(() => {
      this.exchanges.abort('leaving');
      this.membership.leave();
    });
  }

  /** Stops timers and handlers; the transport stays open (its owner closes it). */
  async stop(): Promise<void> {
    this.running = false;
    this.membership.stop();
    for (const id of this.timers) this.clock.clearTimeout(id);
    this.timers.clear();
    this.transport.onMessage(() => {});
    this.joins.markReady();
  }

  // ---------------------------------------------------------------- plumbing

  /** What exchange.ts and join.ts may use of the node. */
  private context(): NodeContext {
    return {
      id: this.id, preset: this.preset, clock: this.clock, random: this.random, stats: this.counts,
      membership: this.membership, fingerprint: this.fingerprint, paramCount: this.paramCount,
      pacer: this.pacer, budget: this.budget,
      log: this.log,
      send: (addr, m) => this.send(addr, m),
      timer: (fn, ms) => this.timer(fn, ms),
      snapshot: () => this.snapshot(),
      outgoing: (own, scratch, feedback) => new Outgoing(encodeSnapshot(own.params, own.samplesSeen, this.snapshotSeq++, this.fingerprint, this.preset.encoding, this.preset.chunkBytes, scratch, feedback),
        this.preset.windowChunks, this.preset.needAfterMs * 4),
      wantSnapshot: () => this.opts.wantSnapshot?.(),
      deliver: (b) => this.deliver(b),
      blendWaiting: () => this.pending !== null,
      haveModel: () => this.joins.haveModel,
      overdue: () => this.guarantee.overdue(),
    };
  }

  private deliver(b: Blend): void {
    this.pending = b;
    this.guarantee.averaged();
    if (this.opts.onBlend) this.clock.setTimeout(() => this.opts.onBlend?.(), 0);
  }

  private snapshot(): Snapshot {
    const s = this.opts.getSnapshot();
    if (s.params.length !== this.paramCount) throw new Error(`getSnapshot gave ${s.params.length} params, expected ${this.paramCount}`);
    return s; // a copy already, or an array its owner replaces rather than writes (GossipNodeOptions)
  }

  private guarded(fn: () => void): void {
    // A node given its thread's clock (the gossip thread's) is measured by it: timing each handler
    // as well cost two process.cpuUsage() calls, ~3 µs each, per datagram, a tenth of a lan
    // exchange's CPU (bench/exchange-cost.ts).
    if (this.opts.cpuClock) {
      try {
        fn();
        this.opts.afterWork?.();
      } catch (e) {
        this.handlerError(e);
      }
      return;
    }
    // CPU time, not wall time: on a loaded machine wall time would charge gossip for preemption
    const t0 = cpuNow();
    try {
      fn();
      this.opts.afterWork?.();
    } catch (e) {
      this.handlerError(e);
    } finally {
      this.counts.cpuMs += cpuNow() - t0;
    }
  }

  private handlerError(e: unknown): void {
    // the receive path never throws: a bug or a hostile input costs one datagram, not the board
    this.counts.handlerErrors++;
    this.log(`gossip handler error: ${(e as Error).stack ?? e}`);
  }

  private timer(fn: () => void, ms: number): number {
    const id = this.clock.setTimeout(() => {
      this.timers.delete(id);
      this.intake.otherWork();
      if (this.running) this.guarded(fn);
    }, ms);
    this.timers.add(id);
    return id;
  }

  private cancelTimer(id: number): void {
    if (this.timers.delete(id)) this.clock.clearTimeout(id);
  }

  /** tail: bytes sealed after m's own (a chunk's payload, straight from the encoded snapshot). */
  private send(addr: string, m: Outbound | MsgBody, tail?: Uint8Array): void {
    if (!this.running) return;
    const plain = encodeFrom(this.id, this.membership.incarnation, m as MsgBody, this.maxDatagram);
    const sealed = this.sealer.sealParts(plain, tail);
    const length = datagramLength(sealed);
    if (length > this.maxDatagram) throw new Error(`datagram of ${length} bytes`);
    this.counts.bytesSent += length;
    this.counts.datagramsSent++;
    this.transport.send(addr, sealed);
  }

  /** false if the datagram did not authenticate: its cost is not gossip's (see start). An
   * authenticated datagram from an address not yet proven (a first contact, or a replay to a
   * restarted board) is charged; the progress guarantee keeps such a flood from starving averages. */
  private receive(d: Uint8Array, from: string): boolean {
    if (!this.running) return true;
    const opened = this.intake.open(d, from);
    if (!opened) return false;
    const s = this.counts;
    const m = decode(opened.plain, this.maxDatagram);
    if (!m) {
      s.dropped.decode++;
      return true;
    }
    if (m.from === this.id) {
      // our own datagram echoed back (a seed list that includes us), or another board given our id
      if (!opened.epoch.equals(this.sealer.prefix) && !this.sameIdLogged) {
        this.sameIdLogged = true;
        this.log(`another board at ${from} uses our id "${this.id}": ids must be unique, and we ignore each other`);
      }
      return true;
    }
    const member = this.membership.noteDirect(m.from, m.incarnation, from) || (m.type === MsgType.Ack && this.membership.proves(m, from));
    if (!member) {
      // Not proven at this address: it may be a replay. A Ping is answered (so its sender can prove
      // us) and an Ack may close a probe we relayed; nothing else acts until the address is proven.
      if (m.type === MsgType.Ping) this.membership.answerStranger(m, from);
      else if (m.type === MsgType.Ack) this.membership.relayedAck(m, from);
      else s.dropped.stranger++;
      return true;
    }
    switch (m.type) {
      case MsgType.Ping:
      case MsgType.Ack:
      case MsgType.PingReq:
      case MsgType.IndirectAck:
      case MsgType.Leave:
        this.membership.handle(m, from);
        if (m.type === MsgType.Leave) this.peerGone(m.from);
        break;
      case MsgType.Propose:
        if (m.fingerprint !== this.fingerprint || m.paramCount !== this.paramCount) {
          s.refused++;
          this.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.Fingerprint });
        } else if (m.mode === Mode.Pull) this.joins.onPullRequest(m, from);
        // Exchange or Overdue
        else this.exchanges.onPropose(m, from);
        break;
      case MsgType.Accept:
        if (!this.joins.onAccept(m)) this.exchanges.onAccept(m, from);
        break;
      case MsgType.Refuse:
        if (!this.joins.onRefuse(m)) this.exchanges.onRefuse(m);
        break;
      case MsgType.Chunk:
        if (!this.joins.onChunk(m)) this.exchanges.onChunk(m, from);
        break;
      case MsgType.Need:
        this.onNeed(m);
        break;
      case MsgType.Commit:
        this.exchanges.onCommit(m, from);
        break;
      case MsgType.CommitAck:
        this.exchanges.onCommitAck(m);
        break;
      case MsgType.Abort:
        this.exchanges.onAbort(m);
        break;
    }
    return true;
  }

  private onNeed(m: Msg & { type: MsgType.Need }): void {
    const out = this.exchanges.outgoingFor(m) ?? this.joins.outgoingFor(m);
    if (!out) return;
    const queued = out.answer(m.have, m.ranges, this.clock.now());
    if (this.opts.debug && queued > 50) this.log(`need from ${m.from}: have ${m.have}, ranges ${JSON.stringify(m.ranges.slice(0, 5))}, queued ${queued}, next ${out.nextIndex}`);
    this.pacer.kick();
  }

  private flows(now: number): Flow[] {
    const own = this.exchanges.flow();
    const served = this.joins.flows(now);
    return own ? [own, ...served] : served;
  }

  private sendChunk(f: Flow, index: number, resent: boolean): void {
    if (resent) this.counts.chunksResent++;
    this.send(f.addr, chunkHeader(f, index), chunkPayload(f.out.snap, index));
  }

  // ---------------------------------------------------------------- starting exchanges

  private scheduleExchange(): void {
    const iv = this.preset.exchangeIntervalMs;
    this.timer(() => {
      this.scheduleExchange();
      if (!this.startExchange() && this.membership.alive().length === 0) this.missedForNoPeer = true;
    }, iv * (0.5 + this.random()));
  }

  private startExchange(peerId?: string): boolean {
    if (!this.running || this.busy || !this.joins.haveModel) return false;
    // owed an average: say so even when our own budget has room, since the peer's may not
    const overdue = this.guarantee.overdue();
    if (!peerId && this.budget.over()) {
      if (!overdue || !(this.budget.runAllows() || this.guarantee.starved())) {
        this.counts.budget.skipped++;
        this.counts.budget.lastAt = this.clock.now();
        return false;
      }
      this.counts.budget.overdue++;
    }
    return this.exchanges.start(peerId, overdue);
  }

  private peerGone(id: string): void {
    this.exchanges.peerGone(id);
    this.joins.peerGone(id);
  }
}
