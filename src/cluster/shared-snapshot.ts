// The trainer's parameters as the gossip thread sees them: one SharedArrayBuffer that the trainer
// fills only when the thread has asked (an exchange is starting), instead of posting a full copy
// every 500 ms whether or not an exchange would use it. That periodic copy was most of what an idle
// board spent on gossip (bench/gossip-idle.ts).
//
// A seqlock: the trainer (the one writer) makes the version odd, writes, makes it even again; the
// thread copies the parameters out and keeps the copy only if the version was the same even
// number before and after. Nothing here blocks the trainer.

const VERSION = 0, WANT = 1, BLENDS_TAKEN = 2, NOT_TRAINING_VERSION = 3;
const CTL_INTS = 4;
const SAMPLES = 0, TRAINER_MS = 1, FLOOR_CORES = 2, NOT_TRAINING_MS = 3, NOT_TRAINING_SINCE = 4;
const META_DOUBLES = 5;

export interface SnapshotRead {
  version: number;
  samplesSeen: number;
  /** Blends the trainer had folded in when it wrote these parameters. */
  blendsTaken: number;
}

export class SharedSnapshot {
  private readonly ctl: Int32Array;
  private readonly meta: Float64Array;
  /** The parameters as last written: the trainer writes through write() only. */
  readonly params: Float32Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.ctl = new Int32Array(buffer, 0, CTL_INTS);
    this.meta = new Float64Array(buffer, CTL_INTS * 4, META_DOUBLES);
    const off = CTL_INTS * 4 + META_DOUBLES * 8;
    this.params = new Float32Array(buffer, off, (buffer.byteLength - off) / 4);
  }

  static create(paramCount: number): SharedSnapshot {
    const s = new SharedSnapshot(new SharedArrayBuffer(CTL_INTS * 4 + META_DOUBLES * 8 + paramCount * 4));
    s.meta[NOT_TRAINING_SINCE] = NaN; // none under way (a 0 would count all the process's CPU)
    return s;
  }

  // ---------------------------------------------------------------- trainer side

  /** Has the thread asked for fresh parameters? One atomic load: cheap enough for every step. */
  wanted(): boolean {
    return Atomics.load(this.ctl, WANT) !== 0;
  }

  /** Writes a snapshot: `fill` puts the parameters into the array it is given. */
  write(fill: (out: Float32Array) => void, samplesSeen: number, blendsTaken: number): void {
    Atomics.add(this.ctl, VERSION, 1); // odd: a reader that overlaps this discards what it read
    try {
      fill(this.params);
      this.meta[SAMPLES] = samplesSeen;
      Atomics.store(this.ctl, BLENDS_TAKEN, blendsTaken);
    } finally {
      Atomics.store(this.ctl, WANT, 0);
      Atomics.add(this.ctl, VERSION, 1);
      Atomics.notify(this.ctl, VERSION);
    }
  }

  /** The trainer's CPU ms spent for gossip in all, and the budget's floor (CpuBudget.floorCores):
   * written whenever they change, read by the thread whenever it wants them. */
  setTrainerMs(ms: number): void {
    this.meta[TRAINER_MS] = ms;
  }

  setFloorCores(cores: number): void {
    this.meta[FLOOR_CORES] = cores;
  }

  /** The trainer began work that is neither training nor gossip (an evaluation), at `restCpu` on the
   * clock of the process's CPU outside the gossip thread. While it lasts, the thread counts what that
   * clock adds as not training (notTrainingMs): an evaluation takes a second on a loaded machine,
   * and exchanges decided meanwhile must not see it as training. */
  notTrainingBegan(restCpu: number): void {
    this.writeNotTraining(this.meta[NOT_TRAINING_MS], restCpu);
  }

  /** It ended: `totalMs` is all such work so far. */
  notTrainingEnded(totalMs: number): void {
    this.writeNotTraining(totalMs, NaN);
  }

  private writeNotTraining(total: number, since: number): void {
    Atomics.add(this.ctl, NOT_TRAINING_VERSION, 1); // odd: the two doubles are being written
    this.meta[NOT_TRAINING_MS] = total;
    this.meta[NOT_TRAINING_SINCE] = since;
    Atomics.add(this.ctl, NOT_TRAINING_VERSION, 1);
  }

  // ---------------------------------------------------------------- thread side

  get trainerMs(): number {
    return this.meta[TRAINER_MS];
  }

  get floorCores(): number {
    return this.meta[FLOOR_CORES];
  }

  /** The trainer's CPU ms on work that is neither training nor gossip, the part of an unfinished
   * one included: `restCpu` is the process's CPU outside the gossip thread now. */
  notTrainingMs(restCpu: number): number {
    for (let tries = 0; ; tries++) {
      const v = Atomics.load(this.ctl, NOT_TRAINING_VERSION);
      const total = this.meta[NOT_TRAINING_MS], since = this.meta[NOT_TRAINING_SINCE];
      // the writer holds the odd version for two stores: a torn pair is retried, not used
      if (((v & 1) === 0 && Atomics.load(this.ctl, NOT_TRAINING_VERSION) === v) || tries >= 100)
        return total + (Number.isFinite(since) ? Math.max(0, restCpu - since) : 0);
    }
  }

  version(): number {
    return Atomics.load(this.ctl, VERSION);
  }

  /** Asks the trainer for fresh parameters; returns the version they will be newer than. */
  request(): number {
    Atomics.store(this.ctl, WANT, 1);
    return this.version();
  }

  /** Waits (blocking this thread, not the trainer) until a snapshot newer than `since` is complete,
   * at most `ms`. true if there is one. */
  waitNewer(since: number, ms: number): boolean {
    const end = performance.now() + ms;
    for (;;) {
      const v = this.version();
      if (v !== since && (v & 1) === 0) return true;
      const left = end - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.ctl, VERSION, v, left);
    }
  }

  /** Copies the parameters into `out` if no write overlapped the copy; null if one did (or one is
   * under way), and then `out` may hold a mix of two snapshots. */
  read(out: Float32Array): SnapshotRead | null {
    const v = this.version();
    if (v & 1) return null;
    out.set(this.params);
    const samplesSeen = this.meta[SAMPLES];
    const blendsTaken = Atomics.load(this.ctl, BLENDS_TAKEN);
    return this.version() === v ? { version: v, samplesSeen, blendsTaken } : null;
  }
}
