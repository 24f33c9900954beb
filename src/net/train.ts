// The training loop of one board: data, LeNet on the chosen engine, seeded shuffling, SGD steps,
// evaluation on the test split, checkpoints and resume.
//
// Reproducibility: the initial parameters come from initParams(seed); each epoch's order is a
// Fisher-Yates shuffle driven by one mulberry32 stream seeded from `seed` (and the shard index),
// whose state at the start of the current epoch is saved in every checkpoint together with the
// parameters, the momentum buffers and the position in the epoch. Resuming restores all of it,
// so on a deterministic engine a run killed and resumed ends with bit-identical parameters to
// one that never stopped.
import { selectEngine, type Profile } from '../kernels/select';
import type { Engine } from '../kernels/engine';
import { CpuEngine } from '../kernels/cpu/engine';
import { GlFaultError } from '../kernels/gl/errors';
import { stepRate } from './step-rate';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint, type CheckpointState, type EpochRecord } from './checkpoint';
import { imageBatch, loadDataset, shard as shardOf, type Dataset } from './data';
import { evaluateNet, evaluateParams, type Evaluation } from './evaluate';
import { DataError } from './idx';
import { LeNet, initParams } from './lenet';
import { IMAGE_SIDE } from './spec';
import { validate, type TrainerOptions } from './settings';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mulberry32, shuffle } from '../util/rng';

export type { EpochRecord } from './checkpoint';

export { boardLr, boardRate, type LrRule, type TrainerOptions, type TrainingSettings } from './settings';

export interface EngineInfo {
  device: 'gl' | 'cpu';
  profile?: Profile;
  description: string;
  reason: string;
}

export interface StepInfo {
  /** Mean loss of this batch. */
  loss: number;
  /** Images in this batch. */
  images: number;
  /** The epoch this batch belongs to, counted from 0. */
  epoch: number;
  /** Batches done in that epoch, this one included (== batchesPerEpoch on its last batch). */
  batch: number;
  batchesPerEpoch: number;
  /** Wall ms the step took (0 when no step was taken). */
  ms: number;
  /** All epochs are done. */
  done: boolean;
}

/** What run() calls around its steps: all a board adds to the single-process loop. */
export interface RunHooks {
  /** Between two steps, never inside one: where a board folds in its peers' blends. */
  beforeStep?(): void;
  onStep?(info: StepInfo): void;
  /** After the epoch's checkpoint and test evaluation (trainer.evaluate() returns that evaluation again at no cost). */
  onEpoch?(info: EpochRecord): void;
  /** Checked before each step: true ends the run after a checkpoint (Ctrl-C). */
  shouldStop?(): boolean;
  /** Runs the trainer's work that is not training: each epoch's test evaluation, checkpoint, log line
   * and onEpoch, and the checkpoint and evaluation at the end. A board times it here, so that its
   * gossip budget counts it as neither training nor gossip (GossipThread.notTraining). */
  notTraining?(work: () => void): void;
}

/** Images per second since the window was last restarted: the rate a progress line shows. */
export class RateWindow {
  private start: number;
  private images = 0;
  constructor(now = Date.now()) {
    this.start = now;
  }

  add(images: number): void {
    this.images += images;
  }

  rate(now = Date.now()): number {
    return (this.images / Math.max(1, now - this.start)) * 1000;
  }

  restart(now = Date.now()): void {
    this.start = now;
    this.images = 0;
  }
}

export interface RunSummary {
  testAccuracy: number;
  device: 'gl' | 'cpu';
  profile?: Profile;
  /** Epochs completed (including those before a resume). */
  epochs: number;
  /** Training images per second of this process's steps (evaluation excluded). */
  imagesPerSecond: number;
  /** Seconds inside this process's steps. */
  trainSeconds: number;
  wallSeconds: number;
  out: string;
  history: EpochRecord[];
  /** True when shouldStop() ended the run before the last epoch. */
  stopped: boolean;
}

