// Joining: a board without a model pulls a full one from a peer (Propose with mode Pull) before
// it averages, and every board serves such pulls (at most MAX_SERVES at once).
import { fresh32 } from './exchange';
import { guardProblem, makeAdopt, measureSnapshot } from './averaging';
import { maybeReport, sendNeed, type NodeContext } from './context';
import { Mode, MsgType, RefuseReason, type Msg } from './messages';
import { Incoming, metaProblem, type Flow, type Outgoing } from './transfer';

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

type In<K extends MsgType> = Msg & { type: K };

const MAX_SERVES = 2;

export class Joins {
  private readonly serves = new Map<string, Serve>();
  private pull: Pull | null = null;
  private hasModel: boolean;
  private readyWaiters: (() => void)[] = [];

  constructor(private readonly ctx: NodeContext, needsModel: boolean) {
    this.hasModel = !needsModel;
  }

  get haveModel(): boolean {
    return this.hasModel;
  }

  /** Starts pulling if this board needs a model; gives up after joinTimeoutMs and trains alone. */
  start(): void {
    const ctx = this.ctx;
    if (this.hasModel) return;
    ctx.timer(() => this.tryPull(), ctx.preset.retryMs);
    ctx.timer(() => {
      if (this.hasModel) return;
      ctx.log(`no peer delivered a model within ${ctx.preset.joinTimeoutMs} ms; training from this board's own initialisation`);
      this.markReady();
    }, ctx.preset.joinTimeoutMs);
  }

  ready(): Promise<void> {
    if (this.hasModel) return Promise.resolve();
    return new Promise((res) => this.readyWaiters.push(res));
  }

  markReady(): void {
    this.hasModel = true;
    const w = this.readyWaiters;
    this.readyWaiters = [];
    for (const f of w) f();
  }

  /** Transfers being served, for the pacer; expired ones are dropped here. */
  flows(now: number): Flow[] {
    const flows: Flow[] = [];
    for (const [k, sv] of this.serves) {
      if (now > sv.expires) this.serves.delete(k);
      else flows.push({ addr: sv.addr, xfer: sv.xfer, challenge: 0, dir: 1, out: sv.out });
    }
    return flows;
  }

  private tryPull(): void {
    const ctx = this.ctx;
    if (this.hasModel) return;
    const now = ctx.clock.now();
    const p = this.pull;
    if (p) {
      if (p.inc && now - p.inc.lastHeard >= ctx.preset.needAfterMs && now - p.inc.lastProgress < ctx.preset.transferTimeoutMs) {
        const inc = p.inc, heard = inc.lastHeard;
        ctx.timer(() => {
          if (this.pull === p && p.inc === inc && inc.lastHeard === heard) sendNeed(ctx, p.addr, p.xfer, 1, inc);
        }, 0);
      } else if (!p.accepted && p.tries < ctx.preset.retries) {
        p.tries++;
        ctx.send(p.addr, { type: MsgType.Propose, xfer: p.xfer, mode: Mode.Pull, fingerprint: ctx.fingerprint, paramCount: ctx.paramCount });
      } else if (p.accepted && !p.inc && now - p.started > ctx.preset.needAfterMs) {
        ctx.send(p.addr, { type: MsgType.Need, xfer: p.xfer, dir: 1, have: 0, ranges: [[0, 0xffff]] });
      }
      const last = p.inc ? p.inc.lastProgress : p.started;
      if (now - last > ctx.preset.transferTimeoutMs || (!p.accepted && p.tries >= ctx.preset.retries)) {
        ctx.log(`model pull from ${p.peer} failed; trying another peer`);
        this.pull = null;
      }
    }
    if (!this.pull) {
      const live = ctx.membership.alive();
      if (live.length) {
        const peer = live[Math.floor(ctx.random() * live.length)];
        this.pull = { peer: peer.id, addr: peer.addr, xfer: fresh32(), accepted: false, started: now, tries: 1 };
        ctx.send(peer.addr, { type: MsgType.Propose, xfer: this.pull.xfer, mode: Mode.Pull, fingerprint: ctx.fingerprint, paramCount: ctx.paramCount });
      }
    }
    ctx.timer(() => this.tryPull(), Math.min(ctx.preset.retryMs, ctx.preset.needAfterMs));
  }

