// The board's GossipNode runs on its own thread. On the training thread, gossip only ran between
// two batches: with batches of half a second (four boards sharing two cores, or a Pi 3), pings went
// unanswered, peers were suspected, and a 1.7 MB model trickled in 32 datagrams per turn until the
// exchange timed out; the default job did zero averages in seven minutes. On its own thread the
// node answers at once, whatever the trainer is doing.
//
// The trainer's parameters reach the thread through shared memory (shared-snapshot.ts), written
// between two steps only when an exchange asks for them (the snapshot an exchange starts from; a
// step or two stale is fine, because a blend is applied as a delta, w·(peer − snapshot), to the
// parameters as they are by then). The gossip thread hands back each blend as that delta (for
// 'adopt', the peer's parameters), and the trainer hands the array back for the next blend.
import * as os from 'node:os';
import { Worker, parentPort } from 'node:worker_threads';
import { ARCH_FINGERPRINT, PARAM_COUNT } from '../net/spec';
import { applyBlend, type Blend } from '../sync/averaging';
import { cpuNow, currentThreadId, otherThreadCpuClock, threadCpuClock } from '../sync/budget';
import type { Aead } from '../sync/crypto';
import { ENCODINGS, type EncodingName } from '../sync/config';
import type { GossipCounters } from './events';
import { SharedSnapshot } from './shared-snapshot';
import { gossipThreadEntry } from './thread-entry';

export interface GossipThreadOptions {
  host: string;
  port: number;
  peers: string[];
  keyFile: string;
  cluster: string;
  /** The cluster's AEAD (GossipNodeOptions.aead). */
  aead?: Aead;
  id?: string;
  /** Used to name the node when no id is given. */
  boardIndex: number;
  preset: 'local' | 'lan';
  exchangeIntervalMs?: number;
  /** What model snapshots travel as, instead of the preset's (fp16). */
  encoding?: EncodingName;
  /** Share of the process's CPU the gossip thread may use before it stops starting and accepting
   * exchanges; 0 lifts the limit. Default GOSSIP_THREAD_CPU_BUDGET. */
  cpuBudget?: number;
  /** See GossipPreset.cpuBudgetFloorCores: 1 on a GL board, whose trainer waits on the GPU. */
  cpuBudgetFloorCores?: number;
  params: Float32Array;
  samplesSeen: number;
  /** Set by GossipThread.start: the shared snapshot's memory. */
  shared?: SharedArrayBuffer;
}

/** How long an exchange waits for the trainer to write fresh parameters (it writes between two
 * steps) before it goes with the last ones it has. */
export const FRESH_SNAPSHOT_WAIT_MS = 250;

// moved to sync/budget.ts beside the budget that reads it; re-exported for existing callers
export { threadCpuClock };

/** What a blend is folded into: a Trainer, or a bare LeNet in the benchmarks. */
export interface BlendTarget {
  /** Into `out` when given (no fresh array). */
  getParams(out?: Float32Array): Float32Array;
  setParams(p: Float32Array): void;
  resetMomentum(): void;
  /** Epochs the trainer has finished, where it has epochs: a board is owed an average in each
   * (see ProgressGuarantee in sync/budget.ts). Read between steps; a change starts the next epoch. */
  readonly epoch?: number;
}

/** Folds one blend from GossipThread.poll() into the parameters, between two steps. */
function foldIn(b: Blend, t: BlendTarget, scratch: Float32Array): void {
  const p = t.getParams(scratch);
  applyBlend(p, b);
  t.setParams(p);
  // our velocity points along our old trajectory; after taking a peer's model wholesale it is wrong
  if (b.kind === 'adopt') t.resetMomentum();
}

/** recycle: a blend's values array, folded in, back for the next blend. pace: a new exchange interval
 * (bench/scaling.ts paces simulated boards on their own CPU time). */
type ToThread = { type: 'recycle'; values: Float32Array } | { type: 'epoch' } | { type: 'leave' }
  | { type: 'pace'; exchangeIntervalMs: number };
type FromThread =
  | { type: 'ready'; address: string; id: string; threadCpuMs?: number; tid?: number }
  | { type: 'blend'; blend: Blend }
  | { type: 'stats'; counters: GossipCounters }
  | { type: 'log'; message: string }
  | { type: 'failed'; message: string }
  | { type: 'left'; counters: GossipCounters };

