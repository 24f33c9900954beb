// An independent float64 oracle for softmax and softmax cross-entropy, and the logit rows that
// stress them. It shares no formula with the engines: they work from a row's max, the count of
// logits equal to it and the sum of the others (src/kernels/cpu/softmax_xent.ts); this works from
// the target's logit and takes every probability as 1 / Σ_j exp(z_j - z_k), in float64. Logits
// are float32, so every difference z_j - z_k is exact in float64 and the only rounding is that of
// exp, log1p and the sums (a few 1e-16 relative), far below the float32 results it checks.
import { mulberry32 } from '../../src/net/lenet';

/** Softmax of each row: p_k = 1 / Σ_j exp(z_j - z_k). */
export function softmaxRef(z: ArrayLike<number>, N: number, K: number): Float64Array {
  const p = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let j = 0; j < K; j++) s += Math.exp(z[n * K + j] - z[n * K + k]);
      p[n * K + k] = 1 / s;
    }
  }
  return p;
}

/**
 * loss_n = -log p_t = log1p(S) with S = Σ_{k≠t} exp(z_k - z_t); dLogits = (p - t) / N with
 * p_k = exp(z_k - z_t) / (1 + S) off the target and p_t - 1 = -S / (1 + S) at it. Labels are
 * one-hot (the target is the index of the 1).
 */
export function softmaxXentRef(z: ArrayLike<number>, t: ArrayLike<number>, N: number, K: number): { losses: Float64Array; dLogits: Float64Array } {
  const losses = new Float64Array(N), dLogits = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    let target = -1;
    for (let k = 0; k < K; k++) if (t[n * K + k] === 1) target = k;
    if (target < 0) throw new Error(`softmaxXentRef: row ${n} has no one-hot target`);
    const zt = z[n * K + target];
    let S = 0;
    for (let k = 0; k < K; k++) if (k !== target) S += Math.exp(z[n * K + k] - zt);
    losses[n] = Math.log1p(S);
    for (let k = 0; k < K; k++) {
      dLogits[n * K + k] = (k === target ? -S / (1 + S) : Math.exp(z[n * K + k] - zt) / (1 + S)) / N;
    }
  }
  return { losses, dLogits };
}

/**
 * Rows that matter for precision, K = 10: confident rows whose loss is far below the ulp of 1
 * (margins 8, 20, 40), the same rows with the target not at the max (loss ≈ the margin), ties at
 * the max, and a row of ~1e-3 loss next to one of ~30 in the same batch, so that a tolerance
 * scaled by the largest value in the tensor would hide an error in the small one.
 */
export function hardRows(): { z: Float32Array; t: Float32Array; N: number; K: number } {
  const K = 10;
  const rows: [number[], number][] = [];
  const row = (hot: [number, number][], target: number) => {
    const r = new Array<number>(K).fill(0);
    for (const [k, v] of hot) r[k] = v;
    rows.push([r, target]);
  };
  for (const margin of [8, 20, 40]) {
    row([[0, margin]], 0); // target at the max: loss ≈ 9·e^-margin (3e-3, 2e-8, 4e-17)
    row([[1, margin]], 3); // target elsewhere: loss ≈ margin
  }
  row([[2, 15], [5, 15]], 2); // two equal maxima, target at one of them: loss ≈ log 2
  row([[4, 16]], 4); // loss ≈ 1e-6
  row([[6, 30]], 9); // loss ≈ 30, in the same batch as the row above
  row([[0, 11.5], [1, -3], [2, 2.25]], 0); // loss ≈ 1e-3
  const rnd = mulberry32(7);
  const mixed = Array.from({ length: K }, () => Math.fround((rnd() * 2 - 1) * 3));
  rows.push([mixed, 5]);
  const N = rows.length;
  const z = new Float32Array(N * K), t = new Float32Array(N * K);
  rows.forEach(([r, target], n) => { z.set(r, n * K); t[n * K + target] = 1; });
  return { z, t, N, K };
}
