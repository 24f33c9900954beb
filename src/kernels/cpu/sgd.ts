// CPU twin of src/kernels/sgd.ts. In place on w (and v when momentum > 0).
import type { SgdOptions } from '../engine';

export function sgdUpdate(w: Float32Array, g: Float32Array, v: Float32Array | null, o: SgdOptions): void {
  const { lr, momentum, weightDecay: wd } = o;
  if (momentum > 0 && v) {
    for (let i = 0; i < w.length; i++) {
      v[i] = momentum * v[i] + g[i] + wd * w[i];
      w[i] -= lr * v[i];
    }
  } else {
    for (let i = 0; i < w.length; i++) w[i] -= lr * (g[i] + wd * w[i]);
  }
}