export const THREAD_MARK = 'vctrain-gossip-thread';
/** Gossip CPU per training CPU. The gossip issue allows 5% at 4 boards; the budget sits a little
 * below because the check cannot see everything coming (a blend the trainer folds in later, the
 * thread's own timers): at 0.05, four boards measured 5.1% (bench/gossip-exchange.ts). */
export const GOSSIP_THREAD_CPU_BUDGET = 0.045;
/** How often the thread's counters go to the trainer: as often as a board reports progress, and at
 * least every STATS_IDLE_MS when nothing else wakes the thread. */
const STATS_EVERY_MS = 1000;
const STATS_IDLE_MS = 5000;

/** The training side's handle on the gossip thread. */
export class GossipThread {
  private blends: Blend[] = [];
  private taken = 0;
  private trainerMs = 0;
  /** The trainer's CPU ms on work that is neither training nor gossip (notTraining), and whether it is in one. */
  private notTrainingTotal = 0;
  private inNotTraining = false;
  /** The process's CPU ms outside the gossip thread: the trainer, its engine's pool threads, the
   * runtime's own. The whole process's where the thread's clock cannot be read (gossip's work during
   * an evaluation then counts as evaluation too: the budget errs strict). */
  private readonly restCpu: () => number;
  private epochSeen: number | undefined;
  /** Where foldIn reads the parameters (a fresh 1.7 MB array per blend was page faults on the trainer). */
  private scratch: Float32Array | null = null;
  private counters: GossipCounters = { peers: 0, bytesSent: 0, bytesReceived: 0, averages: 0, adopts: 0, refused: 0 };
  /** Why the thread ended when nobody asked it to (an uncaught error, an exit): the board must
   * not train on as if it were still in the cluster. */
  private failure: string | null = null;
  private ended = false;
  private stopping = false;
  private leftWaiter: ((c: GossipCounters) => void) | null = null;
  /** CPU ms the thread took to start (loading its modules, opening the socket), before any gossip:
   * a benchmark of gossip's running cost starts its count here, and a board logs it (gossipStartCpuMs). */
  readonly startCpuMs: number;
  private constructor(private readonly w: Worker, private readonly shared: SharedSnapshot, readonly address: string, readonly id: string, startCpuMs: number, tid: number | undefined,
    /** What the thread loaded: the entry it was given, or the checkout's bundle (thread-entry.ts). */
    readonly loaded: 'sources' | 'bundle') {
    this.startCpuMs = startCpuMs;
    const gossipCpu = tid === undefined ? null : otherThreadCpuClock(tid);
    this.restCpu = gossipCpu ? () => cpuNow() - gossipCpu() : cpuNow;
  }

  /** GossipThreadOptions.cpuBudgetFloorCores as of now (see CpuBudget.floorCores). */
  get floorCores(): number {
    return this.shared.floorCores;
  }

  set floorCores(cores: number) {
    this.shared.setFloorCores(cores);
  }

  /**
   * Starts the thread from `entry` (this program's own entry file: it recognises the thread by its
   * workerData and runs threadMain, so the same file works under tsx and as the bundle).
   */
  static start(o: GossipThreadOptions, entry: string, log: (message: string) => void): Promise<GossipThread> {
    const shared = SharedSnapshot.create(o.params.length);
    shared.setFloorCores(o.cpuBudgetFloorCores ?? 0);
    o = { ...o, shared: shared.buffer };
    const from = gossipThreadEntry(entry, process.execArgv);
    const w = new Worker(from.file, { workerData: { [THREAD_MARK]: true, options: o }, execArgv: from.execArgv, stdout: false, stderr: false });
    return new Promise((resolve, reject) => {
      let self: GossipThread | null = null;
      w.on('message', (m: FromThread) => {
        switch (m.type) {
          case 'ready':
            self = new GossipThread(w, shared, m.address, m.id, m.threadCpuMs ?? 0, m.tid, from.file === entry ? 'sources' : 'bundle');
            resolve(self);
            break;
          case 'failed':
            reject(new Error(m.message));
            break;
          case 'blend':
            self?.blends.push(m.blend);
            break;
          case 'stats':
            if (self) self.counters = m.counters;
            break;
          case 'log':
            log(m.message);
            break;
          case 'left':
            if (self) {
              self.counters = m.counters;
              self.leftWaiter?.(m.counters);
            }
            break;
        }
      });
      const failed = (why: string) => {
        if (!self) return reject(new Error(why));
        if (self.failure === null && !self.stopping) {
          self.failure = why;
          log(why);
        }
      };
      w.on('error', (e) => (self ? failed(`gossip thread failed: ${e.message}`) : reject(e)));
      // an exit without an error event (process.exit in the thread) ends gossip just as surely
      w.on('exit', (code) => {
        if (self) self.ended = true;
        failed(`gossip thread ended (exit code ${code})${self ? '' : ' before it was ready'}`);
      });
    });
  }

