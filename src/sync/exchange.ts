// The exchange state machine: one averaging exchange at a time, as initiator or responder (the
// protocol is drawn at the top of gossip.ts). Nothing is applied from a partial snapshot; a blend
// is handed to the trainer only once both halves are here, authenticated and past the guards.
import { randomBytes } from 'node:crypto';
import { guardProblem, measureIntoDelta, peerWeight, type Blend, type SnapshotDistance } from './averaging';
import { maybeReport, sendNeed, type NodeContext, type Snapshot } from './context';
import { Encoding, Mode, MsgType, RefuseReason, type Msg } from './messages';
import { ErrorFeedback } from './q8';
import { Incoming, metaProblem, type Flow, type Outgoing } from './transfer';

type Role = 'init' | 'resp';

interface Exchange {
  role: Role;
  peer: string;
  addr: string;
  /** The initiator's fresh value (it names the exchange). */
  xfer: number;
  /** The responder's fresh value, echoed in every chunk and in Commit: a recording of an older
   * exchange (before a restart, or sent to another board) cannot match it. */
  challenge: number;
  state: 'proposing' | 'pushing' | 'receiving' | 'replying' | 'committing';
  started: number;
  own?: Snapshot;
  out?: Outgoing;
  inc?: Incoming;
  /** w * (peer - own), what our blend adds (measureIntoDelta). */
  delta?: Float32Array;
  weight?: number;
  distance?: SnapshotDistance;
  tries: number;
  overdue?: boolean;
  /** started + exchangeTimeoutMs x our slowness: past it, an initiator no longer commits. */
  deadline?: number;
}

/** Why an exchange ended without a blend: 'slow' when the peer took too long (timeouts grow and the
 * budget forgives the exchange), 'other' for a refusal, a guard, a departure. */
type Cause = 'slow' | 'other';

type In<K extends MsgType> = Msg & { type: K };

/** Fresh values come from the CRYPTO generator: a seeded PRNG (ctx.random, fixed in tests) would
 * give a restarted board the very values its recorded traffic carries. */
export const fresh32 = (): number => randomBytes(4).readUInt32BE(0);

/** Timeouts grow to at most this multiple of the preset's. */
const MAX_SLOWNESS = 4;

export class Exchanges {
  private current: Exchange | null = null;
  /** The last exchange we committed as responder: a repeated Commit (our ack was lost) is acked again. */
  private lastCommitted: { peer: string; xfer: number; challenge: number } | null = null;
  /** Multiplies the exchange and transfer timeouts: grows when a slow peer lets an exchange time
   * out (a busy machine), shrinks back with every exchange that completes. */
  private slowness = 1;
  /** Reused across exchanges (they never overlap), each written whole before it is read: fresh
   * arrays of 0.9-1.7 MB per exchange cost as much in first-touch page faults as the work itself
   * (bench/exchange-cost.ts). The encoded snapshot we send and the peer's, reassembled. */
  private sendBytes: Uint8Array | null = null;
  private recvParams: Float32Array | null = null;
  /** Q8's error feedback: the residual our exchange snapshots carry (made on the first Q8 encoding). */
  private feedback: ErrorFeedback | null = null;
  /** Blend arrays handed back (recycle) for the next blend's delta. */
  private spare: Float32Array[] = [];
  /** The last exchange we told a peer we are not in (see notOurs). */
  private disowned: { peer: string; xfer: number } | null = null;

  constructor(private readonly ctx: NodeContext) {}

  /** A blend's values array the caller is done with: a later blend reuses it. */
  recycle(values: Float32Array): void {
    if (values.length === this.ctx.paramCount && this.spare.length < 2 && !this.spare.includes(values)) this.spare.push(values);
  }

  private outgoing(own: Snapshot): Outgoing {
    if (this.ctx.preset.encoding === Encoding.Q8 && !this.feedback) this.feedback = new ErrorFeedback(this.ctx.paramCount);
    const out = this.ctx.outgoing(own, this.sendBytes ?? undefined, this.feedback ?? undefined);
    this.sendBytes = out.snap.bytes;
    return out;
  }

  /** The residual of Q8 error feedback (null before the first Q8 exchange): tests read it. */
  get residual(): Float32Array | null {
    return this.feedback ? this.feedback.residual : null;
  }

  private average(ex: Exchange): Blend {
    return { kind: 'average', weight: ex.weight!, peer: ex.peer, values: ex.delta!, ...(ex.distance ? { distance: ex.distance } : {}) };
  }

