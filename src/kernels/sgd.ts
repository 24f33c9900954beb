// GL: sgd.ts  twin: cpu/sgd.ts  fast: cpu/kernels.wat sgd
// tests: test/gl/kernels.test.ts, test/kernels/{cpu-engine,naive-fd,naive-tfjs}.test.ts
// GL kernel for the SGD update: v = momentum·v + (g + wd·w); w -= lr·v (momentum 0: w -= lr·(g + wd·w)).
// A pass cannot write the texture it reads, so new w (and v) come back as new tensors and the
// engine swaps them into the callers' handles.
import type { SgdOptions } from './engine';
import { elementwise } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

export function sgdUpdate(r: GlRunner, w: GlTensor, g: GlTensor, v: GlTensor | null, o: SgdOptions): { w: GlTensor; v: GlTensor | null } {
  const u = { lr: o.lr, mom: o.momentum, wd: o.weightDecay };
  if (o.momentum > 0 && v) {
    const v2 = elementwise(r, {
      name: 'sgd:velocity', inputs: [{ name: 'v', t: v }, { name: 'g', t: g }, { name: 'w', t: w }], outShape: w.shape,
      fetches: 3, uniforms: u, glsl: () => ({ stmts: 'return u_mom * fetch_v(i) + fetch_g(i) + u_wd * fetch_w(i);' }),
    });
    const w2 = elementwise(r, {
      name: 'sgd:momentum-step', inputs: [{ name: 'w', t: w }, { name: 'v', t: v2 }], outShape: w.shape,
      fetches: 2, uniforms: u, glsl: () => ({ stmts: 'return fetch_w(i) - u_lr * fetch_v(i);' }),
    });
    return { w: w2, v: v2 };
  }
  const w2 = elementwise(r, {
    name: 'sgd:weights', inputs: [{ name: 'w', t: w }, { name: 'g', t: g }], outShape: w.shape,
    fetches: 2, uniforms: u, glsl: () => ({ stmts: 'float wv = fetch_w(i); return wv - u_lr * (fetch_g(i) + u_wd * wv);' }),
  });
  return { w: w2, v: null };
}
