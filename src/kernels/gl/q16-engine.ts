// The vc4 profile's training step (issue 10 item 1): the Engine contract with activations and
// activation gradients in 16-bit storage on the GPU (q16.ts: two per RGBA8 texel, a per-tensor
// power-of-two step, stochastic rounding) and everything the host holds anyway in fp32 on the
// host: parameters (uploaded as exact fp32 uniforms every step, so the GPU copy would be redundant),
// weight and bias gradients (reduced on the GPU exactly, then read back), the SGD step, and the
// tiny softmax. LeNet (net/lenet.ts) drives it unchanged.
//
// Tensors are of two kinds: HostTensor (fp32 on the host: parameters, gradients of parameters,
// labels, images, losses) and Q16View (a q16 texture in channel-pair layout [N,C,H,W] viewed
// under a logical shape, so reshape is free). The conv->dense flatten needs no relayout pass:
// dense1 runs as a convolution whose kernel covers its whole [C,H,W] input, with the dense
// weights permuted to that kernel on the host (for NCHW order the permutation is a transpose).
// The engine remembers which input layout each dense weight saw, so that its input gradient is
// produced in that layout (the 4x4 planes the pooling gradient reads).
//
// Steps come from q16-store.ts (tracked max-abs with headroom; saturation redoes the store).
// Kernels: gl/q16/ (one file per op, index.ts lists them); an op with no 16-bit kernel yet runs
// the exact GL op (gl/engine.ts) on exact copies of its inputs and stores the result in q16
// (bridge() below).
import type { Activation, Engine, SgdOptions, Tensor } from '../engine';
import { softmax as softmaxHost, softmaxCrossEntropy as xentHost } from '../cpu/softmax_xent';
import { sgdUpdate as sgdHost } from '../cpu/sgd';
import { GlEngine, type GlEngineOptions } from './engine';
import { stepExponent } from './q16';
import {
  activationBackwardQ16, conv2dBackwardFilterQ16, conv2dBackwardInputQ16, conv2dQ16, denseBackwardInputQ16, disposeQ16,
  maxPoolBackwardQ16, maxPoolQ16, Q16Tensor, readQ16, reshapeQ16, toBatchPairs, toQ16, uploadQ16, weightGradQ16,
  type Q16Layout,
} from './q16/index';
import { StepTracker } from './q16-store';
import type { GlTensor } from './tensor';

export class HostTensor implements Tensor {
  readonly size: number;
  constructor(readonly shape: readonly number[], public data: Float32Array) {
    this.size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== this.size) throw new Error(`tensor of shape [${shape}] needs ${this.size} values, got ${data.length}`);
  }
}

export class Q16View implements Tensor {
  readonly size: number;
  disposed = false;
  /** An exact-packing copy made for an op that has no 16-bit kernel (odd channels); freed with the view. */
  exact?: GlTensor;
  /** Its bias gradient, when a weight-gradient pass over it computed one. */
  biasGrad?: Float32Array;
  constructor(readonly shape: readonly number[], readonly q: Q16Tensor) {
    this.size = shape.reduce((a, b) => a * b, 1);
    if (this.size !== q.size) throw new Error(`q16 view [${shape}] of a [${q.shape}] tensor changes the size`);
  }
}

export interface Q16EngineOptions extends GlEngineOptions {
  /** Doublings of room above a site's last max-abs (default 1). */
  headroom?: number;
  /** Seed of the host-side rounding (uploads); the GPU stores draw from a per-store seed. */
  seed?: number;
}

/** The tallest plane a LeNet step stacks per sample (the 28x28 image). */
const IMAGE_ROWS = 28;

const host = (t: Tensor): HostTensor => {
  if (!(t instanceof HostTensor)) throw new Error(`q16 engine: expected a host (fp32) tensor of shape [${t.shape}], got a 16-bit one`);
  return t;
};

export class Q16GlEngine implements Engine {
  readonly kind = 'gl' as const;
  readonly description: string;
  /** q16 tensors stack a batch's planes in one texture column: N·28 rows for the images. */
  readonly maxBatch: number;
  readonly tracker: StepTracker;
  /** The exact engine underneath: its context, program cache, texture pool and pass counters. */
  readonly gl: GlEngine;
  /** Ops that ran through an exact GL op for want of a 16-bit kernel, by name (counts). */
  readonly bridged = new Map<string, number>();
  private readonly denseIn = new WeakMap<HostTensor, readonly number[]>();
  /** The q16 copy of a host tensor an op read (the images: conv1 forward and its weight gradient). */
  private readonly uploads = new WeakMap<HostTensor, Map<Q16Layout, Q16Tensor>>();
  private storeSeed = 0;
  private s: number;

