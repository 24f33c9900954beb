// The naive CPU engine: the Engine contract over the scalar twins in this folder, one plain loop
// per op. Slow, and kept that way on purpose: it is the reference the fast CpuEngine (engine.ts)
// and the GL engine are tested against.
import type { Activation, Engine, SgdOptions, Tensor } from '../engine';
import { activationBackward } from './activation';
import { biasGrad } from './bias';
import { conv2d, conv2dBackwardFilter, conv2dBackwardInput } from './conv2d';
import { dense, denseBackwardInput, denseBackwardWeight } from './dense';
import { maxPool, maxPoolBackward } from './maxpool';
import { sgdUpdate } from './sgd';
import { softmax, softmaxCrossEntropy } from './softmax_xent';

export class NaiveTensor implements Tensor {
  readonly size: number;
  constructor(readonly shape: readonly number[], public data: Float32Array) {
    this.size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== this.size) throw new Error(`tensor of shape [${shape}] needs ${this.size} values, got ${data.length}`);
  }
}

const d = (t: Tensor): Float32Array => (t as NaiveTensor).data;

export interface NaiveEngineOptions {
  /** Worker threads over the batch; 1 runs everything on the calling thread. */
  threads?: number;
}

export class NaiveCpuEngine implements Engine {
  readonly kind = 'cpu' as const;
  readonly description: string;

  constructor(readonly options: NaiveEngineOptions = {}) {
    this.description = 'cpu (naive scalar reference, 1 thread)';
  }

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    return new NaiveTensor([...shape], data ? Float32Array.from(data) : new Float32Array(size));
  }
  read(t: Tensor): Float32Array { return Float32Array.from(d(t)); }
  write(t: Tensor, data: Float32Array): void {
    if (data.length !== t.size) throw new Error(`write: tensor holds ${t.size} values, got ${data.length}`);
    d(t).set(data);
  }
  reshape(t: Tensor, shape: readonly number[]): Tensor { return new NaiveTensor([...shape], d(t)); }
  dispose(_t: Tensor): void { /* garbage collected */ }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const [N, , H, W] = x.shape, [O, , K] = w.shape;
    return new NaiveTensor([N, O, H - K + 1, W - K + 1], conv2d(d(x), x.shape, d(w), w.shape, d(b), act));
  }
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
    return new NaiveTensor([...xShape], conv2dBackwardInput(d(dy), d(w), xShape, w.shape));
  }
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor {
    return new NaiveTensor([...wShape], conv2dBackwardFilter(d(x), x.shape, d(dy), wShape));
  }
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const [N, I] = x.shape, O = w.shape[1];
    return new NaiveTensor([N, O], dense(d(x), d(w), d(b), N, I, O, act));
  }
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor {
    const [I, O] = w.shape, N = dy.shape[0];
    return new NaiveTensor([N, I], denseBackwardInput(d(dy), d(w), N, I, O));
  }
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor {
    const [N, I] = x.shape, O = dy.shape[1];
    return new NaiveTensor([I, O], denseBackwardWeight(d(x), d(dy), N, I, O));
  }
  biasGrad(dy: Tensor): Tensor { return new NaiveTensor([dy.shape[1]], biasGrad(d(dy), dy.shape)); }
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor {
    return new NaiveTensor(dy.shape, activationBackward(act, d(y), d(dy)));
  }
  maxPool(x: Tensor): Tensor {
    const [N, C, H, W] = x.shape;
    return new NaiveTensor([N, C, H >> 1, W >> 1], maxPool(d(x), x.shape));
  }
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor {
    return new NaiveTensor(x.shape, maxPoolBackward(d(x), x.shape, d(y), d(dy)));
  }
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    const [N, K] = logits.shape;
    const r = softmaxCrossEntropy(d(logits), d(labels), N, K);
    return { losses: new NaiveTensor([N], r.losses), dLogits: new NaiveTensor([N, K], r.dLogits) };
  }
  softmax(logits: Tensor): Tensor {
    const [N, K] = logits.shape;
    return new NaiveTensor([N, K], softmax(d(logits), N, K));
  }
  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void {
    sgdUpdate(d(w), d(g), v ? d(v) : null, opts);
  }
  flush(): void {}
  destroy(): void {}
}
