// LeNet's forward pass, backward pass and SGD step, written once against the Engine contract so
// that it runs unchanged on the CPU and the GL engines. Parameters stay inside the engine (on the
// GPU for the GL engine) and are read back only through getParams().
import type { Activation, Engine, SgdOptions, Tensor } from '../kernels/engine';
import { CLASSES, IMAGE_SIDE, PARAM_COUNT, paramOffsets, sizeOf } from './spec';
import { mulberry32 } from '../util/rng';

// Re-exported: tests and benchmarks draw their random inputs from the same generator.
export { mulberry32 };

export interface StepResult {
  /** Mean cross-entropy of the batch. */
  loss: number;
}

export class LeNet {
  private readonly params: Tensor[];
  private readonly velocity: (Tensor | null)[];

  constructor(
    readonly engine: Engine,
    initial: Float32Array,
    readonly act: Activation = 'tanh',
    momentum = 0,
  ) {
    if (initial.length !== PARAM_COUNT) throw new Error(`LeNet needs ${PARAM_COUNT} parameters, got ${initial.length}`);
    this.params = paramOffsets().map((p) => engine.tensor(p.shape, initial.subarray(p.offset, p.offset + p.size)));
    this.velocity = this.params.map((p) => (momentum > 0 ? engine.tensor(p.shape) : null));
  }

  /** Into `out` when given: a gossip snapshot or a blend reads the parameters into a reused array. */
  getParams(out: Float32Array = new Float32Array(PARAM_COUNT)): Float32Array {
    if (out.length !== PARAM_COUNT) throw new Error(`getParams: need room for ${PARAM_COUNT} values, got ${out.length}`);
    for (const [i, p] of paramOffsets().entries()) {
      if (this.engine.readInto) this.engine.readInto(this.params[i], out.subarray(p.offset, p.offset + p.size));
      else out.set(this.engine.read(this.params[i]), p.offset);
    }
    return out;
  }

  setParams(flat: Float32Array): void {
    if (flat.length !== PARAM_COUNT) throw new Error(`setParams: need ${PARAM_COUNT} values, got ${flat.length}`);
    for (const [i, p] of paramOffsets().entries()) this.engine.write(this.params[i], flat.subarray(p.offset, p.offset + p.size));
  }

  /** The momentum buffers (flat, PARAMS order), or null when training without momentum. */
  getVelocity(): Float32Array | null {
    if (this.velocity.every((v) => v === null)) return null;
    const out = new Float32Array(PARAM_COUNT);
    for (const [i, p] of paramOffsets().entries()) {
      const v = this.velocity[i];
      if (v) out.set(this.engine.read(v), p.offset);
    }
    return out;
  }

  /** Restores momentum buffers (a resumed run); ignored when this network has none. */
  setVelocity(flat: Float32Array): void {
    if (flat.length !== PARAM_COUNT) throw new Error(`setVelocity: need ${PARAM_COUNT} values, got ${flat.length}`);
    for (const [i, p] of paramOffsets().entries()) {
      const v = this.velocity[i];
      if (v) this.engine.write(v, flat.subarray(p.offset, p.offset + p.size));
    }
  }

  /** Zeroes the momentum buffers: after adopting someone else's parameters our velocity is stale. */
  resetMomentum(): void {
    for (const [i, p] of paramOffsets().entries()) {
      const v = this.velocity[i];
      if (v) this.engine.write(v, new Float32Array(p.size));
    }
  }

  /** images: N×784 floats in [0,1]; returns logits [N,10] (engine tensor) and the activations backward needs. */
  private forward(x0: Tensor) {
    const e = this.engine, [w1, b1, w2, b2, w3, b3, w4, b4] = this.params;
    const N = x0.shape[0];
    const a1 = e.conv2d(x0, w1, b1, this.act); //        [N,20,24,24]
    const p1 = e.maxPool(a1); //                          [N,20,12,12]
    const a2 = e.conv2d(p1, w2, b2, this.act); //        [N,50,8,8]
    const p2 = e.maxPool(a2); //                          [N,50,4,4]
    const f = e.reshape(p2, [N, 800]);
    const a3 = e.dense(f, w3, b3, this.act); //          [N,500]
    const z = e.dense(a3, w4, b4, 'none'); //            [N,10]
    return { x0, a1, p1, a2, p2, f, a3, z };
  }

  /** One SGD step on a batch; images N×784 in [0,1], labels N class indices. */
  step(images: Float32Array, labels: ArrayLike<number>, sgd: SgdOptions): StepResult {
    const e = this.engine;
    const { loss, grads, temps } = this.backward(images, labels);
    for (let i = 0; i < grads.length; i++) e.sgdUpdate(this.params[i], grads[i], this.velocity[i], sgd);
    for (const tt of [...temps, ...grads]) e.dispose(tt);
    return { loss };
  }

