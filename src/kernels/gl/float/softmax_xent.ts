// float: softmax_xent.ts  twin: cpu/softmax_xent.ts (and the RGBA8 GL kernels in kernels/softmax_xent.ts)
// tests: test/gl/float-kernels.test.ts
// softmax and mean softmax cross-entropy over logits [N,K] and one-hot labels, with the same
// formulation as the RGBA8 kernels (see kernels/softmax_xent.ts for why the max's count c and the
// rest of the sum are kept apart) and the same multiply/add exp, log1p and reciprocal (glsl.ts).
// A row is read once into straight-line scalars: K is small (10), and constant indices keep it so.
import { glf } from '../glsl';
import type { FloatRunner, FloatTensor } from './engine';

/** GLSL: `vec3 rowStats(float base)` = (max m, count c of logits equal to it, Σ exp(z - m) over
 *  the rest) of the row whose first texel is `base`, and `float rowDot(float base)` = Σ t·z. */
function rowGlsl(K: number, withT: boolean): string {
  const Kp = Math.ceil(K / 4);
  const zs = Array.from({ length: K }, (_, k) => `z${Math.floor(k / 4)}.${'xyzw'[k % 4]}`);
  const load = (v: string, f: string) => Array.from({ length: Kp }, (_, i) => `vec4 ${v}${i} = ${f}(base + ${glf(i)});`).join(' ');
  return `
vec3 rowStats(float base) {
  ${load('z', 'ld_z')}
  float m = ${zs[0]};
  ${zs.slice(1).map((z) => `m = max(m, ${z});`).join(' ')}
  float c = 0.0, rest = 0.0;
  ${zs.map((z) => `c += ${z} == m ? 1.0 : 0.0; rest += ${z} == m ? 0.0 : precExp(${z} - m);`).join('\n  ')}
  return vec3(m, c, rest);
}${withT ? `
float rowDot(float base) {
  ${load('z', 'ld_z')} ${load('t', 'ld_t')}
  return ${Array.from({ length: Kp }, (_, i) => `dot(t${i}, z${i})`).join(' + ')};
}` : ''}`;
}

export function softmaxCrossEntropy(r: FloatRunner, z: FloatTensor, t: FloatTensor): { losses: FloatTensor; dLogits: FloatTensor } {
  const [N, K] = z.shape, Kp = Math.ceil(K / 4);
  const inputs = [{ name: 'z', shape: z.shape }, { name: 't', shape: t.shape }];
  // loss = (m - Σ t·z) + log1p(c - 1 + rest); 4 rows a fragment.
  const losses = r.run({
    name: 'softmaxXent:loss', key: '', precise: true, inputs, outShape: [N], fetches: 4 * 3 * Kp,
    body: () => `${rowGlsl(K, true)}
float rowLoss(float n) {
  float base = min(n, ${glf(N - 1)}) * ${glf(Kp)};
  vec3 st = rowStats(base);
  return (st.x - rowDot(base)) + precLog1p((st.y - 1.0) + st.z);
}
vec4 kernel(float j) { return vec4(rowLoss(4.0 * j), rowLoss(4.0 * j + 1.0), rowLoss(4.0 * j + 2.0), rowLoss(4.0 * j + 3.0)); }`,
  }, [z, t]);
  // p - t = ((e - t·c) - t·rest) / s with e = exp(z - m) and s = c + rest.
  const dLogits = r.run({
    name: 'softmaxXent:grad', key: '', precise: true, inputs, outShape: [N, K], fetches: Kp + 2,
    body: () => `${rowGlsl(K, false)}
float expm(float zi, float m) { return zi == m ? 1.0 : precExp(zi - m); }
vec4 kernel(float j) {
  float n = idiv(j, ${glf(1 / Kp)});
  vec3 st = rowStats(n * ${glf(Kp)});
  vec4 zi = ld_z(j), ti = ld_t(j);
  vec4 e = vec4(expm(zi.x, st.x), expm(zi.y, st.x), expm(zi.z, st.x), expm(zi.w, st.x));
  return ((e - ti * st.y) - ti * st.z) * (precRcp(st.y + st.z) * ${glf(1 / N)});
}`,
  }, [z, t]);
  return { losses, dLogits };
}

export function softmax(r: FloatRunner, z: FloatTensor): FloatTensor {
  const [N, K] = z.shape, Kp = Math.ceil(K / 4);
  return r.run({
    name: 'softmax', key: '', precise: true, inputs: [{ name: 'z', shape: z.shape }], outShape: [N, K], fetches: Kp + 1,
    body: () => `${rowGlsl(K, false)}
float expm(float zi, float m) { return zi == m ? 1.0 : precExp(zi - m); }
vec4 kernel(float j) {
  float n = idiv(j, ${glf(1 / Kp)});
  vec3 st = rowStats(n * ${glf(Kp)});
  vec4 zi = ld_z(j);
  return vec4(expm(zi.x, st.x), expm(zi.y, st.x), expm(zi.z, st.x), expm(zi.w, st.x)) * precRcp(st.y + st.z);
}`,
  }, [z]);
}
