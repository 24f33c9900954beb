// The one model that turns a training step's counts into a projected Raspberry Pi 3 images/s.
//
//   T_step = max(F / R_tmu, I / R_alu) / eta + P * t_pass        images/s = batch / T_step
//
// F = texture fetches, I = QPU lane-instructions (fragments x QPU instructions of their shader),
// P = GPU jobs (draws into one target in a row share one: Mesa's vc4 appends them to the bound
// framebuffer's job; recorder.ts counts them). Every constant is here with its source; `vctrain probe --calibrate` writes a file
// whose measured figures replace them (loadModel).
import * as fs from 'node:fs';

export interface Pi3Model {
  /** V3D clock in MHz while the ARM cores are busy. */
  clockMHz: number;
  /** The clock the on-demand governor drops the V3D to when the ARM cores idle. */
  idleClockMHz: number;
  qpus: number;
  /** SIMD lanes a QPU retires per clock (16-way SIMD over 4 clocks). */
  lanesPerClock: number;
  tmus: number;
  /** Texels a TMU returns per clock, cache hits assumed. */
  texelsPerTmuClock: number;
  /** Achieved fraction of the peak rates: [pessimistic, optimistic]. */
  efficiency: [number, number];
  /** Fixed cost of one pass (a GPU job: the draws into one framebuffer before it changes or is read), seconds: [optimistic, pessimistic]. */
  passSeconds: [number, number];
  /** Where the figures came from: 'defaults (published figures)' or the calibration file. */
  from: string;
}

export const PI3_DEFAULTS: Pi3Model = {
  // v3d_freq 400, v3d_freq_min 250 for the Pi 3/3A+/3B+; the on-demand governor "will lower them to the
  // minimum frequencies when the ARM cores are idle". Raspberry Pi documentation, config.txt overclocking:
  // https://www.raspberrypi.com/documentation/computers/config_txt.html#overclocking-options
  clockMHz: 400,
  idleClockMHz: 250,
  // 3 slices x 4 QPUs; each instruction works on 16 lanes over 4 clocks. Broadcom, "VideoCore IV 3D
  // Architecture Reference Guide" (2013), p. 14: https://docs.broadcom.com/doc/12358545
  qpus: 12,
  lanesPerClock: 4,
  // Two TMUs per slice in the Pi's VideoCore IV (same guide p. 14; doe300/VC4CL wiki "Hardware":
  // https://github.com/doe300/VC4CL/wiki/Hardware). The spec's "1.5Gtexel/s" at 250 MHz over 6 TMUs
  // is one texel per TMU clock (derived; an upper bound that assumes cache hits).
  tmus: 6,
  texelsPerTmuClock: 1,
  // A guess, anchored on Beatmup's GLES2 classifier: 670 M multiply-adds/s on a Pi Zero W, about 5% of
  // the ALU peak at batch 1 ("Towards GPU-accelerated image classification on low-end hardware",
  // Analytics Vidhya on medium.com; https://github.com/lnstadrum/beatmup). Long shaders at batch 64
  // should do better than that.
  efficiency: [0.1, 0.3],
  // A guess until `probe --calibrate` measures it on a board: 0.3-1 ms per job.
  passSeconds: [0.0003, 0.001],
  from: 'defaults (published figures; efficiency and pass cost guessed)',
};

/** Calibrated figures, as `vctrain probe --calibrate --json` writes them (see cli/calibrate.ts). */
export interface Calibration {
  renderer: string;
  software: boolean;
  v3dClockMHz?: number;
  /** Fragment-fetches per second at 1, 8, 32 fetches per fragment. */
  fetchRate: Record<string, number>;
  /** Lane-instructions per second of a fetch-free shader (GLSL multiply-adds per second). */
  aluRate: number;
  drawSeconds: number;
}

/**
 * The model with a calibration's measured figures in place of the defaults. The measured rates
 * replace the efficiency (achieved/peak) as a point range, so a projection from a calibration of a
 * software renderer is a projection for that renderer, which the caller says.
 */
export function loadModel(file?: string): Pi3Model {
  if (!file) return PI3_DEFAULTS;
  let c: Calibration;
  try {
    c = JSON.parse(fs.readFileSync(file, 'utf8')) as Calibration;
  } catch (e) {
    throw new Error(`${file}: not a calibration file from \`vctrain probe --calibrate --json\` (${(e as Error).message})`);
  }
  if (!(c.aluRate > 0) || !(c.drawSeconds >= 0) || !c.fetchRate) throw new Error(`${file}: calibration lacks aluRate, drawSeconds or fetchRate`);
  const m = { ...PI3_DEFAULTS, from: `calibration ${file} (${c.renderer}${c.software ? ', a software renderer' : ''})` };
  if (c.v3dClockMHz) m.clockMHz = c.v3dClockMHz;
  const aluEff = c.aluRate / peaks(m).alu;
  const fetch = Math.max(...Object.values(c.fetchRate));
  const tmuEff = fetch / peaks(m).tmu;
  const eff = Math.min(aluEff, tmuEff);
  m.efficiency = [eff, Math.max(aluEff, tmuEff)];
  m.passSeconds = [c.drawSeconds, c.drawSeconds];
  return m;
}

export function peaks(m: Pi3Model, clockMHz = m.clockMHz): { alu: number; tmu: number } {
  return { alu: m.qpus * m.lanesPerClock * clockMHz * 1e6, tmu: m.tmus * m.texelsPerTmuClock * clockMHz * 1e6 };
}

export interface StepCounts {
  batch: number;
  /** GPU jobs (for engines with one draw a target: the passes). */
  passes: number;
  fetches: number;
  /** null when no vc4 instruction counts are known (the compiler absent): the ALU time is then unknown. */
  laneInstructions: number | null;
}

export interface Projection {
  clockMHz: number;
  /** Seconds at peak rates. */
  tmuSeconds: number;
  aluSeconds: number | null;
  bound: 'TMU' | 'ALU';
  /** [low, high] images/s over the efficiency and pass-cost ranges. */
  imagesPerSecond: [number, number];
  /** images/s at the peak rates and no pass cost: nothing can beat it. */
  ceiling: number;
  /** True when ALU time is unknown, so the range is an upper bound from the fetches alone. */
  fetchesOnly: boolean;
}

export function project(s: StepCounts, m: Pi3Model = PI3_DEFAULTS, clockMHz = m.clockMHz): Projection {
  const p = peaks(m, clockMHz);
  const tmu = s.fetches / p.tmu, alu = s.laneInstructions === null ? null : s.laneInstructions / p.alu;
  const busy = Math.max(tmu, alu ?? 0);
  const slow = busy / m.efficiency[0] + s.passes * m.passSeconds[1], fast = busy / m.efficiency[1] + s.passes * m.passSeconds[0];
  return {
    clockMHz, tmuSeconds: tmu, aluSeconds: alu, bound: alu !== null && alu > tmu ? 'ALU' : 'TMU',
    imagesPerSecond: [s.batch / slow, s.batch / fast], ceiling: busy > 0 ? s.batch / busy : Infinity, fetchesOnly: alu === null,
  };
}
