// The vc4 16-bit storage (gl/q16.ts) emulated on any engine: every activation and activation
// gradient an op returns is rounded to q16 with stochastic rounding at a per-tensor step that
// follows the tensor's max-abs with headroom (a store that would saturate is redone at a larger
// step, as the GPU path does); weights, the SGD step and weight/bias gradients stay fp32, as in
// the GL design. It answers, on the CPU and in minutes, whether the format trains LeNet as well as
// fp32 (research gl-redesign.md §3: "emulate the quantisation first").
// GL: gl/q16/ (index.ts)  twin of: gl/q16.ts encode/decode  tests: test/kernels/q16-emulate.test.ts
import type { Activation, Engine, SgdOptions, Tensor } from './engine';
import { decode, encode, Q16_MAX, stepExponent } from './gl/q16';

export interface Q16Stats {
  /** Tensors rounded. */
  stores: number;
  /** Stores redone at a larger step because the tracked one would have saturated. */
  redos: number;
}

export class Q16Emulation implements Engine {
  readonly kind: 'cpu' | 'gl';
  readonly description: string;
  readonly stats: Q16Stats = { stores: 0, redos: 0 };
  private readonly steps = new Map<string, number>();
  private s: number;

  constructor(private readonly inner: Engine, private readonly headroom = 1, seed = 1) {
    this.kind = inner.kind;
    this.description = `${inner.description}, q16 storage emulated`;
    this.s = seed >>> 0 || 1;
  }

  private rand = (): number => {
    // xorshift32: cheap, and independent of the trainer's own streams
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 2 ** 32;
  };

  /** Rounds t in place to q16 at the step tracked for `site`, redoing at a larger step on saturation. */
  private store(site: string, t: Tensor): Tensor {
    const v = this.inner.read(t);
    let maxAbs = 0;
    for (let i = 0; i < v.length; i++) maxAbs = Math.max(maxAbs, Math.abs(v[i]));
    const key = `${site}[${t.shape}]`;
    let e = this.steps.get(key) ?? stepExponent(maxAbs, this.headroom);
    if (maxAbs > Q16_MAX * 2 ** e) { e = stepExponent(maxAbs, this.headroom); this.stats.redos++; }
    const { codes, saturated } = encode(v, e, this.rand);
    if (saturated) throw new Error(`q16 emulation: ${site} saturated at step 2^${e} after the redo`);
    this.inner.write(t, decode(codes, e));
    // the next step of this site starts from this one's max-abs (delayed scaling)
    this.steps.set(key, stepExponent(maxAbs, this.headroom));
    this.stats.stores++;
    return t;
  }

  tensor(shape: readonly number[], data?: Float32Array): Tensor { return this.inner.tensor(shape, data); }
  read(t: Tensor): Float32Array { return this.inner.read(t); }
  write(t: Tensor, data: Float32Array): void { this.inner.write(t, data); }
  reshape(t: Tensor, shape: readonly number[]): Tensor { return this.inner.reshape(t, shape); }
  dispose(t: Tensor): void { this.inner.dispose(t); }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor { return this.store('conv2d', this.inner.conv2d(x, w, b, act)); }
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
    return this.store('conv2dBackwardInput', this.inner.conv2dBackwardInput(dy, w, xShape));
  }
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor { return this.inner.conv2dBackwardFilter(x, dy, wShape); }
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor { return this.store('dense', this.inner.dense(x, w, b, act)); }
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor { return this.store('denseBackwardInput', this.inner.denseBackwardInput(dy, w)); }
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor { return this.inner.denseBackwardWeight(x, dy); }
  biasGrad(dy: Tensor): Tensor { return this.inner.biasGrad(dy); }
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor {
    return this.store('activationBackward', this.inner.activationBackward(act, y, dy));
  }
  // max-pooling picks stored values, so its output is already on the q16 grid
  maxPool(x: Tensor): Tensor { return this.inner.maxPool(x); }
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor { return this.inner.maxPoolBackward(x, y, dy); }
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    const r = this.inner.softmaxCrossEntropy(logits, labels);
    return { losses: r.losses, dLogits: this.store('dLogits', r.dLogits) };
  }
  softmax(logits: Tensor): Tensor { return this.inner.softmax(logits); }
  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void { this.inner.sgdUpdate(w, g, v, opts); }
  flush(): void { this.inner.flush(); }
  destroy(): void { this.inner.destroy(); }
}
