// The CPU engine's low-level kernels behind one interface with two implementations: the
// hand-written WebAssembly SIMD module (kernels.wat, compiled by scripts/build-wasm.mjs) and a
// plain-JavaScript port of the same functions for a Node whose WebAssembly lacks SIMD. Both work
// on one shared WebAssembly.Memory with byte pointers, so the engine above and the worker threads
// do not care which one runs. Semantics of each function: see kernels.wat.
import { WASM_BASE64 } from './kernels.generated';
import { Wasm, type WasmMemory, type WasmModule } from './wasm-api';

export interface Kernels {
  readonly kind: 'wasm-simd' | 'js';
  gemm(a: number, sai: number, sak: number, b: number, ldb: number, c: number, ldc: number, M: number, N: number, K: number, acc: number): void;
  bias_act(y: number, M: number, N: number, bias: number, perRow: number, act: number): void;
  im2col(x: number, C: number, H: number, W: number, K: number, cols: number): void;
  im2colT(x: number, C: number, H: number, W: number, K: number, colsT: number): void;
  col2im(dcols: number, C: number, H: number, W: number, K: number, dx: number): void;
  transpose(src: number, R: number, C: number, dst: number): void;
  add_into(dst: number, src: number, n: number): void;
  act_backward(act: number, y: number, dy: number, dx: number, n: number): void;
  maxpool(x: number, NC: number, H: number, W: number, y: number): void;
  maxpool_backward(x: number, y: number, dy: number, NC: number, H: number, W: number, dx: number): void;
  bias_grad(dy: number, N: number, O: number, inner: number, db: number): void;
  sgd(w: number, g: number, v: number, n: number, hasV: number, lr: number, m: number, wd: number): void;
}

let moduleCache: WasmModule | null | undefined;
/** The compiled SIMD module, or null when this WebAssembly cannot run it. */
export function wasmModule(): WasmModule | null {
  if (moduleCache !== undefined) return moduleCache;
  const bytes = Buffer.from(WASM_BASE64, 'base64');
  try {
    moduleCache = Wasm.validate(bytes) ? new Wasm.Module(bytes) : null;
  } catch {
    moduleCache = null;
  }
  return moduleCache;
}

export function wasmKernels(module: WasmModule, memory: WasmMemory): Kernels {
  const inst = new Wasm.Instance(module, { env: { mem: memory } });
  const e = inst.exports as unknown as Omit<Kernels, 'kind'>;
  return {
    kind: 'wasm-simd',
    gemm: e.gemm, bias_act: e.bias_act, im2col: e.im2col, im2colT: e.im2colT, col2im: e.col2im,
    transpose: e.transpose, add_into: e.add_into, act_backward: e.act_backward,
    maxpool: e.maxpool, maxpool_backward: e.maxpool_backward, bias_grad: e.bias_grad, sgd: e.sgd,
  };
}