  static create(opts: Q16EngineOptions = {}): Q16GlEngine {
    return new Q16GlEngine(GlEngine.create({ gl: opts.gl, profile: 'vc4' }), opts);
  }

  constructor(gl: GlEngine, opts: Q16EngineOptions = {}) {
    this.gl = gl;
    this.tracker = new StepTracker(gl, opts.headroom ?? 1);
    this.s = (opts.seed ?? 1) >>> 0 || 1;
    this.description = `gl vc4 16-bit (${gl.renderer})`;
    this.maxBatch = Math.floor(gl.profile.maxTextureSide / IMAGE_ROWS);
  }

  get stats() { return this.gl.stats; }
  get profile() { return this.gl.profile; }
  get renderer(): string { return this.gl.renderer; }

  private rand = (): number => {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 2 ** 32;
  };

  /** A fresh seed for a GPU store's noise, so successive stores of a site draw different r. */
  nextSeed(): number { return (this.storeSeed = (this.storeSeed + 1) % 4096); }

  // --- q16 plumbing ---------------------------------------------------------------------------

  /** t as a q16 tensor. A host tensor is uploaded at the step its max-abs asks for, in `layout`
   *  if given (batch pairs: a weight gradient's operand), else in channel pairs, a one-channel
   *  image in x-pairs (conv1 needs no zero channel), other odd channel counts with a zero channel
   *  appended; a vector [N, I] as [N, I, 1, 1]. The upload is kept until the tensor is disposed. */
  q16(t: Tensor, layout?: Q16Layout): Q16Tensor {
    if (t instanceof Q16View) {
      if (t.disposed) throw new Error('q16 engine: tensor was disposed');
      return t.q;
    }
    const h = host(t);
    let shape: readonly number[] = h.shape.length === 4 ? h.shape : [h.shape[0], h.size / h.shape[0], 1, 1];
    const lay: Q16Layout = layout ?? (shape[1] === 1 ? 'x-pairs' : 'channel-pairs');
    let cache = this.uploads.get(h);
    const hit = cache?.get(lay);
    if (hit) return hit;
    let data = h.data;
    if (lay === 'channel-pairs' && shape[1] % 2) {
      const [N, C, H, W] = shape, plane = H * W;
      data = new Float32Array(N * (C + 1) * plane);
      for (let n = 0; n < N; n++) data.set(h.data.subarray(n * C * plane, (n + 1) * C * plane), n * (C + 1) * plane);
      shape = [N, C + 1, H, W];
    }
    let m = 0;
    for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
    const q = uploadQ16(this.gl, shape, data, stepExponent(m, 0), this.rand, lay).t;
    if (!cache) this.uploads.set(h, (cache = new Map()));
    cache.set(lay, q);
    return q;
  }

  /** Frees the uploads of a host tensor (disposed, or overwritten). */
  private dropUploads(h: HostTensor): void {
    const cache = this.uploads.get(h);
    if (!cache) return;
    this.uploads.delete(h);
    for (const q of cache.values()) disposeQ16(this.gl, q);
  }

  /** Exact-packing GL copy of any tensor (cached on a view). */
  exactOf(t: Tensor): GlTensor {
    if (t instanceof Q16View) return (t.exact ??= this.gl.tensor(t.shape, readQ16(this.gl, t.q).values) as GlTensor);
    return this.gl.tensor(t.shape, host(t).data) as GlTensor;
  }

  /** Frees what exactOf made for a host tensor (a view keeps its copy until disposed). */
  private dropExact(t: Tensor, x: GlTensor): void { if (!(t instanceof Q16View)) this.gl.dispose(x); }

  /** An exact GL op's result stored as q16 at the site's tracked step (odd channels stay fp32). */
  private bridge(name: string, inputs: Tensor[], op: (xs: GlTensor[]) => Tensor, layout: readonly number[], step?: number): Tensor {
    this.bridged.set(name, (this.bridged.get(name) ?? 0) + 1);
    const xs = inputs.map((t) => this.exactOf(t));
    const r = op(xs) as GlTensor;
    inputs.forEach((t, i) => this.dropExact(t, xs[i]));
    if (layout[1] % 2) {
      const out = new HostTensor(r.shape, this.gl.read(r));
      this.gl.dispose(r);
      return out;
    }
    const r4 = this.gl.reshape(r, layout) as GlTensor;
    const store = (e: number) => toQ16(this.gl, r4, e, this.nextSeed());
    const q = step === undefined ? this.tracker.store(`${name}[${layout}]`, store) : store(step);
    this.gl.dispose(r4);
    this.gl.dispose(r);
    return new Q16View(r.shape, q);
  }

