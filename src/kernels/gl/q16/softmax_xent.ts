// Softmax cross-entropy from q16 logits: batch x 10 values, so the logits are read back and the
// loss and dLogits = (softmax(z) - t)/N are taken exactly on the host by the CPU twin itself
// (cpu/softmax_xent.ts); dLogits is then stored as q16 at a step from its own max-abs (it cannot
// saturate: the step is chosen from the values it stores). The host copy is returned too: it is
// the exact gradient for the last dense layer's bias.
import { softmaxCrossEntropy } from '../../cpu/softmax_xent';
import { mulberry32 } from '../../../util/rng';
import type { GlEngine } from '../engine';
import { stepExponent } from '../q16';
import { readQ16, uploadQ16, type Q16Tensor } from './tensor';

export function softmaxCrossEntropyQ16(g: GlEngine, logits: Q16Tensor, labels: ArrayLike<number>, seed: number, headroom = 1): {
  loss: number; losses: Float32Array; dLogits: Q16Tensor; dLogitsHost: Float32Array;
} {
  const N = labels.length, K = logits.size / N;
  if (logits.shape[0] !== N || !Number.isInteger(K)) throw new Error(`softmaxCrossEntropyQ16: logits [${logits.shape}] for ${N} labels`);
  const z = readQ16(g, logits).values, t = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    if (!(labels[n] >= 0 && labels[n] < K)) throw new Error(`softmaxCrossEntropyQ16: label ${labels[n]} of sample ${n} is not a class of ${K}`);
    t[n * K + labels[n]] = 1;
  }
  const { losses, dLogits } = softmaxCrossEntropy(z, t, N, K);
  let loss = 0, max = 0;
  for (const l of losses) loss += l;
  for (const d of dLogits) max = Math.max(max, Math.abs(d));
  const { t: dq } = uploadQ16(g, [N, K, 1, 1], dLogits, stepExponent(max, headroom), mulberry32(seed));
  return { loss: loss / N, losses, dLogits: dq, dLogitsHost: dLogits };
}