/** The same functions in plain JavaScript over the same memory (pointers in bytes, /4 to index). */
export function jsKernels(memory: WasmMemory): Kernels {
  let f = new Float32Array(memory.buffer);
  // the memory can grow under us (from any thread); take a fresh view when it has
  const heap = (): Float32Array => {
    if (f.length * 4 !== memory.buffer.byteLength) f = new Float32Array(memory.buffer);
    return f;
  };
  return {
    kind: 'js',
    gemm(a, sai, sak, b, ldb, c, ldc, M, N, K, acc) {
      const h = heap();
      a >>= 2; sai >>= 2; sak >>= 2; b >>= 2; ldb >>= 2; c >>= 2; ldc >>= 2;
      for (let i = 0; i < M; i++) {
        const ci = c + i * ldc;
        if (!acc) h.fill(0, ci, ci + N);
        for (let k = 0; k < K; k++) {
          const av = h[a + i * sai + k * sak], bk = b + k * ldb;
          for (let j = 0; j < N; j++) h[ci + j] += av * h[bk + j];
        }
      }
    },
    bias_act(y, M, N, bias, perRow, act) {
      const h = heap();
      y >>= 2; bias >>= 2;
      for (let i = 0; i < M; i++)
        for (let j = 0; j < N; j++) {
          const p = y + i * N + j;
          const v = h[p] + h[bias + (perRow ? i : j)];
          h[p] = act === 1 ? Math.tanh(v) : act === 2 ? (v > 0 ? v : 0) : v;
        }
    },
    im2col(x, C, H, W, K, cols) {
      const h = heap();
      x >>= 2; let d = cols >> 2;
      const P = H - K + 1, Q = W - K + 1;
      for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) for (let p = 0; p < P; p++) {
        const s = x + (c * H + p + i) * W + j;
        for (let q = 0; q < Q; q++) h[d++] = h[s + q];
      }
    },
    im2colT(x, C, H, W, K, colsT) {
      const h = heap();
      x >>= 2; let d = colsT >> 2;
      const P = H - K + 1, Q = W - K + 1;
      for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) {
        const s = x + (c * H + p + i) * W + q;
        for (let j = 0; j < K; j++) h[d++] = h[s + j];
      }
    },
    col2im(dcols, C, H, W, K, dx) {
      const h = heap();
      dx >>= 2; let s = dcols >> 2;
      const P = H - K + 1, Q = W - K + 1;
      for (let c = 0; c < C; c++) for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) for (let p = 0; p < P; p++) {
        const d = dx + (c * H + p + i) * W + j;
        for (let q = 0; q < Q; q++) h[d + q] += h[s++];
      }
    },
    transpose(src, R, C, dst) {
      const h = heap();
      src >>= 2; dst >>= 2;
      for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) h[dst + c * R + r] = h[src + r * C + c];
    },
    add_into(dst, src, n) {
      const h = heap();
      dst >>= 2; src >>= 2;
      for (let i = 0; i < n; i++) h[dst + i] += h[src + i];
    },
    act_backward(act, y, dy, dx, n) {
      const h = heap();
      y >>= 2; dy >>= 2; dx >>= 2;
      if (act === 1) for (let i = 0; i < n; i++) { const v = h[y + i]; h[dx + i] = h[dy + i] * (1 - v * v); }
      else for (let i = 0; i < n; i++) h[dx + i] = h[y + i] > 0 ? h[dy + i] : 0;
    },
      maxpool(x, NC, H, W, y) {
      const h = heap();
      x >>= 2; y >>= 2;
      for (let nc = 0; nc < NC; nc++) for (let p = 0; p < H >> 1; p++) {
        let i = x + nc * H * W + 2 * p * W;
        for (let q = 0; q < W >> 1; q++, i += 2) h[y++] = Math.max(Math.max(h[i], h[i + 1]), Math.max(h[i + W], h[i + W + 1]));
      }
    },
    maxpool_backward(x, y, dy, NC, H, W, dx) {
      const h = heap();
      x >>= 2; y >>= 2; dy >>= 2; dx >>= 2;
      for (let nc = 0; nc < NC; nc++) for (let p = 0; p < H >> 1; p++) {
        let i = nc * H * W + 2 * p * W;
        for (let q = 0; q < W >> 1; q++, i += 2) {
          const m = h[y++];
          const at = h[x + i] === m ? i : h[x + i + 1] === m ? i + 1 : h[x + i + W] === m ? i + W : i + W + 1;
          h[dx + i] = h[dx + i + 1] = h[dx + i + W] = h[dx + i + W + 1] = 0;
          h[dx + at] = h[dy++];
        }
      }
    },
    bias_grad(dy, N, O, inner, db) {
      const h = heap();
      dy >>= 2; db >>= 2;
      for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) {
        let s = 0;
        for (let k = 0; k < inner; k++) s += h[dy++];
        h[db + o] += s;
      }
    },
    sgd(w, g, v, n, hasV, lr, m, wd) {
      const h = heap();
      w >>= 2; g >>= 2; v >>= 2;
      for (let i = 0; i < n; i++) {
        let d = h[g + i] + wd * h[w + i];
        if (hasV) d = h[v + i] = m * h[v + i] + d;
        h[w + i] -= lr * d;
      }
    },
  };
}
