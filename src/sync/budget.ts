// Gossip's CPU budget: gossip CPU per CPU the rest of the process (training) used, over about the
// last minute. The clocks are injected, so the arithmetic runs on a virtual clock in tests.
import * as fs from 'node:fs';

/** Process CPU time in ms (user + system). */
export function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** CPU ms this thread has used, from Linux's /proc/thread-self/stat (utime + stime, in the
 * kernel's 100 Hz USER_HZ ticks), or null where that file is missing. Node 20 has only
 * process.cpuUsage(), which counts the trainer's thread too: summed around gossip's handlers it
 * read 20-40% on boards whose gossip took 3-8% of their CPU, and the budget then stopped nearly
 * every exchange. */
export function threadCpuClock(): (() => number) | null {
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
}

interface Sample {
  t: number;
  gossip: number;
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

  /** BudgetOptions.cpuBudgetFloorCores, changeable: a GL board that falls back to the CPU engine
   * trains on the CPU from then on, and its floor drops to 0. */
  floorCores: number;

  constructor(private readonly o: BudgetOptions) {
    this.floorCores = o.cpuBudgetFloorCores;
  }

  /** Gossip's CPU time over about the last minute, per CPU time the rest of the process took
   * meanwhile: "gossip per training second", also on a board that shares its cores. From the
   * node's start on, so that the first exchanges count too. extraMs is added to gossip's side. */
  share(extraMs = 0): number {
    // Forgiven ms leave the process clock as well as gossip's: they are gossip's CPU, not training,
    // and counted as training they would raise the allowance (a junk flood bought legitimate gossip room).
    const now = this.o.now(), proc = this.o.processCpu() - this.forgivenMs, used = this.counted();
    const h = this.history;
    if (h.length === 0 || now - h[h.length - 1].t >= 1000) h.push({ t: now, gossip: used, proc });
    while (h.length > 2 && now - h[1].t >= SHARE_WINDOW_MS) h.shift();
    const g = used - h[0].gossip + extraMs;
    const rest = Math.max(proc - h[0].proc - (used - h[0].gossip), this.floorCores * (now - h[0].t));
    return g <= 0 ? 0 : rest <= 0 ? Infinity : g / rest;
  }

  /** Whether one more exchange would take gossip past its budget: the check counts the exchange
   * about to start, since once begun it runs to the end (without that, boards ended ~10% over). */
  over(): boolean {
    return this.o.cpuBudget > 0 && this.share(this.exchangeCost) > this.o.cpuBudget;
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
    else if (forgive) this.forgive(cost);
  }

  private counted(): number {
    return this.o.gossipCpu() - this.forgiven;
  }
}
