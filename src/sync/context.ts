// What the parts of a GossipNode (exchange.ts, join.ts) share: the node's wiring, its stats, and
// the chunk-level replies both kinds of transfer send.
import type { Blend } from './averaging';
import type { CpuBudget } from './budget';
import type { Clock } from './clock';
import type { Aead } from './crypto';
import type { GossipPreset } from './config';
import { MsgType, type MsgBody } from './messages';
import type { Membership } from './membership';
import type { ErrorFeedback } from './q8';
import type { Incoming, Outgoing, Pacer } from './transfer';
import type { Transport } from './transport';

export interface GossipNodeOptions {
  transport: Transport;
  key: Buffer;
  cluster: string;
  /** The cluster's AEAD (default AES-256-GCM): every board of a cluster names the same; a datagram
   * sealed with another is dropped, and the first one logged. */
  aead?: Aead;
  /** Unique per board (at most 48 bytes of UTF-8). */
  id: string;
  /** Called when an exchange starts: the current parameters, in an array nobody writes while the
   * exchange lasts (a copy, or one the caller replaces rather than writes). The node keeps it as is. */
  getSnapshot: () => Snapshot;
  /** Called when an exchange begins, some time before getSnapshot: a caller that copies its
   * parameters only on demand (the gossip thread) asks for a fresh copy then. */
  wantSnapshot?: () => void;
  /** The model's identity and size: boards gossip only with boards of the same model. */
  fingerprint: string;
  paramCount: number;
  /** Addresses to contact first ("host:port"); the rest of the cluster is discovered through them. */
  seeds?: string[];
  /** A joiner pulls a full model from a peer before it averages (ready() waits for it). */
  needsModel?: boolean;
  preset?: GossipPreset | 'local' | 'lan';
  /** Field-by-field changes to the preset (tests shorten timings). */
  tune?: Partial<GossipPreset>;
  log?: (line: string) => void;
  /** Also log repair traffic in detail (large resend requests). */
  debug?: boolean;
  clock?: Clock;
  random?: () => number;
  /** CPU ms that gossip has used so far, for the budget. A node on a thread of its own passes that
   * thread's CPU clock; without one, the process CPU spent inside the node's handlers is summed,
   * which also counts whatever other threads ran meanwhile (and costs ~6 µs a datagram). */
  cpuClock?: () => number;
  /** This thread's CPU ms at sub-ms resolution, to fit what a rejected datagram costs (RejectedCost);
   * default fineThreadCpuClock(); null: forgive only what the handler's own timing shows. */
  rejectedCpuClock?: (() => number) | null;
  /** The process's CPU ms so far (default: process.cpuUsage()); tests pass their own. */
  processCpuClock?: () => number;
  /** CPU ms of the process spent on neither gossip nor training so far (the trainer's test
   * evaluations and checkpoints): kept out of the budget's share (BudgetOptions.notTrainingCpu). */
  notTrainingCpuClock?: () => number;
  /** Of cpuClock's reading when the node is made, the ms the budget's share over the run counts all
   * the same (BudgetOptions.startupCpuMs): a gossip thread passes its start-up. */
  startupCpuMs?: number;
  /** Called when a blend becomes ready, so that a caller need not poll() on a timer. */
  onBlend?: () => void;
  /** Called after each datagram or timer the node has handled: work a caller can do while the
   * thread is awake anyway, instead of waking it on a timer of its own (the gossip thread's stats). */
  afterWork?: () => void;
}

export interface MemberInfo {
  id: string;
  addr: string;
  state: 'alive' | 'suspect' | 'dead' | 'left';
  incarnation: number;
}

export interface Snapshot {
  params: Float32Array;
  samplesSeen: number;
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
  /** Blends of kind 'average' handed to the trainer. */
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
  /** Datagrams dropped, by reason. 'shed': not even opened, from a source whose recent datagrams
   * kept failing authentication. */
  dropped: { short: number; version: number; auth: number; replay: number; decode: number; unexpected: number; shed: number;
    /** Authenticated, but from a sender not (yet) proven at its address (a replay, or a first contact). */
    stranger: number };
  /** What the CPU budget did: exchanges not started and Proposes refused because gossip was over
   * its share, exchanges let through past it because a board had gone averageAtLeastEveryMs
   * without an average, and when it last refused (clock ms, -1: never). forgivenMs: gossip CPU
   * not counted (junk datagrams, exchanges a slow peer let time out). */
  budget: { skipped: number; refused: number; overdue: number; lastAt: number; forgivenMs: number;
    /** CpuBudget.exchangeCpuMs. */
    exchangeMs: number };
  /** Gossip-thread CPU ms spent on datagrams that were refused before they authenticated (part of
   * budget.forgivenMs: a flood's cost, kept out of the budget and reported apart), and the fitted
   * CPU µs per such datagram (RejectedCost; 0 until fitted). */
  rejectedCpuMs: number;
  rejectedFitUs: number;
  /** Our Proposes a peer refused as busy (in an exchange, or over its own budget). */
  peerRefusals: number;
  /** Multiplier on the exchange timeouts now (1: the preset's; grows after slow peers). */
  timeoutScale: number;
  /** Gossip's CPU ms since the node was made: by the cpuClock it was given, else the process CPU
   * (process.cpuUsage, user + system) spent inside its handlers (receive path, timers, snapshots,
   * sealing). */
  cpuMs: number;
  handlerErrors: number;
}

