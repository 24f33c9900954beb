// The parallel parts of the CPU engine's ops, as "shares": the main thread and every worker run
// runShare() with the same argument block and their own thread index, each taking a contiguous
// slice of the work (images for convolutions, rows for dense layers). Everything is pointers into
// the one shared memory, so nothing is copied between threads. Argument block:
//   [op, total work items, scratch base, scratch bytes per thread, ...op arguments in LAYOUT[op] order]
// The one place an op's argument order is written down is LAYOUT below; engine.ts packs by it and
// runShare unpacks by it, so the two cannot drift apart.
import type { Kernels } from './kernels';

export const OP_CONV_FWD = 1;
export const OP_CONV_BWD_INPUT = 2;
export const OP_CONV_BWD_FILTER = 3;
export const OP_DENSE_FWD = 4;
export const OP_DENSE_BWD_INPUT = 5;
export const OP_DENSE_BWD_WEIGHT = 6;
export const OP_STOP = 99;
export const MAX_ARGS = 20;
const HEAD = 4;

// Pointers are byte offsets into the shared memory; the rest are sizes or an activation code.
export const LAYOUT = {
  [OP_CONV_FWD]: ['x', 'C', 'H', 'W', 'K', 'w', 'b', 'O', 'y', 'act'],
  [OP_CONV_BWD_INPUT]: ['dy', 'w', 'O', 'C', 'H', 'W', 'K', 'dx'],
  [OP_CONV_BWD_FILTER]: ['x', 'dy', 'C', 'H', 'W', 'K', 'O', 'dw', 'partials'],
  [OP_DENSE_FWD]: ['x', 'w', 'b', 'I', 'O', 'y', 'act'],
  [OP_DENSE_BWD_INPUT]: ['dy', 'wT', 'O', 'I', 'dx'],
  [OP_DENSE_BWD_WEIGHT]: ['x', 'dy', 'N', 'I', 'O', 'dw'],
} as const;

export type Op = keyof typeof LAYOUT;
export type OpArgs<O extends Op> = Record<(typeof LAYOUT)[O][number], number>;

/** The work split of one op call: items shared over threads, and each thread's scratch block. */
export interface Share { total: number; scratch?: number; scratchStride?: number }

/** The argument block of one op call, in LAYOUT order. */
export function packArgs<O extends Op>(op: O, share: Share, args: OpArgs<O>): number[] {
  const names: readonly string[] = LAYOUT[op];
  if (HEAD + names.length > MAX_ARGS) throw new Error(`cpu engine: op ${op} has more than ${MAX_ARGS - HEAD} arguments`);
  const a = [op, share.total, share.scratch ?? 0, share.scratchStride ?? 0];
  for (const n of names) a.push((args as Record<string, number>)[n]);
  return a;
}

/** The op arguments of a block, by name. */
export function unpackArgs<O extends Op>(op: O, a: ArrayLike<number>): OpArgs<O> {
  const names: readonly string[] = LAYOUT[op];
  const out: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) out[names[i]] = a[HEAD + i];
  return out as OpArgs<O>;
}

/** Thread t's slice [lo, hi) of total items; row splits keep 4-row blocks whole for the gemm. */
export function shareOf(total: number, t: number, T: number, align: number): [number, number] {
  const cut = (i: number) => (i >= T ? total : Math.min(total, Math.round((total * i) / T / align) * align));
  return [cut(t), cut(t + 1)];
}