  get active(): boolean {
    return this.current !== null;
  }

  get timeoutScale(): number {
    return this.slowness;
  }

  /** Proposes an exchange to `peerId` (or a random live peer). The caller has checked busy and
   * budget; `overdue` asks the peer to accept past its budget (see Mode.Overdue). */
  start(peerId?: string, overdue = false): boolean {
    const ctx = this.ctx;
    const live = ctx.membership.alive();
    const peer = peerId ? live.find((m) => m.id === peerId) : live[Math.floor(ctx.random() * live.length)];
    if (!peer) return false;
    const ex: Exchange = { role: 'init', peer: peer.id, addr: peer.addr, xfer: fresh32(), challenge: 0, state: 'proposing', started: ctx.clock.now(), tries: 0, overdue };
    this.current = ex;
    ctx.wantSnapshot(); // the trainer publishes between its steps, while Propose and Accept travel
    ctx.budget.exchangeBegan();
    ctx.stats.exchangesStarted++;
    this.sendPropose(ex);
    this.watchdog(ex);
    return true;
  }

  /** The chunks of our own snapshot still to go out, for the pacer. */
  flow(): Flow | null {
    const ex = this.current;
    if (!ex || !ex.out || (ex.state !== 'pushing' && ex.state !== 'replying')) return null;
    return { addr: ex.addr, xfer: ex.xfer, challenge: ex.challenge, dir: ex.role === 'init' ? 0 : 1, out: ex.out };
  }

  // ---------------------------------------------------------------- initiator

  private sendPropose(ex: Exchange): void {
    const ctx = this.ctx;
    if (this.current !== ex || ex.state !== 'proposing') return;
    if (ex.tries++ >= ctx.preset.retries) return this.abort(`no answer from ${ex.peer}`, 'slow');
    ctx.send(ex.addr, { type: MsgType.Propose, xfer: ex.xfer, mode: ex.overdue ? Mode.Overdue : Mode.Exchange, fingerprint: ctx.fingerprint, paramCount: ctx.paramCount });
    ctx.timer(() => this.sendPropose(ex), ctx.preset.retryMs);
  }

  onAccept(m: In<MsgType.Accept>, from: string): void {
    const ex = this.current;
    if (!ex || ex.xfer !== m.xfer || ex.peer !== m.from) return this.notOurs(m, from);
    if (ex.role !== 'init' || ex.state !== 'proposing') return;
    ex.addr = from;
    ex.challenge = m.challenge;
    ex.state = 'pushing';
    ex.own = this.ctx.snapshot();
    ex.out = this.outgoing(ex.own);
    // a diverged board's model goes nowhere (the responder refuses one before it encodes: see
    // distanceOf); f32 and f16 send it and the peer's guard refuses it, a Q8 encoding cannot carry it
    if (ex.out.snap.nonFinite) return this.abort('own parameters are not finite');
    this.ctx.pacer.kick();
    this.needLoop(ex);
  }

  onRefuse(m: In<MsgType.Refuse>): void {
    const ex = this.current;
    if (!ex || ex.xfer !== m.xfer || ex.peer !== m.from) return;
    if (m.reason === RefuseReason.Guard || m.reason === RefuseReason.Fingerprint) this.ctx.log(`${m.from} refused our snapshot (reason ${m.reason})`);
    if (m.reason === RefuseReason.Busy) this.ctx.stats.peerRefusals++;
    this.end(false, 'other');
  }

  private sendCommit(ex: Exchange): void {
    const ctx = this.ctx;
    if (this.current !== ex || ex.state !== 'committing') return;
    if (ex.tries++ >= ctx.preset.retries) {
      ctx.log(`no commit ack from ${ex.peer}; it may not have averaged`);
      return this.end(true);
    }
    ctx.send(ex.addr, { type: MsgType.Commit, xfer: ex.xfer, challenge: ex.challenge });
    ctx.timer(() => this.sendCommit(ex), ctx.preset.retryMs);
  }

  onCommitAck(m: In<MsgType.CommitAck>): void {
    const ex = this.current;
    if (ex && ex.role === 'init' && ex.state === 'committing' && ex.xfer === m.xfer && ex.peer === m.from) this.end(true);
  }

  // ---------------------------------------------------------------- responder

