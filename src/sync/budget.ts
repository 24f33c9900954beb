// Gossip's CPU budget: gossip CPU per CPU the rest of the process (training) used, over about the
// last minute. The clocks are injected, so the arithmetic runs on a virtual clock in tests.
import * as fs from 'node:fs';

/** Process CPU time in ms (user + system). */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU ms this thread has used: the first field of Linux's /proc/thread-self/schedstat (ns on
 * CPU), read with pread on a descriptor kept open (2 µs; a readFileSync of the same file took
 * 29 µs). The descriptor names the thread that opened it, so the clock keeps reading that thread
 * wherever it is called. Null where the file is missing (another OS, a kernel without schedstats).
 * Its resolution is the scheduler's, not the field's: the kernel adds a running thread's time at a
 * tick or a context switch, so read while the thread runs it moves in steps of 1-4 ms here (36
 * changes in 17,754 reads over 200 ms of a busy loop), and one handler cannot be timed by it. Read
 * after a wake it is exact up to the sleep. RejectedCost gets usable fits from it all the same
 * (bench/results/flood-cost-*.md: 82-97% of junk's CPU forgiven), a flooded thread being switched
 * often; the 10 ms ticks of /proc/thread-self/stat gave none. */
export function fineThreadCpuClock(): (() => number) | null {
  // one descriptor per thread: module state is per thread under worker_threads
  if (fineClock === undefined) fineClock = openFineClock();
  return fineClock;
}
let fineClock: (() => number) | null | undefined;

function openFineClock(): (() => number) | null {
  return openSchedstatClock('/proc/thread-self/schedstat');
}

/** A CPU ms clock on a schedstat file (see fineThreadCpuClock), or null if it cannot be read. */
function openSchedstatClock(file: string): (() => number) | null {
  try {
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(96);
    const read = (): number => {
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      const sp = buf.indexOf(32);
      return Number(buf.toString('latin1', 0, sp > 0 && sp < n ? sp : n)) / 1e6;
    };
    if (Number.isFinite(read())) return read;
    fs.closeSync(fd);
    return null;
  } catch {
    return null;
  }
}

/** The calling thread's Linux thread id, or null (another OS): what another thread of the process
 * passes to otherThreadCpuClock to read this thread's CPU. */
export function currentThreadId(): number | null {
  try {
    const m = /\/task\/(\d+)$/.exec(fs.readlinkSync('/proc/thread-self'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** CPU ms used by thread `tid` of this process (see currentThreadId), read from any thread; null
 * where it cannot be read. The trainer reads the gossip thread's clock with it, to tell its own
 * CPU (and its engine's pool threads') from gossip's while it evaluates. */
export function otherThreadCpuClock(tid: number): (() => number) | null {
  const read = openSchedstatClock(`/proc/self/task/${tid}/schedstat`);
  if (!read) return null;
  // Once the thread has ended, reading its file fails (ESRCH). It uses no more CPU, so its last
  // reading stands: a trainer evaluating just as its gossip thread crashed threw ESRCH instead of
  // reporting the crash.
  let last = read();
  return () => {
    try {
      last = read();
    } catch {
      // the thread is gone
    }
    return last;
  };
}

/** CPU ms this thread has used: fineThreadCpuClock, else Linux's /proc/thread-self/stat (utime +
 * stime, in the kernel's 100 Hz USER_HZ ticks), or null where neither is there. Node 20 has only
 * process.cpuUsage(), which counts the trainer's thread too: summed around gossip's handlers it
 * read 20-40% on boards whose gossip took 3-8% of their CPU, and the budget then stopped nearly
 * every exchange. */
export function threadCpuClock(): (() => number) | null {
  const fine = fineThreadCpuClock();
  if (fine) return fine;
  const read = (): number => {
    const stat = fs.readFileSync('/proc/thread-self/stat', 'latin1');
    // the command name in field 2 may hold spaces; the fields after its ')' are fixed
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  try {
    return Number.isFinite(read()) ? read : null;
  } catch {
    return null;
  }
}

export interface BudgetOptions {
  /** Gossip CPU per training CPU allowed; 0 lifts the limit. */
  cpuBudget: number;
  /** The rest of the process counts as at least this many cores busy (see GossipPreset). */
  cpuBudgetFloorCores: number;
  /** Wall-clock ms (the node's Clock). */
  now: () => number;
  /** Gossip's CPU ms so far. */
  gossipCpu: () => number;
  /** The whole process's CPU ms so far. */
  processCpu: () => number;
  /** CPU ms of the process that are neither gossip nor training, so far: the trainer's test
   * evaluations and checkpoints. Left out of both sides of the share: at ten boards an epoch's
   * evaluation took more CPU than its training, and counted as training it let gossip take 0.62x
   * the training CPU under a budget that read 0.28. Default: none. */
  notTrainingCpu?: () => number;
  /** Gossip CPU ms spent before the budget was made that the run's share counts all the same: a
   * gossip thread's start-up (loading the program, opening the socket), which its CPU clock, and so
   * the share a board reports over its run, includes. Default 0. */
  startupCpuMs?: number;
}

interface Sample {
  t: number;
  gossip: number;
  /** The process's CPU less forgiven gossip and less notTrainingCpu: gossip plus training. */
  proc: number;
}

export const SHARE_WINDOW_MS = 60_000;

export class CpuBudget {
  private readonly history: Sample[] = [];
  /** Gossip CPU the budget does not count: opening datagrams that failed authentication (anyone
   * can send those; charging them let a junk flood stop all averaging, security review M1) and
   * exchanges that a slow peer let time out (they lengthen the timeouts instead). */
  private forgiven = 0;
  /** CPU ms of recent completed exchanges (moving average): what the next one will probably cost. */
  private exchangeCost = 0;
  /** Gossip CPU clock when the current exchange began. */
  private exchangeCpu0 = 0;
  /** Counted gossip CPU ms spent inside exchanges, from begin to end (not the forgiven ones): how
   * much of the share exchanges take, against the idle work and what slips past the forgiving. */
  exchangeCpuMs = 0;
  /** The clocks when the node was made: the run's share counts from here. */
  private readonly start: Sample;

  /** BudgetOptions.cpuBudgetFloorCores, changeable: a GL board that falls back to the CPU engine
   * trains on the CPU from then on, and its floor drops to 0. */
  floorCores: number;

  constructor(private readonly o: BudgetOptions) {
    this.floorCores = o.cpuBudgetFloorCores;
    // start-up was process CPU too: both sides of the run's share go back by it
    const startup = o.startupCpuMs ?? 0;
    this.start = { t: o.now(), gossip: o.gossipCpu() - startup, proc: this.gossipAndTraining() - startup };
  }

  /** The process's CPU that is gossip's (counted) or training's. Forgiven ms leave the process clock
   * as well as gossip's: they are gossip's CPU, not training, and counted as training they would
   * raise the allowance (a junk flood bought legitimate gossip room). */
  private gossipAndTraining(): number {
    return this.o.processCpu() - this.forgivenMs - (this.o.notTrainingCpu?.() ?? 0);
  }

  /** Gossip's CPU time over about the last minute, per CPU time the rest of the process took
   * meanwhile less its evaluations (notTrainingCpu): "gossip per training second", also on a board
   * that shares its cores. From the node's start on, so that the first exchanges count too. extraMs
   * is added to gossip's side. */
  share(extraMs = 0): number {
    const now = this.o.now(), proc = this.gossipAndTraining(), used = this.counted();
    const h = this.history;
    if (h.length === 0 || now - h[h.length - 1].t >= 1000) h.push({ t: now, gossip: used, proc });
    while (h.length > 2 && now - h[1].t >= SHARE_WINDOW_MS) h.shift();
    return this.shareSince(h[0], now, used, proc, extraMs);
  }

  /** The same over the whole run so far. */
  runShare(extraMs = 0): number {
    return this.shareSince(this.start, this.o.now(), this.counted(), this.gossipAndTraining(), extraMs);
  }

  private shareSince(from: Sample, now: number, used: number, proc: number, extraMs: number): number {
    const g = used - from.gossip + extraMs;
    const rest = Math.max(proc - from.proc - (used - from.gossip), this.floorCores * (now - from.t));
    return g <= 0 ? 0 : rest <= 0 ? Infinity : g / rest;
  }

  /** Whether one more exchange would take gossip past its budget: the check counts the exchange
   * about to start, since once begun it runs to the end (without that, boards ended ~10% over). */
  over(): boolean {
    return this.o.cpuBudget > 0 && this.share(this.exchangeCost) > this.o.cpuBudget;
  }

  /** Whether the run as a whole has room for one more exchange: what a board owed an average
   * (ProgressGuarantee) may spend when the last minute has none. The guarantee so lets a board
   * catch up after a burst (its first exchanges, a spell of aborts, a busy minute) but never takes
   * gossip past its share over the run: a 3 s rule that ignored the budget cost 6.4% beside a CPU
   * hog (bench/results/default-job-issue11.md) and 7.66% in the 4-board bench (gossip-exchange.txt). */
  runAllows(): boolean {
    return this.o.cpuBudget <= 0 || this.runShare(this.exchangeCost) <= this.o.cpuBudget;
  }

  get forgivenMs(): number {
    return this.forgiven;
  }

  forgive(ms: number): void {
    if (ms > 0) this.forgiven += ms;
  }

  exchangeBegan(): void {
    this.exchangeCpu0 = this.counted();
  }

  /** A completed exchange updates the cost estimate; an aborted one says nothing about it, and one
   * that a slow peer let time out (`forgive`) is not counted. */
  exchangeEnded(completed: boolean, forgive = false): void {
    const cost = this.counted() - this.exchangeCpu0;
    if (completed) this.exchangeCost = this.exchangeCost === 0 ? cost : 0.7 * this.exchangeCost + 0.3 * cost;
    if (!completed && forgive) this.forgive(cost);
    else this.exchangeCpuMs += cost;
  }

  private counted(): number {
    return this.o.gossipCpu() - this.forgiven;
  }
}

/** What fraction of an epoch a board waits for an average before its exchanges may go past the
 * budget: late enough that the budget's own exchanges usually come first (a guaranteed one is then
 * not an extra), early enough that one refusal by a busy peer still leaves time within the epoch. */
export const GUARANTEE_AT = 0.5;
/** See ProgressGuarantee.starved. */
export const STARVED_AFTER = 0.75;

/**
 * The progress a busy minute cannot take away: at least one average per epoch of the trainer's,
 * past the last minute's budget, paid from the run's (CpuBudget.runAllows). Tied to epochs, not to
 * wall time, so it asks the same share of training on a busy board as on a quiet one: a 3 s rule
 * let through twice as many exchanges per training second beside a CPU hog. Where one exchange an
 * epoch costs more than the budget, the guarantee wins, at one average per epoch's length (starved).
 * Until the trainer reports epochs (epochBegan), or when a node has none to report, `everyMs` of
 * wall time stands in; an everyMs of 0 turns the guarantee off.
 */
export class ProgressGuarantee {
  private lastAverageAt: number;
  private epochAt = -1;
  private epochMs = 0;
  /** Counts epochs, so that a pursuit begun in an earlier one stops. */
  private epochs = 0;

  /** `propose` tries an exchange past the budget (if the node is free); a board that is due
   * proposes every `retryMs` until it has its average, not only at its scheduled ticks. */
  constructor(
    private readonly everyMs: number,
    private readonly now: () => number,
    private readonly timer: (fn: () => void, ms: number) => void,
    private readonly propose: () => void,
    private readonly retryMs: number,
  ) {
    this.lastAverageAt = now();
  }

  averaged(): void {
    this.lastAverageAt = this.now();
  }

  /** The trainer began an epoch. */
  epochBegan(): void {
    const now = this.now();
    if (this.epochAt >= 0) this.epochMs = now - this.epochAt;
    this.epochAt = now;
    const epoch = ++this.epochs;
    const pursue = (ms: number): void => {
      if (ms === Infinity) return;
      this.timer(() => {
        if (epoch !== this.epochs) return;
        const due = this.dueIn();
        if (due === 0) this.propose();
        // a busy peer refuses: try again soon enough for a few tries in the half epoch left
        pursue(due > 0 ? due : this.epochMs > 0 ? Math.min(this.retryMs, this.epochMs / 8) : this.retryMs);
      }, ms);
    };
    pursue(this.dueIn());
  }

  /** ms until the board is overdue (0: it is), Infinity if not this epoch (or never: everyMs 0). */
  dueIn(): number {
    const now = this.now();
    if (this.everyMs <= 0) return Infinity;
    if (this.epochAt < 0) return Math.max(0, this.lastAverageAt + this.everyMs - now);
    if (this.lastAverageAt >= this.epochAt) return Infinity; // this epoch has its average
    // the first epoch's length is not known yet: everyMs stands in for the wait
    const wait = this.epochMs > 0 ? GUARANTEE_AT * this.epochMs : this.everyMs;
    return Math.max(0, this.epochAt + wait - now);
  }

  overdue(): boolean {
    return this.dueIn() === 0;
  }

  /** Owed an average and none for STARVED_AFTER of an epoch's length: the budget had no room for one
   * in all that time (one exchange an epoch costs more than the budget, or, on a machine so busy
   * that the trainer gets a sliver of a core, gossip's idle work alone fills it). Such a board
   * exchanges regardless: the guarantee holds, and the share is what one average an epoch costs.
   * Less than a whole epoch, so that an average late in one epoch leaves time for the next. */
  starved(): boolean {
    return this.epochMs > 0 && this.overdue() && this.now() - this.lastAverageAt >= STARVED_AFTER * this.epochMs;
  }
}
