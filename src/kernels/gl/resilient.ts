// ResilientEngine: the Engine contract over the GL engine, with the CPU engine as the place to
// go when the GL context fails mid-training (context lost, a GL error, a program that stops
// building). Nothing learned is lost: every `snapshotEvery` steps it copies the live tensors
// (the parameters and velocities, at a step boundary) to the host, and logs each operation
// since as a closure over handles; on a GlFaultError it rebuilds the snapshot on the CPU,
// replays the log there, retries the failed call, and carries on on the CPU for good.
// A "step" is counted when a tensor is created from host data after an SGD update, which is
// how LeNet.step starts; callers that do otherwise still get correct (if less frequent) snapshots
// because snapshots are also taken on every host read of a parameter-like tensor.
import type { Activation, Engine, SgdOptions, Tensor } from '../engine';
import { GlFaultError } from './errors';

class RTensor implements Tensor {
  readonly size: number;
  disposed = false;
  constructor(readonly shape: readonly number[], public inner: Tensor) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
}

type Replay = (e: Engine) => void;

export interface ResilientOptions {
  snapshotEvery?: number;
  log?: (line: string) => void;
}

export class ResilientEngine implements Engine {
  private cur: Engine;
  private failed: string | null = null;
  private readonly live = new Set<RTensor>();
  private snapshot = new Map<RTensor, Float32Array>();
  private replay: Replay[] = [];
  private stepsSinceSnapshot = 0;
  private sgdSinceTensor = false;
  private readonly every: number;

  constructor(readonly primary: Engine, private readonly makeFallback: () => Engine, private readonly opts: ResilientOptions = {}) {
    this.cur = primary;
    this.every = Math.max(1, opts.snapshotEvery ?? 20);
  }

  get kind(): 'cpu' | 'gl' { return this.cur.kind; }
  get description(): string { return this.failed ? `${this.cur.description} (after GL fault)` : this.cur.description; }
  /** Why the run left the GL engine, or null while it is still on it. */
  get fault(): string | null { return this.failed; }
  get current(): Engine { return this.cur; }

  private takeSnapshot(): void {
    const snap = new Map<RTensor, Float32Array>();
    for (const t of this.live) snap.set(t, this.cur.read(t.inner));
    this.snapshot = snap;
    this.replay = [];
    this.stepsSinceSnapshot = 0;
  }

  private failover(e: GlFaultError): void {
    const cpu = this.makeFallback();
    const restored = new Set<RTensor>();
    for (const [t, data] of this.snapshot) { t.inner = cpu.tensor(t.shape, data); restored.add(t); }
    const n = this.replay.length;
    for (const r of this.replay) r(cpu);
    try { this.primary.destroy(); } catch { /* already broken */ }
    this.cur = cpu;
    this.failed = e.message;
    this.replay = [];
    this.opts.log?.(`GL fault (${e.message}): continuing on ${cpu.description} from the last snapshot plus ${n} replayed operations; nothing learned is lost`);
  }

  /** Runs `op` on the current engine; on a GL fault moves to the CPU and runs it there. */
  private guard<T>(op: (e: Engine) => T): T {
    try {
      return op(this.cur);
    } catch (e) {
      if (!(e instanceof GlFaultError) || this.failed) throw e;
      this.failover(e);
      return op(this.cur);
    }
  }

  private record(r: Replay): void {
    if (!this.failed) this.replay.push(r);
  }

  private wrap(shape: readonly number[], make: (e: Engine) => Tensor): Tensor {
    const t = new RTensor([...shape], null as unknown as Tensor);
    t.inner = this.guard(make);
    this.live.add(t);
    this.record((e) => { t.inner = make(e); });
    return t;
  }