const PIXELS = IMAGE_SIDE * IMAGE_SIDE;

function shuffleSeed(seed: number, shardIndex: number): number {
  // Distinct from the parameter-init stream, and distinct per shard.
  return (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(shardIndex + 1, 0x85ebca6b) ^ 0x5bd1e995) >>> 0;
}

export class Trainer {
  epoch = 0;
  step = 0;
  samplesSeen = 0;
  readonly history: EpochRecord[] = [];
  readonly data: Dataset;
  readonly batchesPerEpoch: number;

  private engine: Engine;
  private net: LeNet;
  private reason: string;
  private profile?: Profile;
  private rng: Mulberry32;
  private rngEpochStart: number;
  private order: Uint32Array | null = null;
  private batchInEpoch = 0;
  private epochLossSum = 0;
  private epochImages = 0;
  private epochTrainMs = 0;
  private readonly xb: Float32Array;
  private readonly yb: Uint8Array;
  /** Bumped whenever the parameters change, so evaluate() can reuse its last answer. */
  private version = 0;
  private lastEval: { version: number; accuracy: number; loss: number } | null = null;
  private epochEndVersion = -1;
  /** Host copy of the state at the last checkpoint: where a GL fault restarts from on the CPU. */
  private snapshot: CheckpointState;
  private readonly log: (line: string) => void;

  private constructor(readonly options: TrainerOptions, data: Dataset, engine: Engine, reason: string, profile: Profile | undefined) {
    this.data = data;
    this.engine = engine;
    this.reason = reason;
    this.profile = profile;
    this.log = options.log ?? (() => {});
    if (engine.maxBatch !== undefined && options.batch > engine.maxBatch)
      throw new Error(`--batch ${options.batch}: the ${engine.description} engine takes at most ${engine.maxBatch} images a step`);
    this.batchesPerEpoch = Math.ceil(data.train.n / options.batch);
    this.rng = new Mulberry32(shuffleSeed(options.seed, options.shard?.index ?? 0));
    this.rngEpochStart = this.rng.state;
    this.net = new LeNet(engine, initParams(options.seed), options.act ?? 'tanh', options.momentum);
    this.xb = new Float32Array(options.batch * PIXELS);
    this.yb = new Uint8Array(options.batch);
    this.snapshot = this.state();
  }

  static async create(opts: TrainerOptions): Promise<Trainer> {
    validate(opts);
    let data = opts.dataset ?? loadDataset({ dataDir: opts.dataDir });
    if (opts.shard) data = shardOf(data, opts.shard.index, opts.shard.count);
    if (data.train.n === 0) throw new DataError(`${data.source}: no training images`);
    const log = opts.log ?? (() => {});
    log(`data: ${data.source}`);
    // batch 8, one timed step each: enough to tell llvmpipe from a GPU without a long start-up
    const sel = { device: opts.device, profile: opts.profile, threads: opts.threads, log, rate: (e: Engine) => stepRate(e, 8, 1) };
    const choice = opts.engineChoice ?? ((await selectEngine(sel)) as { engine: Engine; reason: string; device?: 'gl' | 'cpu'; profile?: Profile });
    const t = new Trainer(opts, data, choice.engine, choice.reason, choice.profile);
    if (opts.resume) {
      const file = path.join(opts.out, CHECKPOINT_FILE);
      if (fs.existsSync(file)) {
        t.restore(loadCheckpoint(file), file);
        log(`resumed from ${file}: epoch ${t.epoch}, step ${t.step}${t.batchInEpoch ? ` (batch ${t.batchInEpoch}/${t.batchesPerEpoch} of epoch ${t.epoch + 1})` : ''}`);
      } else {
        log(`no checkpoint in ${opts.out} yet: starting from the beginning`);
      }
    }
    return t;
  }

  get engineInfo(): EngineInfo {
    const device = this.engine.kind;
    return { device, profile: device === 'gl' ? this.profile : undefined, description: this.engine.description, reason: this.reason };
  }

