// CPU twin of src/kernels/maxpool.ts: 2x2 windows, stride 2, x [N,C,H,W] -> [N,C,H/2,W/2].
// The gradient goes to the first maximum of the window in row-major order, as the GL kernel does,
// so that the two engines agree exactly on ties.
export function maxPool(x: Float32Array, shape: readonly number[]): Float32Array {
  const [N, C, H, W] = shape;
  const Ho = H >> 1, Wo = W >> 1;
  const y = new Float32Array(N * C * Ho * Wo);
  for (let nc = 0; nc < N * C; nc++)
    for (let p = 0; p < Ho; p++)
      for (let q = 0; q < Wo; q++) {
        const base = nc * H * W + 2 * p * W + 2 * q;
        y[(nc * Ho + p) * Wo + q] = Math.max(x[base], x[base + 1], x[base + W], x[base + W + 1]);
      }
  return y;
}

export function maxPoolBackward(x: Float32Array, shape: readonly number[], y: Float32Array, dy: Float32Array): Float32Array {
  const [N, C, H, W] = shape;
  const Ho = H >> 1, Wo = W >> 1;
  const dx = new Float32Array(x.length);
  for (let nc = 0; nc < N * C; nc++)
    for (let p = 0; p < Ho; p++)
      for (let q = 0; q < Wo; q++) {
        const o = (nc * Ho + p) * Wo + q;
        const base = nc * H * W + 2 * p * W + 2 * q;
        const m = y[o];
        const at = x[base] === m ? base : x[base + 1] === m ? base + 1 : x[base + W] === m ? base + W : base + W + 1;
        dx[at] = dy[o];
      }
  return dx;
}
