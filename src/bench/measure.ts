// How every row of `vctrain bench` is timed, engines and peers alike, so that their ratios compare
// like with like: a warm-up (first steps compile shaders, grow heaps, spin up threads), then
// several runs of whole SGD steps each lasting at least `minSeconds`, and the median of the runs.

export interface Timing {
  /** Images per second of each timed run. */
  rates: number[];
  /** Median of rates. */
  imagesPerSecond: number;
  msPerStep: number;
  steps: number;
  note?: string;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface TimeOptions {
  batch: number;
  runs: number;
  minSeconds: number;
  /** Longest this row may take in total; slow engines get fewer runs (said in the note). */
  budgetSeconds: number;
}

/** Times `step` (one SGD step of `batch` images, synchronous or not) as described above. */
export async function timeSteps(step: () => unknown, o: TimeOptions): Promise<Timing> {
  const now = () => performance.now() / 1000;
  // Warm-up: at least two steps (the second shows the steady state), and at least half a run.
  const w0 = now();
  await step();
  const first = now() - w0;
  let warm = 1;
  // The steady step time is the last warm-up step's: the first one pays for compilation.
  let perStep = first;
  while (warm < 2 || now() - w0 < o.minSeconds / 2) {
    if (now() - w0 + perStep > o.budgetSeconds / 3) break;
    const s0 = now();
    await step();
    perStep = now() - s0;
    warm++;
  }
  let runs = o.runs;
  let minSeconds = o.minSeconds;
  let note: string | undefined;
  if (perStep * runs > o.budgetSeconds) {
    runs = Math.max(1, Math.floor(o.budgetSeconds / Math.max(perStep, 1e-9)));
    minSeconds = 0;
    note = `slow: ${runs} run${runs > 1 ? 's' : ''} of one step (${perStep.toFixed(1)} s/step)`;
  }
  const rates: number[] = [];
  let steps = 0, total = 0;
  for (let r = 0; r < runs; r++) {
    let n = 0;
    const t0 = now();
    let dt = 0;
    do {
      await step();
      n++;
      dt = now() - t0;
    } while (dt < minSeconds);
    rates.push((n * o.batch) / dt);
    steps += n;
    total += dt;
  }
  const imagesPerSecond = median(rates);
  return { rates, imagesPerSecond, msPerStep: (1000 * total) / steps, steps, note };
}
