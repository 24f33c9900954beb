// The fast CPU engine. The matrix products (convolutions as im2col + gemm, dense layers) run in
// hand-written WebAssembly SIMD (kernels.wat) on tensors that live in one shared WebAssembly
// memory, handed out by a size-bucketed arena so that a training step reuses the previous step's
// blocks instead of making garbage. With threads > 1 a pool of worker_threads splits each big op
// over the batch (or over rows) on that same memory; the cheap elementwise ops (pooling, bias
// gradients, activation gradients, SGD) run in the same module on the calling thread, and only
// the tiny softmax stays in JavaScript. Where WebAssembly SIMD is not available the same kernels
// run as plain JavaScript (kernels.ts), and the description says so.
// The naive scalar twins (naive-engine.ts) remain the reference this engine is tested against.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Activation, Engine, SgdOptions, Tensor } from '../engine';
import { jsKernels, wasmKernels, wasmModule, type Kernels } from './kernels';
import { softmax as softmaxF64, softmaxCrossEntropy as softmaxCrossEntropyF64 } from './softmax_xent';
import { Wasm, type WasmMemory, type WasmModule } from './wasm-api';
import {
  MAX_ARGS, OP_CONV_BWD_FILTER, OP_CONV_BWD_INPUT, OP_CONV_FWD, OP_DENSE_BWD_INPUT, OP_DENSE_BWD_WEIGHT,
  OP_DENSE_FWD, OP_STOP, packArgs, runShare,
} from './ops';
import { CTRL_ARGS, CTRL_DONE, CTRL_ERROR, CTRL_GEN, CTRL_INTS, CTRL_READY, type WorkerInit } from './pool-protocol';

export interface CpuEngineOptions {
  /** Threads over the batch (the calling thread plus threads-1 workers); default 1. */
  threads?: number;
  /** Which kernels: the SIMD WebAssembly module when it runs here (default) or plain JavaScript. */
  kernels?: 'auto' | 'js';
}

const PAGE = 65536;
const ACT: Record<Activation, number> = { none: 0, tanh: 1, relu: 2 };

/** Blocks of a shared WebAssembly memory, recycled by size; reference-counted for reshape(). */
class Arena {
  readonly memory: WasmMemory;
  private top = 64; // 0 stays unused so that no live block has address 0
  private readonly free = new Map<number, number[]>();
  private readonly refs = new Map<number, { bytes: number; count: number }>();
  private view: Float32Array<ArrayBuffer | SharedArrayBuffer> = new Float32Array(0);

  constructor() {
    // Shared memory reserves its maximum address space up front. A 32-bit process (Raspberry Pi
    // OS armhf) has 3 GB of address space for everything, so it reserves at most 256 MB (LeNet
    // training at batch 64 uses about 20 MB); 64-bit ones up to 1 GB. Less if refused.
    const is32 = ['arm', 'ia32', 'mips', 'mipsel', 'ppc'].includes(process.arch);
    let mem: WasmMemory | null = null;
    for (const maximum of is32 ? [4096, 2048, 1024] : [16384, 8192, 4096, 2048, 1024]) {
      try { mem = new Wasm.Memory({ initial: 64, maximum, shared: true }); break; } catch { /* smaller */ }
    }
    if (!mem) throw new Error('cpu engine: cannot reserve a shared WebAssembly memory');
    this.memory = mem;
  }

