// Test-split accuracy and mean cross-entropy of a model: the one definition the trainer, the
// cluster's consensus and every benchmark use, so their figures compare.
import type { Activation, Engine } from '../kernels/engine';
import { imageBatch, type Split } from './data';
import { LeNet } from './lenet';
import { CLASSES } from './spec';

export interface Evaluation {
  accuracy: number;
  loss: number;
}

/** Images per forward pass: a batch a Pi's GL engine holds comfortably. */
const EVAL_BATCH = 250;

/** Accuracy (argmax against the label) and mean cross-entropy of `net` over the whole split. */
export function evaluateNet(net: LeNet, split: Split): Evaluation {
  const { labels, n } = split;
  let correct = 0, loss = 0;
  const batch = Math.min(EVAL_BATCH, net.engine.maxBatch ?? EVAL_BATCH);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const p = net.predict(imageBatch(split, { start: s, count: m }), m);
    for (let k = 0; k < m; k++) {
      let best = 0;
      for (let c = 1; c < CLASSES; c++) if (p[k * CLASSES + c] > p[k * CLASSES + best]) best = c;
      const y = labels[s + k];
      if (best === y) correct++;
      loss -= Math.log(Math.max(p[k * CLASSES + y], 1e-30));
    }
  }
  return { accuracy: n ? correct / n : NaN, loss: n ? loss / n : NaN };
}

/** evaluateNet for bare parameters, on `engine` (a temporary model, freed after). */
export function evaluateParams(engine: Engine, params: Float32Array, split: Split, act: Activation = 'tanh'): Evaluation {
  const net = new LeNet(engine, params, act, 0);
  try {
    return evaluateNet(net, split);
  } finally {
    net.destroy();
  }
}