  getParams(out?: Float32Array): Float32Array {
    return this.onEngine(() => this.net.getParams(out));
  }

  setParams(p: Float32Array): void {
    this.onEngine(() => this.net.setParams(p));
    this.version++;
  }

  resetMomentum(): void {
    this.onEngine(() => this.net.resetMomentum());
  }

  /** Everything a checkpoint holds, as of now. */
  private state(): CheckpointState {
    const o = this.options;
    return {
      epoch: this.epoch,
      step: this.step,
      batchInEpoch: this.batchInEpoch,
      samplesSeen: this.samplesSeen,
      rngEpochStart: this.rngEpochStart,
      epochLossSum: this.epochLossSum,
      epochImages: this.epochImages,
      epochTrainMs: this.epochTrainMs,
      options: {
        epochs: o.epochs, batch: o.batch, lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, seed: o.seed,
        act: o.act ?? 'tanh', shard: o.shard ?? { index: 0, count: 1 }, data: this.data.source, trainImages: this.data.train.n,
      },
      history: this.history.map((h) => ({ ...h })),
      params: this.net.getParams(),
      velocity: this.net.getVelocity(),
    };
  }

  private restore(s: CheckpointState, file: string): void {
    const saved = s.options as { batch?: number; seed?: number; trainImages?: number; act?: string; shard?: { index: number; count: number } };
    const o = this.options;
    const shard = o.shard ?? { index: 0, count: 1 };
    const clash = (what: string, a: unknown, b: unknown) => {
      throw new DataError(`${file}: saved with ${what} ${String(a)}, this run asks for ${String(b)}; resume with the same settings or use another --out`);
    };
    if (saved.batch !== undefined && saved.batch !== o.batch) clash('batch', saved.batch, o.batch);
    if (saved.seed !== undefined && saved.seed !== o.seed) clash('seed', saved.seed, o.seed);
    if (saved.act !== undefined && saved.act !== (o.act ?? 'tanh')) clash('activation', saved.act, o.act ?? 'tanh');
    if (saved.shard && (saved.shard.index !== shard.index || saved.shard.count !== shard.count)) clash('shard', `${saved.shard.index}/${saved.shard.count}`, `${shard.index}/${shard.count}`);
    if (saved.trainImages !== undefined && saved.trainImages !== this.data.train.n) clash('a training set of', saved.trainImages, this.data.train.n);
    this.net.setParams(s.params);
    if (s.velocity) this.net.setVelocity(s.velocity);
    else this.net.resetMomentum();
    this.epoch = s.epoch;
    this.step = s.step;
    this.samplesSeen = s.samplesSeen;
    this.batchInEpoch = s.batchInEpoch;
    this.epochLossSum = s.epochLossSum;
    this.epochImages = s.epochImages;
    this.epochTrainMs = s.epochTrainMs;
    this.history.length = 0;
    this.history.push(...s.history.map((h) => ({ ...h, testAccuracy: h.testAccuracy ?? NaN })));
    this.rng.state = s.rngEpochStart >>> 0;
    this.rngEpochStart = this.rng.state;
    this.order = null;
    if (this.batchInEpoch > 0) this.drawOrder();
    this.version++;
    const last = this.history[this.history.length - 1];
    this.epochEndVersion = this.batchInEpoch === 0 && last && last.epoch === this.epoch ? this.version : -1;
    this.snapshot = { ...s, params: s.params.slice(), velocity: s.velocity ? s.velocity.slice() : null };
  }

  private drawOrder(): void {
    this.rngEpochStart = this.rng.state;
    const n = this.data.train.n;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    this.order = shuffle(order, () => this.rng.next());
  }

  /** The learning rate of the next step. */
  lrNow(): number {
    const { lr, warmup } = this.options;
    if (!warmup) return lr;
    const steps = warmup.steps ?? Math.max(1, Math.round(warmup.epochs! * this.batchesPerEpoch));
    if (this.step >= steps) return lr;
    return warmup.fromLr + ((lr - warmup.fromLr) * this.step) / steps;
  }