  f32(): Float32Array<ArrayBuffer | SharedArrayBuffer> {
    if (this.view.length * 4 !== this.memory.buffer.byteLength) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** A block of at least `floats` floats, zero-filled unless the caller overwrites all of it. */
  alloc(floats: number, zero = true): number {
    const bytes = Math.max(64, Math.ceil((floats * 4) / 64) * 64);
    const list = this.free.get(bytes);
    let ptr = list && list.length ? list.pop()! : 0;
    if (!ptr) {
      ptr = this.top;
      const end = ptr + bytes;
      const have = this.memory.buffer.byteLength;
      if (end > have) {
        try { this.memory.grow(Math.ceil((end - have) / PAGE)); }
        catch { throw new Error(`cpu engine: out of memory (needed ${(end / 1048576).toFixed(0)} MB of WebAssembly memory)`); }
      }
      this.top = end;
    }
    this.refs.set(ptr, { bytes, count: 1 });
    if (zero) this.f32().fill(0, ptr >> 2, (ptr + bytes) >> 2);
    return ptr;
  }
  retain(ptr: number): void { this.refs.get(ptr)!.count++; }
  release(ptr: number): void {
    const r = this.refs.get(ptr);
    if (!r) return;
    if (--r.count > 0) return;
    this.refs.delete(ptr);
    let list = this.free.get(r.bytes);
    if (!list) this.free.set(r.bytes, (list = []));
    list.push(ptr);
  }
  get highWater(): number { return this.top; }
}

export class CpuTensor implements Tensor {
  readonly size: number;
  disposed = false;
  constructor(readonly shape: readonly number[], readonly ptr: number, private readonly arena: Arena) {
    this.size = shape.reduce((a, b) => a * b, 1);
  }
  /** A view of the tensor's floats in the engine's memory (valid until the next allocation). */
  get data(): Float32Array<ArrayBuffer | SharedArrayBuffer> {
    return this.arena.f32().subarray(this.ptr >> 2, (this.ptr >> 2) + this.size);
  }
}

/** Finds the worker entry beside the running module: worker.cjs in a bundle, worker.ts under tsx. */
function workerSpec(): { file: string; eval: boolean } {
  const cjs = path.join(__dirname, 'worker.cjs');
  if (fs.existsSync(cjs)) return { file: cjs, eval: false };
  const ts = path.join(__dirname, 'worker.ts');
  if (fs.existsSync(ts)) {
    // A worker does not inherit a require hook registered at run time (bin/vctrain.cjs registers
    // tsx that way), so the worker registers tsx itself before loading the TypeScript entry.
    return { file: `require('tsx/cjs/api').register(); require(${JSON.stringify(ts)});`, eval: true };
  }
  throw new Error(`cpu engine: no worker entry beside ${__dirname} (worker.cjs or worker.ts)`);
}

/** The worker threads and the control block through which the main thread hands out shares. */
class Pool {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CTRL_INTS * 4));
  private readonly workers: Worker[] = [];

  constructor(module: WasmModule | null, memory: WasmMemory, readonly threads: number) {
    const spec = workerSpec();
    for (let i = 1; i < threads; i++) {
      const workerData: WorkerInit = { module, memory, ctrl: this.ctrl.buffer as SharedArrayBuffer, index: i, threads };
      const w = new Worker(spec.file, { eval: spec.eval, workerData });
      w.unref();
      w.on('error', () => Atomics.store(this.ctrl, CTRL_ERROR, 1));
      this.workers.push(w);
    }
    // Workers start on their own threads; wait (bounded) until every one is listening.
    const deadline = Date.now() + 60000;
    for (;;) {
      const ready = Atomics.load(this.ctrl, CTRL_READY);
      if (ready >= threads - 1) break;
      if (Atomics.load(this.ctrl, CTRL_ERROR) || Date.now() > deadline) {
        this.destroy();
        throw new Error(`cpu engine: ${threads - 1 - ready} of ${threads - 1} worker threads did not start`);
      }
      Atomics.wait(this.ctrl, CTRL_READY, ready, 100);
    }
  }

  /** Runs the op on every thread (this one included) and returns when all shares are done. */
  run(k: Kernels, args: number[]): void {
    const c = this.ctrl;
    for (let i = 0; i < MAX_ARGS; i++) c[CTRL_ARGS + i] = args[i] ?? 0;
    Atomics.store(c, CTRL_DONE, 0);
    Atomics.add(c, CTRL_GEN, 1);
    Atomics.notify(c, CTRL_GEN);
    runShare(k, args, 0, this.threads);
    for (;;) {
      const d = Atomics.load(c, CTRL_DONE);
      if (d >= this.threads - 1) break;
      if (Atomics.wait(c, CTRL_DONE, d, 30000) === 'timed-out') throw new Error('cpu engine: a worker thread stopped answering');
    }
    if (Atomics.load(c, CTRL_ERROR)) throw new Error('cpu engine: a worker thread failed');
  }

  destroy(): void {
    const c = this.ctrl;
    c[CTRL_ARGS] = OP_STOP;
    Atomics.add(c, CTRL_GEN, 1);
    Atomics.notify(c, CTRL_GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }
}

export class CpuEngine implements Engine {
  readonly kind = 'cpu' as const;
  readonly description: string;
  readonly threads: number;
  private readonly arena = new Arena();
  private readonly k: Kernels;
  private readonly pool: Pool | null;
  private readonly leaked = new FinalizationRegistry<number>((ptr) => this.arena.release(ptr));