  /** True if the Accept was for our pull. */
  onAccept(m: In<MsgType.Accept>): boolean {
    if (!this.pull || this.pull.xfer !== m.xfer || this.pull.peer !== m.from) return false;
    this.pull.accepted = true;
    return true;
  }

  /** True if the Refuse was for our pull (we try another peer). */
  onRefuse(m: In<MsgType.Refuse>): boolean {
    if (!this.pull || this.pull.xfer !== m.xfer || this.pull.peer !== m.from) return false;
    this.pull = null;
    return true;
  }

  /** True if the chunk belongs to our pull (handled or dropped here). */
  onChunk(m: In<MsgType.Chunk>): boolean {
    const ctx = this.ctx;
    const pull = this.pull;
    if (!pull || pull.xfer !== m.xfer || pull.peer !== m.from || m.dir !== 1) return false;
    const now = ctx.clock.now();
    if (!metaProblem(m.meta, ctx.fingerprint, ctx.paramCount, ctx.preset.chunkBytes)) {
      pull.accepted = true;
      if (!pull.inc) pull.inc = new Incoming(m.meta, now);
    }
    if (!pull.inc || !pull.inc.matches(m.meta)) {
      ctx.stats.dropped.unexpected++;
      return true;
    }
    if (pull.inc.add(m.index, m.payload, now)) maybeReport(ctx, pull.addr, pull.xfer, 1, pull.inc);
    else if (pull.inc.malformed) ctx.stats.dropped.decode++;
    else ctx.stats.chunksDuplicate++;
    if (pull.inc.complete) this.pullComplete(pull);
    return true;
  }

  /** A Propose of mode Pull whose model identity has been checked. */
  onPullRequest(m: In<MsgType.Propose>, from: string): void {
    const ctx = this.ctx;
    const key = `${m.from}/${m.xfer}`;
    if (this.serves.has(key)) return ctx.send(from, { type: MsgType.Accept, xfer: m.xfer, challenge: 0 });
    if (!this.hasModel) return ctx.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.NotReady });
    if (this.serves.size >= MAX_SERVES) return ctx.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.Busy });
    const out = ctx.outgoing(ctx.snapshot());
    // a model a Q8 encoding cannot carry (non-finite) is not served; the joiner asks another board
    if (out.snap.nonFinite) return ctx.send(from, { type: MsgType.Refuse, xfer: m.xfer, reason: RefuseReason.NotReady });
    this.serves.set(key, { peer: m.from, addr: from, xfer: m.xfer, out, expires: ctx.clock.now() + ctx.preset.transferTimeoutMs });
    ctx.send(from, { type: MsgType.Accept, xfer: m.xfer, challenge: 0 });
    ctx.pacer.kick();
  }

  /** The served transfer a Need is about (a Need keeps it from expiring). */
  outgoingFor(m: In<MsgType.Need>): Outgoing | undefined {
    const sv = this.serves.get(`${m.from}/${m.xfer}`);
    if (!sv || m.dir !== 1) return undefined;
    sv.expires = this.ctx.clock.now() + this.ctx.preset.transferTimeoutMs;
    return sv.out;
  }

  private pullComplete(p: Pull): void {
    const ctx = this.ctx;
    const params = p.inc!.params();
    p.inc = undefined;
    this.pull = null;
    // The model is taken whole, so no distance guard: our own initialisation is as far from a
    // trained model as training went. Its norm is checked: training changes it by a few per cent
    // (4% over the default job), a model scaled up or zeroed by a key holder far more.
    const d = measureSnapshot(ctx.snapshot().params, params);
    const why = typeof d === 'string' ? d : guardProblem(d, { maxNormRatio: ctx.preset.maxNormRatio, maxRelDistance: Infinity, maxStep: Infinity }, 1);
    if (why) {
      ctx.stats.refused++;
      ctx.log(`refused model from ${p.peer}: ${why}`);
      return; // the next tryPull asks another peer
    }
    ctx.deliver(makeAdopt(p.peer, params));
    ctx.log(`received a full model from ${p.peer}`);
    this.markReady();
  }

  peerGone(id: string): void {
    if (this.pull && this.pull.peer === id) this.pull = null;
  }
}