  /** One batch, synchronously. After the last batch of an epoch `epoch` has advanced. */
  trainStep(): StepInfo {
    return this.onEngine(() => this.stepOnce());
  }

  private stepOnce(): StepInfo {
    if (this.epoch >= this.options.epochs) {
      return { loss: NaN, images: 0, epoch: this.epoch, batch: 0, batchesPerEpoch: this.batchesPerEpoch, ms: 0, done: true };
    }
    if (!this.order) this.drawOrder();
    const order = this.order as Uint32Array;
    const { labels, n } = this.data.train;
    const start = this.batchInEpoch * this.options.batch;
    const count = Math.min(this.options.batch, n - start);
    const picks = order.subarray(start, start + count);
    imageBatch(this.data.train, picks, this.xb);
    for (let k = 0; k < count; k++) this.yb[k] = labels[picks[k]];
    const t0 = performance.now();
    // Nothing above has changed the trainer's state, and nothing below touches the engine: a GL
    // fault inside net.step leaves the step to be redone whole (onEngine).
    const loss = this.net.step(this.xb.subarray(0, count * PIXELS), this.yb.subarray(0, count), {
      lr: this.lrNow(), momentum: this.options.momentum, weightDecay: this.options.weightDecay,
    }).loss;
    const ms = performance.now() - t0;
    this.epochTrainMs += ms;
    this.version++;
    const epochOfStep = this.epoch;
    this.step++;
    this.batchInEpoch++;
    this.samplesSeen += count;
    this.epochLossSum += loss * count;
    this.epochImages += count;
    const batch = this.batchInEpoch;
    if (this.batchInEpoch >= this.batchesPerEpoch) {
      this.epoch++;
      this.batchInEpoch = 0;
      this.order = null;
      this.rngEpochStart = this.rng.state;
      this.closeEpoch();
    }
    return { loss, images: count, epoch: epochOfStep, batch, batchesPerEpoch: this.batchesPerEpoch, ms, done: this.epoch >= this.options.epochs };
  }

  /**
   * The one place a GL fault is handled. Every public method that touches the engine runs its
   * whole body through here, so a fault (context lost, a GL error after a pass, a program that no
   * longer builds: GlFaultError, raised by the GL engine alone) moves the run to the CPU engine,
   * restores the host copy of the last checkpoint, and runs the body again from its start. The
   * steps since that checkpoint are redone in the same order (the shuffle state is restored too);
   * gossip blends applied since then are lost, and peers offer them again.
   */
  private onEngine<T>(body: () => T): T {
    try {
      return body();
    } catch (e) {
      if (!(e instanceof GlFaultError) || this.engine.kind !== 'gl') throw e;
      this.fallBackToCpu(e.message);
      return body();
    }
  }

  private fallBackToCpu(why: string): void {
    this.log(`GL fault: ${why}; continuing on the CPU from the last checkpoint (epoch ${this.snapshot.epoch}, step ${this.snapshot.step})`);
    try {
      this.net.destroy();
      this.engine.destroy();
    } catch {
      // the context is already unusable; nothing to free that matters
    }
    this.engine = new CpuEngine({ threads: this.options.threads });
    this.reason = `cpu: after a GL fault (${why})`;
    this.net = new LeNet(this.engine, this.snapshot.params, this.options.act ?? 'tanh', this.options.momentum);
    this.restore(this.snapshot, 'the last checkpoint');
  }

  /** Accuracy and mean cross-entropy on the whole test split, of the current or the given parameters. */
  evaluate(params?: Float32Array): Evaluation {
    return this.onEngine(() => this.evaluateOnce(params));
  }

