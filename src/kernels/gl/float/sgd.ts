// float: sgd.ts  twin: cpu/sgd.ts (and the RGBA8 GL kernel in kernels/sgd.ts)
// tests: test/gl/float-kernels.test.ts
// v = momentum·v + (g + wd·w); w -= lr·v (momentum 0: w -= lr·(g + wd·w)), 4 parameters a fragment.
// A pass cannot write the texture it reads, so new w (and v) come back as new tensors and the
// engine swaps them into the callers' handles.
import type { SgdOptions } from '../../engine';
import type { FloatRunner, FloatTensor } from './engine';

export function sgdUpdate(r: FloatRunner, w: FloatTensor, g: FloatTensor, v: FloatTensor | null, o: SgdOptions): { w: FloatTensor; v: FloatTensor | null } {
  const u = { lr: o.lr, mom: o.momentum, wd: o.weightDecay };
  const names = ['lr', 'mom', 'wd'];
  const ins = (...t: [string, FloatTensor][]) => t.map(([name, x]) => ({ name, shape: x.shape }));
  if (o.momentum > 0 && v) {
    const v2 = r.run({
      name: 'sgd:velocity', key: '', inputs: ins(['v', v], ['g', g], ['w', w]), outShape: w.shape, fetches: 3, uniforms: names,
      body: () => 'vec4 kernel(float j) { return u_mom * ld_v(j) + ld_g(j) + u_wd * ld_w(j); }',
    }, [v, g, w], u);
    const w2 = r.run({
      name: 'sgd:momentum-step', key: '', inputs: ins(['w', w], ['v', v2]), outShape: w.shape, fetches: 2, uniforms: names,
      body: () => 'vec4 kernel(float j) { return ld_w(j) - u_lr * ld_v(j); }',
    }, [w, v2], u);
    return { w: w2, v: v2 };
  }
  const w2 = r.run({
    name: 'sgd:weights', key: '', inputs: ins(['w', w], ['g', g]), outShape: w.shape, fetches: 2, uniforms: names,
    body: () => 'vec4 kernel(float j) { vec4 wv = ld_w(j); return wv - u_lr * (ld_g(j) + u_wd * wv); }',
  }, [w, g], u);
  return { w: w2, v: null };
}
