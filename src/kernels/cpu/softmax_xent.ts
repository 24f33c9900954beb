// CPU twin of src/kernels/softmax_xent.ts. logits [N,K], one-hot labels [N,K].
// loss_n = logsumexp(z_n) - Σ_k t_nk·z_nk ; dLogits = (softmax(z) - t)/N (the mean over the batch).
export function softmax(z: Float32Array, N: number, K: number): Float32Array {
  const p = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, z[n * K + k]);
    let s = 0;
    for (let k = 0; k < K; k++) s += (p[n * K + k] = Math.exp(z[n * K + k] - m));
    for (let k = 0; k < K; k++) p[n * K + k] /= s;
  }
  return p;
}

export function softmaxCrossEntropy(
  z: Float32Array, t: Float32Array, N: number, K: number,
): { losses: Float32Array; dLogits: Float32Array } {
  const p = softmax(z, N, K);
  const losses = new Float32Array(N);
  const dLogits = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    let m = -Infinity;
    for (let k = 0; k < K; k++) m = Math.max(m, z[n * K + k]);
    let s = 0, tz = 0;
    for (let k = 0; k < K; k++) { s += Math.exp(z[n * K + k] - m); tz += t[n * K + k] * z[n * K + k]; }
    losses[n] = m + Math.log(s) - tz;
    for (let k = 0; k < K; k++) dLogits[n * K + k] = (p[n * K + k] - t[n * K + k]) / N;
  }
  return { losses, dLogits };
}