  /** A Propose of mode Exchange or Overdue whose model identity has been checked. */
  onPropose(m: In<MsgType.Propose>, from: string): void {
    const ctx = this.ctx;
    const ex = this.current;
    if (ex && ex.role === 'resp' && ex.peer === m.from && ex.xfer === m.xfer) {
      ctx.send(from, { type: MsgType.Accept, xfer: m.xfer, challenge: ex.challenge }); // our Accept was lost
      return;
    }
    if (ex && ex.role === 'resp' && ex.peer === m.from && ex.state === 'receiving' && !ex.inc) {
      // A board runs one exchange at a time: a new Propose from the peer we wait on means the one we
      // accepted is over on its side, or never began there (a replayed Propose). Nothing of it has
      // come yet; waiting it out would refuse the real exchange for exchangeTimeoutMs.
      this.abort(`${m.from} proposed again (${m.xfer.toString(16)})`);
    }
    if (!ctx.haveModel()) return ctx.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.NotReady });
    if (this.current || ctx.blendWaiting()) return ctx.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.Busy });
    if (ctx.budget.over()) {
      // an owed initiator has checked the run's budget (its own): each asks at most about once an
      // epoch. Refusing it when our own run was full (19ff695) cost more than it saved: beside a CPU
      // hog the owed boards kept proposing and being refused (17-52 aborted a board), the share over
      // the run rose from 5.0-5.3% to 6.0-6.2% and averages fell from 23-28 to 18-19.
      if (m.mode !== Mode.Overdue && !ctx.overdue()) {
        ctx.stats.budget.refused++;
        ctx.stats.budget.lastAt = ctx.clock.now();
        return ctx.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.Busy });
      }
      ctx.stats.budget.overdue++;
    }
    const next: Exchange = { role: 'resp', peer: m.from, addr: from, xfer: m.xfer, challenge: fresh32(), state: 'receiving', started: ctx.clock.now(), tries: 0 };
    this.current = next;
    ctx.wantSnapshot(); // needed once the peer's snapshot is in
    ctx.budget.exchangeBegan();
    ctx.send(from, { type: MsgType.Accept, xfer: m.xfer, challenge: next.challenge });
    this.watchdog(next);
    this.needLoop(next);
  }

  onCommit(m: In<MsgType.Commit>, from: string): void {
    const ctx = this.ctx;
    const ex = this.current;
    if (ex && ex.role === 'resp' && ex.peer === m.from && ex.xfer === m.xfer && ex.challenge === m.challenge && ex.state === 'replying') {
      ctx.deliver(this.average(ex));
      this.lastCommitted = { peer: ex.peer, xfer: ex.xfer, challenge: ex.challenge };
      ctx.send(from, { type: MsgType.CommitAck, xfer: m.xfer });
      this.end(true);
      return;
    }
    const last = this.lastCommitted;
    if (last && last.peer === m.from && last.xfer === m.xfer && last.challenge === m.challenge) {
      ctx.send(from, { type: MsgType.CommitAck, xfer: m.xfer }); // our ack was lost; the blend is already ours
    }
  }

  // ---------------------------------------------------------------- chunks, both roles

  onChunk(m: In<MsgType.Chunk>, from: string): void {
    const ctx = this.ctx;
    const ex = this.current;
    const want = ex && ex.xfer === m.xfer && ex.challenge === m.challenge && ex.peer === m.from &&
      ((ex.role === 'resp' && m.dir === 0 && ex.state === 'receiving') || (ex.role === 'init' && m.dir === 1 && ex.state === 'pushing'));
    if (!ex || !want) {
      ctx.stats.dropped.unexpected++;
      const last = this.lastCommitted;
      if ((!ex || ex.xfer !== m.xfer || ex.peer !== m.from) && !(last && last.peer === m.from && last.xfer === m.xfer)) this.notOurs(m, from);
      return;
    }
    if (metaProblem(m.meta, ctx.fingerprint, ctx.paramCount, ctx.preset.chunkBytes)) return void ctx.stats.dropped.unexpected++;
    const now = ctx.clock.now();
    ex.addr = from;
    if (!ex.inc) ex.inc = new Incoming(m.meta, now, this.recvParams ?? undefined);
    if (!ex.inc.matches(m.meta)) return void ctx.stats.dropped.unexpected++;
    if (ex.inc.add(m.index, m.payload, now)) maybeReport(ctx, ex.addr, ex.xfer, m.dir, ex.inc);
    else if (ex.inc.malformed) ctx.stats.dropped.decode++;
    else ctx.stats.chunksDuplicate++;
    if (ex.inc.complete) this.snapshotComplete(ex);
  }

  /** The transfer a Need from `m.from` is about, if it is ours. */
  outgoingFor(m: In<MsgType.Need>): Outgoing | undefined {
    const ex = this.current;
    if (ex && ex.xfer === m.xfer && ex.peer === m.from && ex.out && m.dir === (ex.role === 'init' ? 0 : 1)) return ex.out;
    return undefined;
  }

  private snapshotComplete(ex: Exchange): void {
    const ctx = this.ctx;
    const meta = ex.inc!.meta;
    const peerParams = ex.inc!.params();
    this.recvParams = peerParams; // free again once the delta below is computed
    ex.inc = undefined;
    if (ex.role === 'resp') ex.own = ctx.snapshot();
    const weight = peerWeight(ex.own!.samplesSeen, meta.samplesSeen, ctx.preset.minWeight, ctx.preset.maxWeight);
    const delta = this.spare.pop() ?? new Float32Array(ctx.paramCount);
    const d = measureIntoDelta(ex.own!.params, peerParams, weight, delta);
    const why = typeof d === 'string' ? d : guardProblem(d, ctx.preset, weight);
    if (why) {
      this.recycle(delta);
      ctx.stats.refused++;
      ctx.log(`refused snapshot from ${ex.peer}: ${why}`);
      ctx.send(ex.addr, ex.role === 'resp' ? { type: MsgType.Refuse, xfer: ex.xfer, reason: RefuseReason.Guard } : { type: MsgType.Abort, xfer: ex.xfer });
      return this.end(false, 'other');
    }
    ex.delta = delta;
    ex.distance = d as SnapshotDistance;
    ex.weight = weight;
    if (ex.role === 'resp') {
      ex.state = 'replying';
      ex.out = this.outgoing(ex.own!);
      if (ex.out.snap.nonFinite) return this.abort('own parameters are not finite'); // as in onAccept
      ctx.pacer.kick();
      return;
    }
    // Past our deadline (the watchdog's timer is late on a busy event loop), the responder may
    // have stopped waiting for Commit: it counts on us never committing after it.
    if (ctx.clock.now() > ex.deadline!) return this.abort(`reply from ${ex.peer} came after the deadline`, 'slow');
    // initiator: both halves are here; our blend is ready now, the peer's once it hears Commit
    ctx.deliver(this.average(ex));
    ex.state = 'committing';
    ex.out = undefined;
    ex.tries = 0;
    this.sendCommit(ex);
  }

  /** While a snapshot is expected, ask for what is missing whenever the line goes quiet. */
  private needLoop(ex: Exchange): void {
    const ctx = this.ctx;
    ctx.timer(() => {
      if (this.current !== ex) return;
      const expecting = (ex.role === 'resp' && ex.state === 'receiving') || (ex.role === 'init' && ex.state === 'pushing');
      if (!expecting) return;
      const now = ctx.clock.now();
      if (ex.inc) {
        const inc = ex.inc;
        if (now - inc.lastProgress > ctx.preset.transferTimeoutMs * this.slowness) return this.abort(`transfer from ${ex.peer} stalled`, 'slow');
        if (now - inc.lastHeard >= ctx.preset.needAfterMs) {
          // Quiet, or were we just busy (a training step)? Look again after the event loop has read
          // the socket once more: only if that brought nothing is the line really silent. Without
          // this, a busy receiver re-requests chunks that sit unread in its own socket buffer.
          const heard = inc.lastHeard;
          ctx.timer(() => {
            if (this.current === ex && ex.inc === inc && inc.lastHeard === heard && !inc.complete) sendNeed(ctx, ex.addr, ex.xfer, ex.role === 'resp' ? 0 : 1, inc);
          }, 0);
        }
      } else if ((ex.role === 'resp' || (ex.out && ex.out.idle)) && now - ctx.membership.heardFrom(ex.peer) >= 4 * ctx.preset.needAfterMs) {
        // not one chunk yet and the peer silent for a while: perhaps all were lost. Asking while its
        // chunks sit unread in our socket would make it send everything twice, so confirm first.
        const heard = ctx.membership.heardFrom(ex.peer);
        ctx.timer(() => {
          if (this.current === ex && !ex.inc && ctx.membership.heardFrom(ex.peer) === heard) {
            ctx.stats.needsSent++;
            ctx.send(ex.addr, { type: MsgType.Need, xfer: ex.xfer, dir: ex.role === 'resp' ? 0 : 1, have: 0, ranges: [[0, 0xffff]] });
          }
        }, 0);
      }
      this.needLoop(ex);
    }, ctx.preset.needAfterMs);
  }

  // ---------------------------------------------------------------- endings

  /** Ends an exchange that overran exchangeTimeoutMs, except in the two states where ending would
   * leave one side averaged and the other not. An initiator in 'committing' holds its blend already:
   * cutting its Commit retries short could strand the responder without its half, and the retries
   * end by themselves. A responder in 'replying' may yet receive that Commit (awaitCommit). */
  private watchdog(ex: Exchange): void {
    const ctx = this.ctx;
    ex.deadline = ex.started + ctx.preset.exchangeTimeoutMs * this.slowness;
    ctx.timer(() => {
      if (this.current !== ex || ex.state === 'committing') return;
      if (ex.role === 'resp' && ex.state === 'replying') return this.awaitCommit(ex, ctx.clock.now());
      this.abort(`exchange with ${ex.peer} timed out`, 'slow');
    }, ex.deadline - ex.started);
  }

  /** A responder past its own timeout, its reply sent, gives up only when no Commit can come. Each
   * board scales its timeouts by its own slowness, so the initiator's deadline may be later than
   * ours (up to MAX_SLOWNESS x, counted from its start, which was before ours): until then it may
   * still complete on any chunk we send, and commit at once, retrying retries x retryMs. So we wait
   * that long (plus two retries for the wire) after the last chunk we sent before its deadline can
   * have passed. Counting from our own deadline alone left the initiator averaged and us not
   * whenever its slowness was the larger (test/sync/gossip.test.ts, the fixed counterexample). */
  private awaitCommit(ex: Exchange, floor: number): void {
    const ctx = this.ctx, p = ctx.preset;
    if (this.current !== ex) return;
    const lastUseful = Math.min(ex.out!.lastSent, ex.started + p.exchangeTimeoutMs * MAX_SLOWNESS);
    const wait = Math.max(floor, lastUseful) + (p.retries + 2) * p.retryMs - ctx.clock.now();
    if (wait > 0) return void ctx.timer(() => this.awaitCommit(ex, floor), wait);
    this.abort(`no commit from ${ex.peer}`, 'slow');
  }

  /** An Accept or a chunk of an exchange we are not in: a replayed Propose made the peer accept one
   * we never began, or ours has ended. Told so once, the peer ends its side now instead of staying
   * busy (refusing every real Propose) until its exchangeTimeoutMs. */
  private notOurs(m: { from: string; xfer: number }, from: string): void {
    const d = this.disowned;
    if (d && d.peer === m.from && d.xfer === m.xfer) return;
    this.disowned = { peer: m.from, xfer: m.xfer };
    this.ctx.send(from, { type: MsgType.Abort, xfer: m.xfer });
  }

  onAbort(m: In<MsgType.Abort>): void {
    const ex = this.current;
    if (ex && ex.xfer === m.xfer && ex.peer === m.from) this.abort(`${m.from} aborted`);
  }

  peerGone(id: string): void {
    // A responder in 'replying' keeps waiting for Commit even if membership gives the initiator up:
    // under heavy loss a live peer can be declared dead, and its Commit may still come (the watchdog
    // bounds the wait).
    const ex = this.current;
    if (ex && ex.peer === id && !(ex.role === 'resp' && ex.state === 'replying')) this.abort(`${id} left`);
  }

  abort(why: string, cause: Cause = 'other'): void {
    const ctx = this.ctx;
    const ex = this.current;
    if (!ex) return;
    if (ex.state === 'committing') return this.end(true); // our blend exists already; nothing to undo
    ctx.log(`exchange ${ex.xfer.toString(16)} with ${ex.peer} abandoned (${ex.role === 'init' ? 'initiator' : 'responder'}, ${ex.state}): ${why}`);
    ctx.send(ex.addr, { type: MsgType.Abort, xfer: ex.xfer });
    this.end(false, cause);
  }

  private end(completed: boolean, cause: Cause = 'other'): void {
    if (!completed && this.current?.delta) this.recycle(this.current.delta); // a responder's blend never delivered
    // Our Q8 snapshot's residual holds only if the peer averaged with that snapshot: an exchange
    // that ends unfinished leaves the residual as it was (the next encoding overwrites the pending one)
    if (completed) this.feedback?.commit();
    else this.feedback?.cancel();
    if (!completed) this.ctx.stats.exchangesAborted++;
    if (completed) this.slowness = Math.max(1, this.slowness * 0.8);
    else if (cause === 'slow') this.slowness = Math.min(MAX_SLOWNESS, this.slowness * 1.5);
    this.ctx.budget.exchangeEnded(completed, cause === 'slow');
    this.current = null;
  }
}
