// What a rejected datagram costs the gossip thread, all of it: not only the handler (which the node
// can time) but the socket read, the callback's entry, the Buffer and the garbage it leaves. At a
// junk flood's rates the part outside the handler was most of it (4 boards at ~1,200 junk/s each
// spent 12% of their training CPU on gossip with only the handler forgiven), and it is anyone's to
// impose, so the budget must not count it (security review M1).
//
// The fit: while nothing but rejected datagrams runs on the thread, the thread's CPU clock advances
// by exactly their cost, so a run of `runLength` consecutive rejected datagrams timed on a fine
// thread clock gives one sample of the per-datagram cost. The fit is the mean of the last samples
// but those past OUTLIER times their median: a run into which something unmarked and large slipped
// (a message from the trainer, a major GC) does not move it, while the small costs that ride on a
// flood (the scavenges its Buffers cause) stay in. A median alone forgave 67-93% of the thread's
// CPU per junk datagram (bench/results/flood-cost-f81a57c.md): the rest was charged to the budget.

const OUTLIER = 4;

export class RejectedCost {
  /** Thread CPU ms at the current run's first datagram; NaN: no run open. */
  private runStart = NaN;
  private runCount = 0;
  private readonly samples: number[] = [];
  private nextSample = 0;
  private fit = NaN;

  /** `clock`: the thread's CPU ms, as fine as the kernel keeps it (fineThreadCpuClock), or null:
   * then there is no fit, and each datagram is forgiven what the caller timed. */
  constructor(
    private readonly clock: (() => number) | null,
    private readonly runLength = 64,
    private readonly keep = 31,
  ) {}

  /** Per-datagram CPU ms of the fit, NaN until the first run is complete. */
  get perDatagramMs(): number {
    return this.fit;
  }

  /** Work that is not a rejected datagram ran on the thread: the open run no longer measures them. */
  interrupt(): void {
    this.runStart = NaN;
  }

  /** One more datagram rejected; returns the CPU ms to forgive for it: the fit, or `timedMs` (what
   * the caller measured of it) while there is none. */
  rejected(timedMs: number): number {
    const clock = this.clock;
    if (clock) {
      if (Number.isNaN(this.runStart)) {
        // the run starts here: the datagrams counted are the ones after this clock read
        this.runStart = clock();
        this.runCount = 0;
      } else if (++this.runCount >= this.runLength) {
        const now = clock();
        this.addSample((now - this.runStart) / this.runCount);
        this.runStart = now;
        this.runCount = 0;
      }
    }
    return Number.isNaN(this.fit) ? timedMs : this.fit;
  }

  private addSample(ms: number): void {
    if (!(ms >= 0)) return;
    if (this.samples.length < this.keep) this.samples.push(ms);
    else this.samples[this.nextSample] = ms;
    this.nextSample = (this.nextSample + 1) % this.keep;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const limit = OUTLIER * sorted[sorted.length >> 1];
    let sum = 0, n = 0;
    for (const v of sorted) if (v <= limit) (sum += v), n++;
    this.fit = sum / n;
  }
}