  constructor(readonly options: CpuEngineOptions = {}) {
    const want = Math.max(1, Math.floor(options.threads ?? 1));
    const module = options.kernels === 'js' ? null : wasmModule();
    this.k = module ? wasmKernels(module, this.arena.memory) : jsKernels(this.arena.memory);
    let pool: Pool | null = null, note = '';
    if (want > 1) {
      // Without workers the engine still trains, on one thread; the description says why.
      try { pool = new Pool(module, this.arena.memory, want); }
      catch (e) { note = `; ${want} threads asked, workers unavailable: ${(e as Error).message}`; }
    }
    this.pool = pool;
    this.threads = pool ? want : 1;
    const what = module ? 'wasm-simd' : options.kernels === 'js' ? 'js kernels' : 'js kernels: WebAssembly SIMD unavailable';
    this.description = `cpu (${what}, ${this.threads} thread${this.threads > 1 ? 's' : ''}${note})`;
  }

  /** Bytes of WebAssembly memory in use at the high-water mark (tensors and scratch). */
  get memoryBytes(): number { return this.arena.highWater; }

  /** A tensor over a new block (zeroed unless `zero` is false: the op writes every element). */
  private make(shape: readonly number[], ptr?: number, zero = true): CpuTensor {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = new CpuTensor([...shape], ptr ?? this.arena.alloc(size, zero), this.arena);
    this.leaked.register(t, t.ptr, t);
    return t;
  }
  private run(args: number[]): void {
    if (this.pool) this.pool.run(this.k, args);
    else runShare(this.k, args, 0, 1);
  }
  private scratch(floatsPerThread: number): { base: number; stride: number } {
    const stride = Math.ceil((floatsPerThread * 4) / 64) * 64;
    return { base: this.arena.alloc((stride / 4) * this.threads, false), stride };
  }

