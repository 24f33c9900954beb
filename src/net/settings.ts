// The training settings, declared once: what a person chooses (TrainingSettings, one CLI flag each:
// cli/commands.ts), and what one board's Trainer runs with (TrainerOptions: the rate fixed for the
// number of boards, plus where and how to run).
import type { Device, Profile } from '../kernels/select';
import type { Activation, Engine } from '../kernels/engine';
import type { Dataset } from './data';

export type LrRule = 'fixed' | 'sqrt';

/**
 * What a person chooses about training, declared once: the CLI's flag table (cli/commands.ts)
 * parses into it, re-serialises it for a board process, and the run report lists it.
 */
export interface TrainingSettings {
  epochs: number;
  batch: number;
  /** The rate of one board; boardRate() scales it for a cluster. */
  lr: number;
  /** How the rate grows with the number of boards (boardLr). */
  lrRule: LrRule;
  /** Epochs over which a scaled rate rises from lr (0: none). */
  warmupEpochs: number;
  momentum: number;
  weightDecay: number;
  seed: number;
  device: Device;
  profile?: Profile;
  threads?: number;
  act: Activation;
  /** Directory of MNIST IDX files (absent: the built-in digits). */
  dataDir?: string;
}

/** The Trainer's options: the settings with the rate already fixed for this board, plus where and how to run. */
export interface TrainerOptions extends Omit<TrainingSettings, 'lrRule' | 'warmupEpochs' | 'act'> {
  /** Gradual warm-up (Goyal et al. 2017, arXiv 1706.02677): the rate rises linearly from fromLr to
   * lr over the first `steps` steps. For a rate scaled up for many boards, whose first steps (the
   * largest gradients) would otherwise throw single boards off. */
  warmup?: { steps?: number; epochs?: number; fromLr: number };
  act?: Activation;
  /** Directory of checkpoint.vct. */
  out: string;
  /** Continue from `<out>/checkpoint.vct` if there is one. */
  resume?: boolean;
  shard?: { index: number; count: number };
  log?(line: string): void;
  /** Tests: a data set already in memory instead of loading one. */
  dataset?: Dataset;
  /** An engine already chosen (tests, or a caller that ran selectEngine itself) instead of selectEngine. */
  engineChoice?: { engine: Engine; reason: string; device?: 'gl' | 'cpu'; profile?: Profile };
}

/**
 * The step each of `boards` boards takes for a given single-board rate. Averaging N models moves
 * their mean by the mean of N gradients: one step of an N-times larger batch, so N boards take a
 * tenth of one board's steps at 10 boards. 'sqrt' grows the step by sqrt(N) (Krizhevsky 2014,
 * arXiv 1404.5997); bench/results/scaling.md measured it, with a warm-up, within 1 point of one board
 * at 10 boards, where the fixed rate ended 3.2 points below.
 */
export function boardLr(lr: number, rule: LrRule, boards: number): number {
  return rule === 'sqrt' ? lr * Math.sqrt(boards) : lr;
}

/** The rate and warm-up of one of `boards` boards, from the settings. */
export function boardRate(s: Pick<TrainingSettings, 'lr' | 'lrRule' | 'warmupEpochs'>, boards: number): Pick<TrainerOptions, 'lr' | 'warmup'> {
  const lr = boardLr(s.lr, s.lrRule, boards);
  return { lr, warmup: s.warmupEpochs > 0 && lr > s.lr ? { epochs: s.warmupEpochs, fromLr: s.lr } : undefined };
}

/** Throws a RangeError naming the first setting out of range. */
export function validate(o: TrainerOptions): void {
  const bad = (m: string) => { throw new RangeError(m); };
  if (!Number.isInteger(o.epochs) || o.epochs < 0) bad(`epochs must be a whole number >= 0, got ${o.epochs}`);
  if (!Number.isInteger(o.batch) || o.batch < 1) bad(`batch must be a whole number >= 1, got ${o.batch}`);
  if (!(o.lr > 0) || !Number.isFinite(o.lr)) bad(`learning rate must be > 0, got ${o.lr}`);
  if (!(o.momentum >= 0 && o.momentum < 1)) bad(`momentum must be in [0, 1), got ${o.momentum}`);
  if (!(o.weightDecay >= 0) || !Number.isFinite(o.weightDecay)) bad(`weight decay must be >= 0, got ${o.weightDecay}`);
  if (!Number.isInteger(o.seed)) bad(`seed must be an integer, got ${o.seed}`);
  const w = o.warmup;
  if (w && !(w.fromLr > 0 && (w.steps !== undefined ? Number.isInteger(w.steps) && w.steps >= 1 : w.epochs !== undefined && w.epochs > 0)))
    bad(`warm-up needs a whole number of steps >= 1 (or epochs > 0) and a starting rate > 0, got ${JSON.stringify(w)}`);
}