  /** The trainer's CPU ms spent for gossip (writing snapshots, folding in blends): counted against
   * the gossip budget with the thread's own. */
  charge(ms: number): void {
    this.trainerMs += ms;
    this.shared.setTrainerMs(this.trainerMs);
  }

  /**
   * Runs `work`, trainer work between two steps that is neither training nor gossip (the epoch's
   * test evaluation and checkpoint), and reports its CPU to the thread, whose budget leaves it out
   * of the share: gossip CPU per training CPU, evaluation excluded. At ten boards an epoch's
   * evaluation took more CPU than its training; counted as training, it let gossip take 0.62x the
   * training CPU under a budget of 1.5 that read 0.28. The thread sees an evaluation under way too,
   * not only once it ends (SharedSnapshot.notTrainingBegan). Returns what `work` returns.
   */
  notTraining<T>(work: () => T): T {
    if (this.inNotTraining) return work(); // counted by the call around it
    this.inNotTraining = true;
    const c0 = this.restCpu();
    this.shared.notTrainingBegan(c0);
    try {
      return work();
    } finally {
      this.notTrainingTotal += Math.max(0, this.restCpu() - c0);
      this.shared.notTrainingEnded(this.notTrainingTotal);
      this.inNotTraining = false;
    }
  }

  /** The process's CPU ms outside the gossip thread so far (see restCpu): bench/scaling-board.ts
   * measures its boards' compute on it. */
  cpuOutsideThread(): number {
    return this.restCpu();
  }

  poll(): Blend | null {
    const b = this.blends.shift() ?? null;
    if (b) this.taken++;
    return b;
  }

  /**
   * What a trainer does between two steps: fold in every blend that is ready, write the parameters
   * into the shared snapshot if an exchange has asked for them (never otherwise: each is a full
   * copy, a readback on the GL engine), and tell the thread when an epoch begins. The trainer CPU
   * this takes is charged to the gossip budget, and returned. onBlend must not keep b.values: the
   * array goes back to the thread for the next blend as soon as it returns.
   */
  between(t: BlendTarget, samplesSeen: number, onBlend?: (b: Blend) => void): number {
    if (this.failure !== null) throw new Error(this.failure);
    if (t.epoch !== undefined && t.epoch !== this.epochSeen) {
      this.epochSeen = t.epoch;
      this.w.postMessage({ type: 'epoch' } satisfies ToThread);
    }
    // Most steps have nothing to do here, and then the clock is not read: process.cpuUsage() sums
    // every thread of the process, and read twice a step it stood beside the parameter copies in a
    // profile of a bench board on a loaded machine.
    if (this.blends.length === 0 && !this.shared.wanted()) return 0;
    const c0 = cpuNow();
    for (let b = this.poll(); b; b = this.poll()) {
      this.scratch ??= new Float32Array(b.values.length);
      foldIn(b, t, this.scratch);
      onBlend?.(b);
      this.w.postMessage({ type: 'recycle', values: b.values } satisfies ToThread, [b.values.buffer as ArrayBuffer]);
    }
    // after the blends: parameters without one the thread already counted would be refused there
    if (this.shared.wanted()) this.shared.write((out) => t.getParams(out), samplesSeen, this.taken);
    const spent = cpuNow() - c0;
    this.charge(spent);
    return spent;
  }

  stats(): GossipCounters {
    return { ...this.counters };
  }

  /** Mean wall ms between the exchanges the thread starts, from its next one on (bench/board-time-pacer.ts). */
  pace(exchangeIntervalMs: number): void {
    if (!(exchangeIntervalMs > 0 && Number.isFinite(exchangeIntervalMs))) throw new Error(`exchange interval must be a positive number of ms, got ${exchangeIntervalMs}`);
    this.w.postMessage({ type: 'pace', exchangeIntervalMs } satisfies ToThread);
  }

