// CPU twin of src/kernels/softmax_xent.ts. logits [N,K], one-hot labels [N,K].
// loss_n = logsumexp(z_n) - Σ_k t_nk·z_nk ; dLogits = (softmax(z) - t)/N (the mean over the batch).
// Both are taken the way the GL kernels take them, from a row's max m, the count c of logits equal
// to it and rest = Σ exp(z - m) over the others: a confident prediction's loss (1e-13) and the
// gradient at its target (p - 1) live in rest, and c + rest rounds them away, even in float64.
function rowStats(z: Float32Array, n: number, K: number): { m: number; c: number; rest: number } {
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, z[n * K + k]);
  let c = 0, rest = 0;
  for (let k = 0; k < K; k++) {
    const x = z[n * K + k];
    if (x === m) c++;
    else rest += Math.exp(x - m);
  }
  return { m, c, rest };
}

export function softmax(z: Float32Array, N: number, K: number): Float32Array {
  const p = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const { m, c, rest } = rowStats(z, n, K);
    for (let k = 0; k < K; k++) {
      const x = z[n * K + k];
      p[n * K + k] = (x === m ? 1 : Math.exp(x - m)) / (c + rest);
    }
  }
  return p;
}

export function softmaxCrossEntropy(
  z: Float32Array, t: Float32Array, N: number, K: number,
): { losses: Float32Array; dLogits: Float32Array } {
  const losses = new Float32Array(N);
  const dLogits = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const { m, c, rest } = rowStats(z, n, K);
    let tz = 0;
    for (let k = 0; k < K; k++) tz += t[n * K + k] * z[n * K + k];
    losses[n] = m - tz + Math.log1p(c - 1 + rest);
    for (let k = 0; k < K; k++) {
      const x = z[n * K + k], tk = t[n * K + k];
      const e = x === m ? 1 : Math.exp(x - m);
      dLogits[n * K + k] = (e - tk * c - tk * rest) / (c + rest) / N;
    }
  }
  return { losses, dLogits };
}