  // --- Engine contract ------------------------------------------------------------------------

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    return new HostTensor([...shape], data ? Float32Array.from(data) : new Float32Array(size));
  }

  read(t: Tensor): Float32Array {
    if (t instanceof Q16View) {
      if (t.disposed) throw new Error('read: tensor was disposed');
      return readQ16(this.gl, t.q).values;
    }
    return Float32Array.from(host(t).data);
  }

  write(t: Tensor, data: Float32Array): void {
    const h = host(t);
    if (data.length !== h.size) throw new Error(`write: tensor holds ${h.size} values, got ${data.length}`);
    h.data.set(data);
    this.dropUploads(h);
  }

  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== t.size) throw new Error(`reshape: [${t.shape}] -> [${shape}] changes the size`);
    if (t instanceof Q16View) {
      t.q.ref.refs++;
      return new Q16View([...shape], new Q16Tensor(t.q.shape, t.q.e, t.q.ref));
    }
    return new HostTensor([...shape], host(t).data);
  }

  dispose(t: Tensor): void {
    if (t instanceof HostTensor) { this.dropUploads(t); return; }
    if (!(t instanceof Q16View) || t.disposed) return;
    t.disposed = true;
    try {
      disposeQ16(this.gl, t.q);
      if (t.exact) this.gl.dispose(t.exact);
    } catch { /* a lost context has nothing to free */ }
  }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const W = host(w), B = host(b), [O, C, K] = W.shape;
    const xq = this.q16(x);
    const [N, CX, H, WX] = xq.shape;
    const wq = CX === C ? W.data : padInputChannels(W.data, O, C, K);
    const wShape = [O, CX, K, K];
    const q = this.tracker.store(`conv2d:${act}[${wShape}|${xq.shape}]`, (e) => conv2dQ16(this.gl, xq, wq, wShape, B.data, act, e, this.nextSeed()));
    return new Q16View([N, O, H - K + 1, WX - K + 1], q);
  }

  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const W = host(w), B = host(b), [I, O] = W.shape;
    const xq = this.q16(x);
    const [N, C, H, WX] = xq.shape;
    if (H !== WX || C * H * WX !== I) throw new Error(`dense: input layout [${xq.shape}] does not match weights [${W.shape}]`);
    this.denseIn.set(W, xq.shape);
    // y[n,o] = Σ_i x[n,i]·W[i,o] with i = (c·H + h)·W + w: a convolution whose kernel [O, C, H, W]
    // is W transposed, over the input's own layout
    const wT = new Float32Array(I * O);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) wT[o * I + i] = W.data[i * O + o];
    const q = this.tracker.store(`dense:${act}[${W.shape}|${xq.shape}]`, (e) => conv2dQ16(this.gl, xq, wT, [O, C, H, H], B.data, act, e, this.nextSeed()));
    return new Q16View([N, O], q);
  }

  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
    const W = host(w);
    if (xShape[1] % 2) return this.bridge('conv2dBackwardInput', [dy, w], ([d, ww]) => this.gl.conv2dBackwardInput(d, ww, xShape), xShape);
    const dq = this.q16(dy);
    const q = this.tracker.store(`conv2dBackwardInput[${W.shape}|${xShape}]`, (e) => conv2dBackwardInputQ16(this.gl, dq, W.data, W.shape, xShape, e, this.nextSeed()));
    return new Q16View(xShape, q);
  }

  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor {
    // a host input (the images) goes up in batch pairs, the layout the weight gradient reads
    const xq = this.q16(x, x instanceof Q16View ? undefined : 'batch-pairs'), dq = this.q16(dy);
    const { dW, dB } = conv2dBackwardFilterQ16(this.gl, xq, dq, wShape);
    if (dy instanceof Q16View) dy.biasGrad = dB;
    return new HostTensor(wShape, dW);
  }

  denseBackwardInput(dy: Tensor, w: Tensor): Tensor {
    const W = host(w), [I] = W.shape, N = dy.shape[0];
    const layout = this.denseIn.get(W) ?? [N, I, 1, 1];
    if (layout[1] % 2) return this.bridge('denseBackwardInput', [dy, w], ([d, ww]) => this.gl.denseBackwardInput(d, ww), layout);
    const dq = this.q16(dy);
    let q = this.tracker.store(`denseBackwardInput[${W.shape}]`, (e) => denseBackwardInputQ16(this.gl, dq, W.data, W.shape, e, this.nextSeed()));
    if (layout[2] !== 1 || layout[3] !== 1) {
      // back to the planes the forward read (dense1's input is the pooled [N,50,4,4]): an exact
      // byte move; the forward needed none, its weights were permuted instead
      const flat = q;
      q = reshapeQ16(this.gl, flat, layout);
      disposeQ16(this.gl, flat);
    }
    return new Q16View([N, I], q);
  }

  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor {
    const xq = this.q16(x), dq = this.q16(dy);
    const [N, C, H, WX] = xq.shape, O = dy.size / N, I = C * H * WX;
    // over the input's own layout, as the forward: a convolution whose kernel is the whole input
    const { dW: dWt, dB } = conv2dBackwardFilterQ16(this.gl, xq, dq, [O, C, H, WX]);
    const dW = new Float32Array(I * O);
    for (let o = 0; o < O; o++) for (let i = 0; i < I; i++) dW[i * O + o] = dWt[o * I + i];
    if (dy instanceof Q16View) dy.biasGrad = dB;
    return new HostTensor([I, O], dW);
  }

  /** From the weight gradient's pass when it ran on the same dy (LeNet asks for it right after). */
  biasGrad(dy: Tensor): Tensor {
    const O = dy.shape[1];
    if (dy instanceof Q16View && dy.biasGrad) return new HostTensor([O], Float32Array.from(dy.biasGrad));
    const dq = this.q16(dy), dyb = toBatchPairs(this.gl, dq);
    const dB = Float32Array.from(weightGradQ16(this.gl, null, dyb, [O, 1, 1, 1]));
    disposeQ16(this.gl, dyb);
    return new HostTensor([O], dB);
  }

  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor {
    if (act === 'none') return this.reshape(dy, dy.shape);
    const yq = this.q16(y), dq = this.q16(dy);
    const q = this.tracker.store(`activationBackward:${act}[${dq.shape}]`, (e) => activationBackwardQ16(this.gl, act, yq, dq, e, this.nextSeed()));
    return new Q16View(dy.shape, q);
  }

  // pooling moves stored codes: exact, at the input's step, never saturating
  maxPool(x: Tensor): Tensor {
    const xq = this.q16(x), q = maxPoolQ16(this.gl, xq);
    return new Q16View(q.shape, q);
  }

  maxPoolBackward(x: Tensor, _y: Tensor, dy: Tensor): Tensor {
    const xq = this.q16(x), dq = this.q16(dy);
    const q = maxPoolBackwardQ16(this.gl, xq, dq);
    return new Q16View(x.shape, q);
  }

  /** The logits are 10 a sample: read back and taken exactly on the host; dLogits go up as q16. */
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    const [N, K] = logits.shape;
    const r = xentHost(this.read(logits), host(labels).data, N, K);
    let m = 0;
    for (let i = 0; i < r.dLogits.length; i++) m = Math.max(m, Math.abs(r.dLogits[i]));
    const q = uploadQ16(this.gl, [N, K, 1, 1], r.dLogits, stepExponent(m, 0), this.rand).t;
    return { losses: new HostTensor([N], r.losses), dLogits: new Q16View([N, K], q) };
  }

  softmax(logits: Tensor): Tensor {
    const [N, K] = logits.shape;
    return new HostTensor([N, K], softmaxHost(this.read(logits), N, K));
  }

  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void {
    sgdHost(host(w).data, host(g).data, v ? host(v).data : null, opts);
  }

  flush(): void { this.gl.flush(); }
  checkHealth(): void { this.gl.checkHealth(); }
  destroy(): void { this.gl.destroy(); }

}

/** Conv weights [O, C, K, K] with a zero input channel appended: [O, C + 1, K, K]. */
function padInputChannels(w: Float32Array, O: number, C: number, K: number): Float32Array {
  const out = new Float32Array(O * (C + 1) * K * K), plane = C * K * K;
  for (let o = 0; o < O; o++) out.set(w.subarray(o * plane, (o + 1) * plane), o * (plane + K * K));
  return out;
}