export function runShare(k: Kernels, a: ArrayLike<number>, t: number, T: number): void {
  const op = a[0], total = a[1], scratch = a[2] + t * a[3];
  switch (op) {
    case OP_CONV_FWD: {
      // y_n[O,PQ] = act(W[O,CKK]·cols_n[CKK,PQ] + b)
      const { x, C, H, W, K, w, b, O, y, act } = unpackArgs(OP_CONV_FWD, a);
      const PQ = (H - K + 1) * (W - K + 1), CKK = C * K * K;
      const [lo, hi] = shareOf(total, t, T, 1);
      for (let n = lo; n < hi; n++) {
        const yn = y + n * O * PQ * 4;
        k.im2col(x + n * C * H * W * 4, C, H, W, K, scratch);
        k.gemm(w, CKK * 4, 4, scratch, PQ * 4, yn, PQ * 4, O, PQ, CKK, 0);
        k.bias_act(yn, O, PQ, b, 1, act);
      }
      return;
    }
    case OP_CONV_BWD_INPUT: {
      // dcols[CKK,PQ] = Wᵀ·dy_n, then scattered back (dx starts zeroed)
      const { dy, w, O, C, H, W, K, dx } = unpackArgs(OP_CONV_BWD_INPUT, a);
      const PQ = (H - K + 1) * (W - K + 1), CKK = C * K * K;
      const [lo, hi] = shareOf(total, t, T, 1);
      for (let n = lo; n < hi; n++) {
        k.gemm(w, 4, CKK * 4, dy + n * O * PQ * 4, PQ * 4, scratch, PQ * 4, CKK, PQ, O, 0);
        k.col2im(scratch, C, H, W, K, dx + n * C * H * W * 4);
      }
      return;
    }
    case OP_CONV_BWD_FILTER: {
      // dW[O,CKK] = Σ_n dy_n[O,PQ]·colsT_n[PQ,CKK]; thread 0 sums
      // into dw, the others into their own partial buffer that the caller adds up afterwards
      const { x, dy, C, H, W, K, O, dw, partials } = unpackArgs(OP_CONV_BWD_FILTER, a);
      const PQ = (H - K + 1) * (W - K + 1), CKK = C * K * K;
      const dest = t === 0 ? dw : partials + (t - 1) * O * CKK * 4;
      const [lo, hi] = shareOf(total, t, T, 1);
      for (let n = lo; n < hi; n++) {
        k.im2colT(x + n * C * H * W * 4, C, H, W, K, scratch);
        k.gemm(dy + n * O * PQ * 4, PQ * 4, 4, scratch, CKK * 4, dest, CKK * 4, O, CKK, PQ, n === lo ? 0 : 1);
      }
      return;
    }
    case OP_DENSE_FWD: {
      // rows of y [N,O] = act(x·W + b)
      const { x, w, b, I, O, y, act } = unpackArgs(OP_DENSE_FWD, a);
      const [lo, hi] = shareOf(total, t, T, 4);
      if (hi <= lo) return;
      k.gemm(x + lo * I * 4, I * 4, 4, w, O * 4, y + lo * O * 4, O * 4, hi - lo, O, I, 0);
      k.bias_act(y + lo * O * 4, hi - lo, O, b, 0, act);
      return;
    }
    case OP_DENSE_BWD_INPUT: {
      // rows of dx [N,I] = dy·Wᵀ, with Wᵀ [O,I] transposed beforehand
      const { dy, wT, O, I, dx } = unpackArgs(OP_DENSE_BWD_INPUT, a);
      const [lo, hi] = shareOf(total, t, T, 4);
      if (hi <= lo) return;
      k.gemm(dy + lo * O * 4, O * 4, 4, wT, I * 4, dx + lo * I * 4, I * 4, hi - lo, I, O, 0);
      return;
    }
    case OP_DENSE_BWD_WEIGHT: {
      // rows of dW [I,O] = xᵀ·dy (xᵀ read through strides)
      const { x, dy, N, I, O, dw } = unpackArgs(OP_DENSE_BWD_WEIGHT, a);
      const [lo, hi] = shareOf(total, t, T, 4);
      if (hi <= lo) return;
      k.gemm(x + lo * 4, 4, I * 4, dy, O * 4, dw + lo * O * 4, O * 4, hi - lo, O, N, 0);
      return;
    }
    default:
      throw new Error(`cpu engine: unknown op ${op}`);
  }
}