export function emptyStats(id: string): GossipStats {
  return {
    id, peers: 0, cpuShare: 0, bytesSent: 0, bytesReceived: 0, datagramsSent: 0, datagramsReceived: 0, averages: 0, adopts: 0,
    refused: 0, exchangesStarted: 0, exchangesAborted: 0, chunksResent: 0, chunksDuplicate: 0, needsSent: 0,
    dropped: { short: 0, version: 0, auth: 0, replay: 0, decode: 0, unexpected: 0, shed: 0, stranger: 0 }, cpuMs: 0, handlerErrors: 0,
    budget: { skipped: 0, refused: 0, overdue: 0, lastAt: -1, forgivenMs: 0, exchangeMs: 0 }, peerRefusals: 0, timeoutScale: 1,
    rejectedCpuMs: 0, rejectedFitUs: 0,
  };
}

export interface NodeContext {
  readonly id: string;
  readonly preset: GossipPreset;
  readonly clock: Clock;
  readonly random: () => number;
  readonly stats: GossipStats;
  readonly membership: Membership;
  /** fingerprintHash of the model's identity and size. */
  readonly fingerprint: number;
  readonly paramCount: number;
  readonly pacer: Pacer;
  readonly budget: CpuBudget;
  log(line: string): void;
  send(addr: string, m: MsgBody): void;
  /** A timer that runs only while the node does, inside its error guard. */
  timer(fn: () => void, ms: number): number;
  /** A private copy of the trainer's current parameters, checked for size. */
  snapshot(): Snapshot;
  /** A new outgoing transfer of `own`, encoded as the preset says (into `scratch`, see encodeSnapshot;
   * with `feedback`, a Q8 encoding sends own + its residual: see ErrorFeedback). */
  outgoing(own: Snapshot, scratch?: Uint8Array, feedback?: ErrorFeedback): Outgoing;
  /** An exchange began: see GossipNodeOptions.wantSnapshot. */
  wantSnapshot(): void;
  /** Hands a blend to the trainer (the next poll() returns it). */
  deliver(b: Blend): void;
  /** A blend waits for the trainer: a new exchange now would start from a snapshot without it. */
  blendWaiting(): boolean;
  haveModel(): boolean;
  /** No average for averageAtLeastEveryMs: exchanges may go past the budget. */
  overdue(): boolean;
}

/** After silence: ask for the holes below the highest chunk seen (those were lost). Chunks past it
 * were maybe never sent yet, or wait in the sender's own socket queue while it trains (a UDP send
 * leaves only when the sender's event loop turns), so the tail is asked for only after a long
 * silence; asking early makes the sender queue the whole model twice. */
export function sendNeed(ctx: NodeContext, addr: string, xfer: number, dir: number, inc: Incoming): void {
  const longSilence = ctx.clock.now() - inc.lastHeard >= 8 * ctx.preset.needAfterMs;
  const ranges = inc.needRanges(longSilence ? inc.meta.chunkCount : inc.frontier);
  inc.sinceReport = 0;
  ctx.stats.needsSent++;
  ctx.send(addr, { type: MsgType.Need, xfer, dir, have: inc.haveCount, ranges });
}

/** Every window/4 new chunks: tell the sender how many we hold (opens its window) and which ones
 * below the highest seen are missing (most likely lost). */
export function maybeReport(ctx: NodeContext, addr: string, xfer: number, dir: number, inc: Incoming): void {
  if (inc.complete || inc.sinceReport < Math.max(1, ctx.preset.windowChunks >> 2)) return;
  inc.sinceReport = 0;
  ctx.send(addr, { type: MsgType.Need, xfer, dir, have: inc.haveCount, ranges: inc.needRanges(inc.frontier) });
}