  /** Leave the cluster politely, then end the thread. Returns the final counters. */
  async stop(): Promise<GossipCounters> {
    this.stopping = true;
    // a thread that failed says no goodbye: do not wait the 2 s for one
    if (this.ended || this.failure !== null) {
      await this.w.terminate();
      return { ...this.counters };
    }
    const left = new Promise<GossipCounters>((r) => (this.leftWaiter = r));
    this.w.postMessage({ type: 'leave' } satisfies ToThread);
    const c = await Promise.race([left, new Promise<GossipCounters>((r) => setTimeout(() => r(this.counters), 2000))]);
    await this.w.terminate();
    return c;
  }
}

/** Nice steps the training thread takes below its gossip thread. */
export const TRAINER_NICE = 5;

/**
 * Call on the training thread once its gossip thread runs. Gossip is a little work that others wait
 * on (pings, the chunks of an exchange); training is a lot of work nobody waits on. With the cores
 * busy (four CPU-engine threads on a Pi 3, or ten boards on one machine) a gossip thread at the
 * same priority as the trainers waits its turn for every datagram and an exchange takes seconds.
 * On Linux nice is per thread, so this lowers only the caller (and threads it starts later); raising
 * the gossip thread instead would need privileges. Returns the new nice value, or null if refused.
 */
export function yieldCpuToGossip(): number | null {
  try {
    const nice = Math.min(19, os.getPriority(0) + TRAINER_NICE);
    os.setPriority(0, nice);
    return nice;
  } catch {
    return null;
  }
}

