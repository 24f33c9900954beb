// GL kernel for the SGD update: v = momentum·v + (g + wd·w); w -= lr·v (momentum 0: w -= lr·(g + wd·w)).
// A pass cannot write the texture it reads, so new w (and v) come back as new tensors and the
// engine swaps them into the callers' handles. CPU twin: cpu/sgd.ts.
import type { SgdOptions } from './engine';
import { elementwise } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function sgdUpdate(r: GlRunner, w: GlTensor, g: GlTensor, v: GlTensor | null, o: SgdOptions): { w: GlTensor; v: GlTensor | null } {
  const u = { lr: o.lr, mom: o.momentum, wd: o.weightDecay };
  if (o.momentum > 0 && v) {
    const v2 = elementwise(r, 'sgd:velocity', [{ name: 'v', t: v }, { name: 'g', t: g }, { name: 'w', t: w }], w.shape, '',
      'return u_mom * fetch_v(i) + fetch_g(i) + u_wd * fetch_w(i);', 3, u);
    const w2 = elementwise(r, 'sgd:weights', [{ name: 'w', t: w }, { name: 'v', t: v2 }], w.shape, '',
      'return fetch_w(i) - u_lr * fetch_v(i);', 2, u);
    return { w: w2, v: v2 };
  }
  const w2 = elementwise(r, 'sgd:weights', [{ name: 'w', t: w }, { name: 'g', t: g }], w.shape, '',
    'float wv = fetch_w(i); return wv - u_lr * (fetch_g(i) + u_wd * wv);', 2, u);
  return { w: w2, v: null };
}