  private static in(t: Tensor): Tensor { return (t as RTensor).inner; }

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    if (!this.failed && this.sgdSinceTensor && data) {
      this.sgdSinceTensor = false;
      if (++this.stepsSinceSnapshot >= this.every) this.guard(() => this.takeSnapshot());
    }
    const copy = data ? Float32Array.from(data) : undefined;
    return this.wrap(shape, (e) => e.tensor(shape, copy));
  }
  read(t: Tensor): Float32Array { return this.guard((e) => e.read(ResilientEngine.in(t))); }
  write(t: Tensor, data: Float32Array): void {
    const copy = Float32Array.from(data);
    this.guard((e) => e.write(ResilientEngine.in(t), copy));
    this.record((e) => e.write(ResilientEngine.in(t), copy));
  }
  reshape(t: Tensor, shape: readonly number[]): Tensor { return this.wrap(shape, (e) => e.reshape(ResilientEngine.in(t), shape)); }
  dispose(t: Tensor): void {
    const r = t as RTensor;
    if (r.disposed) return;
    r.disposed = true;
    this.live.delete(r);
    try { this.cur.dispose(r.inner); } catch { /* a broken context frees nothing */ }
    this.record((e) => e.dispose(r.inner));
  }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const [N, , H, W] = x.shape, [O, , K] = w.shape;
    return this.wrap([N, O, H - K + 1, W - K + 1], (e) => e.conv2d(ResilientEngine.in(x), ResilientEngine.in(w), ResilientEngine.in(b), act));
  }
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
    return this.wrap(xShape, (e) => e.conv2dBackwardInput(ResilientEngine.in(dy), ResilientEngine.in(w), xShape));
  }
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor {
    return this.wrap(wShape, (e) => e.conv2dBackwardFilter(ResilientEngine.in(x), ResilientEngine.in(dy), wShape));
  }
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    return this.wrap([x.shape[0], w.shape[1]], (e) => e.dense(ResilientEngine.in(x), ResilientEngine.in(w), ResilientEngine.in(b), act));
  }
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor {
    return this.wrap([dy.shape[0], w.shape[0]], (e) => e.denseBackwardInput(ResilientEngine.in(dy), ResilientEngine.in(w)));
  }
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor {
    return this.wrap([x.shape[1], dy.shape[1]], (e) => e.denseBackwardWeight(ResilientEngine.in(x), ResilientEngine.in(dy)));
  }
  biasGrad(dy: Tensor): Tensor { return this.wrap([dy.shape[1]], (e) => e.biasGrad(ResilientEngine.in(dy))); }
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor {
    return this.wrap(dy.shape, (e) => e.activationBackward(act, ResilientEngine.in(y), ResilientEngine.in(dy)));
  }
  maxPool(x: Tensor): Tensor {
    const [N, C, H, W] = x.shape;
    return this.wrap([N, C, H >> 1, W >> 1], (e) => e.maxPool(ResilientEngine.in(x)));
  }
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor {
    return this.wrap(x.shape, (e) => e.maxPoolBackward(ResilientEngine.in(x), ResilientEngine.in(y), ResilientEngine.in(dy)));
  }
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    const [N, K] = logits.shape;
    const losses = new RTensor([N], null as unknown as Tensor), dLogits = new RTensor([N, K], null as unknown as Tensor);
    const make = (e: Engine) => {
      const r = e.softmaxCrossEntropy(ResilientEngine.in(logits), ResilientEngine.in(labels));
      losses.inner = r.losses; dLogits.inner = r.dLogits;
    };
    this.guard(make);
    this.record(make);
    this.live.add(losses); this.live.add(dLogits);
    return { losses, dLogits };
  }
  softmax(logits: Tensor): Tensor { return this.wrap(logits.shape, (e) => e.softmax(ResilientEngine.in(logits))); }
  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, opts: SgdOptions): void {
    const o = { ...opts };
    const op = (e: Engine) => e.sgdUpdate(ResilientEngine.in(w), ResilientEngine.in(g), v ? ResilientEngine.in(v) : null, o);
    this.guard(op);
    this.record(op);
    this.sgdSinceTensor = true;
  }
  flush(): void { this.guard((e) => e.flush()); }
  destroy(): void { this.cur.destroy(); if (this.cur !== this.primary) try { this.primary.destroy(); } catch { /* */ } }
}