/** Runs on the gossip thread. */
export async function threadMain(data: { options: GossipThreadOptions }): Promise<void> {
  const port = parentPort!;
  const send = (m: FromThread, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
  const o = data.options;
  try {
    const { GossipNode, UdpTransport, loadKeyFile } = require('../sync/index') as typeof import('../sync/index');
    const key = loadKeyFile(o.keyFile);
    const transport = await UdpTransport.open({ host: o.host, port: o.port });
    // Gossip ids are at most 32 bytes; an IPv6 address can make the default longer.
    const id = o.id ?? `board-${o.boardIndex}@${transport.address}`.slice(0, 32);
    const shared = new SharedSnapshot(o.shared!);
    // Two arrays of our own: the snapshot exchanges use, and one the shared memory is copied into
    // (a copy that overlapped a write is thrown away, and the last good snapshot stays).
    let snap: { params: Float32Array; samplesSeen: number } = { params: o.params, samplesSeen: o.samplesSeen };
    let spare: Float32Array = new Float32Array(o.params.length);
    let asked: { since: number; at: number } | null = null;
    const getSnapshot = () => {
      if (!asked) return snap;
      const { since, at } = asked;
      asked = null;
      if (!shared.waitNewer(since, Math.max(0, FRESH_SNAPSHOT_WAIT_MS - (performance.now() - at)))) return snap;
      const r = shared.read(spare);
      // Parameters read before the trainer took our latest blend lack it; an exchange started from
      // them would hand back a delta that counts that blend again (1 + w times instead of once).
      // Ten boards averaging every few steps diverged that way. `snap` has the blend applied.
      if (!r || r.blendsTaken < blendsSent) return snap;
      [snap, spare] = [{ params: spare, samplesSeen: r.samplesSeen }, snap.params];
      return snap;
    };
    const threadCpu = threadCpuClock();
    // the trainer's evaluations, on the clock it measures them by (GossipThread.restCpu)
    const notTrainingMs = () => shared.notTrainingMs(cpuNow() - (threadCpu ? threadCpu() : 0));
    // the budget's denominator over the whole run, from here (the trainer's start-up, engine choice included, is not training)
    const trainingCpu = () => cpuNow() - (threadCpu ? threadCpu() : 0) - shared.trainerMs - notTrainingMs();
    const trainingCpu0 = trainingCpu();
    let blendsSent = 0;
    const counters = (): GossipCounters => {
      const s = node.stats();
      return { peers: s.peers, bytesSent: s.bytesSent, bytesReceived: s.bytesReceived, averages: s.averages, adopts: s.adopts, refused: s.refused,
        started: s.exchangesStarted, aborted: s.exchangesAborted, cpuShare: s.cpuShare,
        threadCpuMs: threadCpu ? threadCpu() : s.cpuMs, trainerGossipMs: shared.trainerMs, evalCpuMs: notTrainingMs(), trainingCpuMs: trainingCpu() - trainingCpu0, dropped: s.dropped,
        rejectedCpuMs: s.rejectedCpuMs, rejectedFitUs: s.rejectedFitUs, forgivenMs: s.budget.forgivenMs, exchangeCpuMs: s.budget.exchangeMs,
        budgetHeld: s.budget.skipped + s.budget.refused, overdue: s.budget.overdue,
        ...(s.budget.lastAt >= 0 ? { budgetLastAgoS: (performance.now() - s.budget.lastAt) / 1000 } : {}) };
    };
    let statsAt = -Infinity;
    const maybeStats = (): void => {
      const now = performance.now();
      if (now - statsAt < STATS_EVERY_MS) return;
      statsAt = now;
      node.setCpuBudgetFloorCores(shared.floorCores); // the trainer changes it after a GL fault
      send({ type: 'stats', counters: counters() });
    };
    const node = new GossipNode({
      transport, key, cluster: o.cluster, aead: o.aead, id, seeds: o.peers, preset: o.preset,
      fingerprint: ARCH_FINGERPRINT, paramCount: PARAM_COUNT,
      tune: {
        ...(o.exchangeIntervalMs ? { exchangeIntervalMs: o.exchangeIntervalMs } : {}),
        ...(o.encoding ? { encoding: ENCODINGS[o.encoding] } : {}),
        // Measured on this thread's own clock plus what the trainer reports. More boards on smaller
        // shards need more averages per step, which --gossip-budget buys (bench/results/scaling.md).
        cpuBudget: o.cpuBudget ?? GOSSIP_THREAD_CPU_BUDGET,
        cpuBudgetFloorCores: o.cpuBudgetFloorCores ?? 0,
      },
      // Every fresh board starts from the same seeded initialisation and a resumed one from its own
      // checkpoint, so none needs a model from its peers before it may average.
      needsModel: false,
      cpuClock: threadCpu ? () => threadCpu() + shared.trainerMs : undefined,
      notTrainingCpuClock: notTrainingMs,
      // the thread's start-up is on its clock and in the share a board reports over its run, so the
      // budget holds that figure, not one that leaves it out
      startupCpuMs: threadCpu ? threadCpu() : 0,
      onBlend: () => pollBlend(),
      afterWork: () => maybeStats(),
      // Asked as an exchange begins; used by it some time later (once Accept is in, or the peer's
      // snapshot): by then the trainer has usually finished a step and written fresh parameters.
      wantSnapshot: () => void (asked = { since: shared.request(), at: performance.now() }),
      // the node keeps `snap.params` while an exchange uses it; nothing writes it until its blend is made
      getSnapshot,
      log: (message) => send({ type: 'log', message }),
    });
    const pollBlend = () => {
      const b = node.poll();
      if (!b) return;
      // Until the trainer writes again, offer what it will have once it applies this blend (in
      // place: the exchange that used `snap` has made its delta already).
      applyBlend(snap.params, b);
      blendsSent++;
      send({ type: 'blend', blend: b }, [b.values.buffer as ArrayBuffer]);
    };
    // Blends are handed over as the node makes them (onBlend): a 5 ms poll timer cost the thread
    // ~1% of a core while idle, which on ten boards sharing two cores was a tenth of each board's CPU.
    // Stats go out about once a second, as the board emits progress (progressEvery), on a wake the
    // thread has anyway (afterWork: a datagram, a node timer); a timer of their own woke an idle
    // thread once a second more, ~0.4 ms a second a board beside four trainers (bench/gossip-idle.ts).
    // The slow ticker is for a board with nothing else to wake it (no peers).
    const statsTicker = setInterval(maybeStats, STATS_IDLE_MS);
    port.on('message', async (m: ToThread) => {
      if (m.type === 'recycle') {
        node.recycle(m.values);
      } else if (m.type === 'epoch') {
        node.epochBegan();
      } else if (m.type === 'pace') {
        node.setExchangeInterval(m.exchangeIntervalMs);
      } else if (m.type === 'leave') {
        clearInterval(statsTicker);
        await node.leave();
        await new Promise((r) => setTimeout(r, 50)); // let the leave datagrams go out
        const c = counters();
        await node.stop();
        await transport.close();
        send({ type: 'left', counters: c });
      }
    });
    node.start();
    const tid = currentThreadId();
    send({ type: 'ready', address: transport.address, id, ...(threadCpu ? { threadCpuMs: threadCpu() } : {}), ...(tid !== null ? { tid } : {}) });
  } catch (e) {
    send({ type: 'failed', message: (e as Error).message });
  }
}