  private evaluateOnce(params?: Float32Array): Evaluation {
    if (params) return evaluateParams(this.engine, params, this.data.test, this.options.act ?? 'tanh');
    if (this.lastEval && this.lastEval.version === this.version) return { accuracy: this.lastEval.accuracy, loss: this.lastEval.loss };
    const r = evaluateNet(this.net, this.data.test);
    this.lastEval = { version: this.version, ...r };
    const last = this.history[this.history.length - 1];
    if (last && last.epoch === this.epoch && this.epochEndVersion === this.version) last.testAccuracy = r.accuracy;
    return r;
  }

  /** Writes `<out>/checkpoint.vct` atomically; returns its path. */
  checkpoint(): string {
    // At an epoch's end, record its accuracy in the history the checkpoint carries.
    this.finishedEpoch();
    const s = this.onEngine(() => this.state());
    const file = saveCheckpoint(this.options.out, s);
    this.snapshot = s;
    return file;
  }

  /** Closes the epoch's running sums into a history record; its test accuracy is filled in by the next evaluate(). */
  private closeEpoch(): void {
    const seconds = this.epochTrainMs / 1000;
    this.history.push({
      epoch: this.epoch,
      loss: this.epochImages ? this.epochLossSum / this.epochImages : NaN,
      testAccuracy: NaN,
      imagesPerSecond: seconds > 0 ? this.epochImages / seconds : 0,
      seconds,
    });
    this.epochEndVersion = this.version;
    this.epochLossSum = 0;
    this.epochImages = 0;
    this.epochTrainMs = 0;
  }

  /** The record of the epoch that just ended, with its test accuracy (evaluated once). */
  private finishedEpoch(): EpochRecord | null {
    const last = this.history[this.history.length - 1];
    if (!last || last.epoch !== this.epoch || this.epochEndVersion !== this.version) return null;
    if (!Number.isFinite(last.testAccuracy)) this.evaluate();
    return last;
  }

  /**
   * Trains until `epochs` are done or shouldStop() says so, evaluating and checkpointing after
   * every epoch (and once more when stopped mid-epoch, so --resume loses nothing). Yields to the
   * event loop between steps so timers, signals and gossip run beside training.
   */
  async run(hooks: RunHooks = {}): Promise<RunSummary> {
    const t0 = performance.now();
    let trainMs = 0, images = 0, stopped = false;
    const notTraining = hooks.notTraining ?? ((work: () => void) => work());
    while (this.epoch < this.options.epochs) {
      if (hooks.shouldStop?.()) {
        stopped = true;
        break;
      }
      hooks.beforeStep?.();
      const s0 = performance.now();
      const info = this.trainStep();
      trainMs += performance.now() - s0;
      images += info.images;
      hooks.onStep?.(info);
      if (info.batch >= info.batchesPerEpoch) {
        notTraining(() => {
          const rec = this.finishedEpoch() as EpochRecord;
          this.checkpoint();
          this.log(`epoch ${rec.epoch}/${this.options.epochs}: loss ${rec.loss.toFixed(4)}, test accuracy ${(rec.testAccuracy * 100).toFixed(2)}%, ${rec.imagesPerSecond.toFixed(0)} img/s`);
          hooks.onEpoch?.(rec);
        });
      }
      await new Promise<void>((r) => setImmediate(r));
    }
    let testAccuracy = NaN;
    notTraining(() => {
      if (stopped) this.checkpoint();
      testAccuracy = this.finishedEpoch()?.testAccuracy ?? this.evaluate().accuracy;
    });
    const info = this.engineInfo;
    return {
      testAccuracy,
      device: info.device,
      profile: info.profile,
      epochs: this.epoch,
      imagesPerSecond: trainMs > 0 ? images / (trainMs / 1000) : 0,
      trainSeconds: trainMs / 1000,
      wallSeconds: (performance.now() - t0) / 1000,
      out: this.options.out,
      history: this.history.map((h) => ({ ...h })),
      stopped,
    };
  }

  destroy(): void {
    this.net.destroy();
    this.engine.destroy();
  }
}