  /** The gradient of the batch's mean loss, flat in PARAMS order; parameters are left unchanged. */
  gradients(images: Float32Array, labels: ArrayLike<number>): Float32Array {
    const e = this.engine;
    const { grads, temps } = this.backward(images, labels);
    const out = new Float32Array(PARAM_COUNT);
    for (const [i, p] of paramOffsets().entries()) out.set(e.read(grads[i]), p.offset);
    for (const tt of [...temps, ...grads]) e.dispose(tt);
    return out;
  }

  /** Forward and backward pass; the caller disposes temps and grads. */
  private backward(images: Float32Array, labels: ArrayLike<number>): { loss: number; grads: Tensor[]; temps: Tensor[] } {
    const e = this.engine;
    const N = labels.length;
    const x0 = e.tensor([N, 1, IMAGE_SIDE, IMAGE_SIDE], images);
    const t = e.tensor([N, CLASSES], oneHot(labels));
    const s = this.forward(x0);
    const { losses, dLogits } = e.softmaxCrossEntropy(s.z, t);
    const [, , w2, , w3, , w4] = this.params;

    const dW4 = e.denseBackwardWeight(s.a3, dLogits), dB4 = e.biasGrad(dLogits);
    const dA3 = e.denseBackwardInput(dLogits, w4);
    const dZ3 = e.activationBackward(this.act, s.a3, dA3);
    const dW3 = e.denseBackwardWeight(s.f, dZ3), dB3 = e.biasGrad(dZ3);
    const dF = e.denseBackwardInput(dZ3, w3);
    const dP2 = e.reshape(dF, s.p2.shape);
    const dA2 = e.maxPoolBackward(s.a2, s.p2, dP2);
    const dZ2 = e.activationBackward(this.act, s.a2, dA2);
    const dW2 = e.conv2dBackwardFilter(s.p1, dZ2, w2.shape), dB2 = e.biasGrad(dZ2);
    const dP1 = e.conv2dBackwardInput(dZ2, w2, s.p1.shape);
    const dA1 = e.maxPoolBackward(s.a1, s.p1, dP1);
    const dZ1 = e.activationBackward(this.act, s.a1, dA1);
    const dW1 = e.conv2dBackwardFilter(s.x0, dZ1, this.params[0].shape), dB1 = e.biasGrad(dZ1);

    const l = e.read(losses);
    let loss = 0;
    for (let i = 0; i < N; i++) loss += l[i];
    return {
      loss: loss / N,
      grads: [dW1, dB1, dW2, dB2, dW3, dB3, dW4, dB4],
      temps: [x0, t, s.a1, s.p1, s.a2, s.p2, s.f, s.a3, s.z, losses, dLogits, dA3, dZ3, dF, dP2, dA2, dZ2, dP1, dA1, dZ1],
    };
  }

  /** Class probabilities [N,10] for images N×784. */
  predict(images: Float32Array, n: number): Float32Array {
    const e = this.engine;
    const x0 = e.tensor([n, 1, IMAGE_SIDE, IMAGE_SIDE], images);
    const s = this.forward(x0);
    const p = e.softmax(s.z);
    const out = e.read(p);
    for (const tt of [x0, s.a1, s.p1, s.a2, s.p2, s.f, s.a3, s.z, p]) e.dispose(tt);
    return out;
  }

  destroy(): void {
    for (const t of [...this.params, ...this.velocity]) if (t) this.engine.dispose(t);
  }
}

export function oneHot(labels: ArrayLike<number>): Float32Array {
  const t = new Float32Array(labels.length * CLASSES);
  for (let i = 0; i < labels.length; i++) t[i * CLASSES + labels[i]] = 1;
  return t;
}

/** Xavier-uniform weights (fan_in + fan_out), zero biases, from a seeded generator. */
export function initParams(seed: number): Float32Array {
  const rnd = mulberry32(seed);
  const out = new Float32Array(PARAM_COUNT);
  for (const p of paramOffsets()) {
    if (p.shape.length === 1) continue;
    const fanIn = p.shape.length === 4 ? sizeOf(p.shape.slice(1)) : p.shape[0];
    const fanOut = p.shape.length === 4 ? p.shape[0] * p.shape[2] * p.shape[3] : p.shape[1];
    const lim = Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < p.size; i++) out[p.offset + i] = (rnd() * 2 - 1) * lim;
  }
  return out;
}