  tensor(shape: readonly number[], data?: Float32Array): Tensor {
    const t = this.make(shape, undefined, !data);
    if (data) {
      if (data.length !== t.size) throw new Error(`tensor of shape [${shape}] needs ${t.size} values, got ${data.length}`);
      t.data.set(data);
    }
    return t;
  }
  read(t: Tensor): Float32Array { return (t as CpuTensor).data.slice(); }
  readInto(t: Tensor, out: Float32Array): void { out.set((t as CpuTensor).data); }
  write(t: Tensor, data: Float32Array): void {
    if (data.length !== t.size) throw new Error(`write: tensor holds ${t.size} values, got ${data.length}`);
    (t as CpuTensor).data.set(data);
  }
  reshape(t: Tensor, shape: readonly number[]): Tensor {
    const src = t as CpuTensor;
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== src.size) throw new Error(`reshape: [${src.shape}] has ${src.size} values, [${shape}] needs ${size}`);
    this.arena.retain(src.ptr);
    return this.make(shape, src.ptr);
  }
  dispose(t: Tensor): void {
    const c = t as CpuTensor;
    if (c.disposed) return;
    c.disposed = true;
    this.leaked.unregister(c);
    this.arena.release(c.ptr);
  }

  conv2d(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const [N, C, H, W] = x.shape, [O, , K] = w.shape;
    const P = H - K + 1, Q = W - K + 1;
    const y = this.make([N, O, P, Q], undefined, false);
    const s = this.scratch(C * K * K * P * Q);
    this.run(packArgs(OP_CONV_FWD, { total: N, scratch: s.base, scratchStride: s.stride },
      { x: p(x), C, H, W, K, w: p(w), b: p(b), O, y: y.ptr, act: ACT[act] }));
    this.arena.release(s.base);
    return y;
  }
  conv2dBackwardInput(dy: Tensor, w: Tensor, xShape: readonly number[]): Tensor {
    const [N, C, H, W] = xShape, [O, , K] = w.shape;
    const dx = this.make(xShape);
    const s = this.scratch(C * K * K * (H - K + 1) * (W - K + 1));
    this.run(packArgs(OP_CONV_BWD_INPUT, { total: N, scratch: s.base, scratchStride: s.stride },
      { dy: p(dy), w: p(w), O, C, H, W, K, dx: dx.ptr }));
    this.arena.release(s.base);
    return dx;
  }
  conv2dBackwardFilter(x: Tensor, dy: Tensor, wShape: readonly number[]): Tensor {
    const [N, C, H, W] = x.shape, [O, , K] = wShape;
    const CKK = C * K * K;
    const dw = this.make(wShape);
    const s = this.scratch(CKK * (H - K + 1) * (W - K + 1));
    const partials = this.threads > 1 ? this.arena.alloc(O * CKK * (this.threads - 1)) : 0;
    this.run(packArgs(OP_CONV_BWD_FILTER, { total: N, scratch: s.base, scratchStride: s.stride },
      { x: p(x), dy: p(dy), C, H, W, K, O, dw: dw.ptr, partials }));
    for (let t = 1; t < this.threads; t++) this.k.add_into(dw.ptr, partials + (t - 1) * O * CKK * 4, O * CKK);
    if (partials) this.arena.release(partials);
    this.arena.release(s.base);
    return dw;
  }
  dense(x: Tensor, w: Tensor, b: Tensor, act: Activation): Tensor {
    const [N, I] = x.shape, O = w.shape[1];
    const y = this.make([N, O], undefined, false);
    this.run(packArgs(OP_DENSE_FWD, { total: N }, { x: p(x), w: p(w), b: p(b), I, O, y: y.ptr, act: ACT[act] }));
    return y;
  }
  denseBackwardInput(dy: Tensor, w: Tensor): Tensor {
    const [I, O] = w.shape, N = dy.shape[0];
    const dx = this.make([N, I], undefined, false);
    const wT = this.arena.alloc(I * O, false);
    this.k.transpose(p(w), I, O, wT);
    this.run(packArgs(OP_DENSE_BWD_INPUT, { total: N }, { dy: p(dy), wT, O, I, dx: dx.ptr }));
    this.arena.release(wT);
    return dx;
  }
  denseBackwardWeight(x: Tensor, dy: Tensor): Tensor {
    const [N, I] = x.shape, O = dy.shape[1];
    const dw = this.make([I, O], undefined, false);
    this.run(packArgs(OP_DENSE_BWD_WEIGHT, { total: I }, { x: p(x), dy: p(dy), N, I, O, dw: dw.ptr }));
    return dw;
  }

  biasGrad(dy: Tensor): Tensor {
    const [N, O] = dy.shape;
    const out = this.make([O]);
    this.k.bias_grad(p(dy), N, O, dy.size / (N * O), out.ptr);
    return out;
  }
  activationBackward(act: Activation, y: Tensor, dy: Tensor): Tensor {
    const dx = this.make(dy.shape, undefined, false);
    if (act === 'none') dx.data.set((dy as CpuTensor).data);
    else this.k.act_backward(ACT[act], p(y), p(dy), dx.ptr, dy.size);
    return dx;
  }
  maxPool(x: Tensor): Tensor {
    const [N, C, H, W] = x.shape;
    const out = this.make([N, C, H >> 1, W >> 1], undefined, false);
    this.k.maxpool(p(x), N * C, H, W, out.ptr);
    return out;
  }
  maxPoolBackward(x: Tensor, y: Tensor, dy: Tensor): Tensor {
    const [N, C, H, W] = x.shape;
    // every element of an even-sided input is written; an odd last row or column stays zero
    const out = this.make(x.shape, undefined, H % 2 === 1 || W % 2 === 1);
    this.k.maxpool_backward(p(x), p(y), p(dy), N * C, H, W, out.ptr);
    return out;
  }
  // The tiny softmax stays in JavaScript: the twin's own functions, in float64.
  softmaxCrossEntropy(logits: Tensor, labels: Tensor): { losses: Tensor; dLogits: Tensor } {
    const [N, K] = logits.shape;
    const r = softmaxCrossEntropyF64((logits as CpuTensor).data, (labels as CpuTensor).data, N, K);
    const losses = this.make([N], undefined, false), dLogits = this.make([N, K], undefined, false);
    losses.data.set(r.losses);
    dLogits.data.set(r.dLogits);
    return { losses, dLogits };
  }
  softmax(logits: Tensor): Tensor {
    const [N, K] = logits.shape;
    const out = this.make([N, K], undefined, false);
    out.data.set(softmaxF64((logits as CpuTensor).data, N, K));
    return out;
  }
  sgdUpdate(w: Tensor, g: Tensor, v: Tensor | null, o: SgdOptions): void {
    const hasV = o.momentum > 0 && v !== null;
    this.k.sgd(p(w), p(g), hasV ? p(v!) : 0, w.size, hasV ? 1 : 0, o.lr, o.momentum, o.weightDecay);
  }
  flush(): void {}
  destroy(): void { this.pool?.destroy(); }
}

const p = (t: Tensor): number => (t as CpuTensor).ptr;
