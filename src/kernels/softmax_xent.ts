// GL: softmax_xent.ts  twin: cpu/softmax_xent.ts  fast: the twin itself (float64 JavaScript; 10 logits a row)
// tests: test/gl/kernels.test.ts, test/kernels/{cpu-engine,naive-fd,naive-tfjs}.test.ts
// GL kernels for softmax and mean softmax cross-entropy over logits [N,K] and one-hot labels.
// exp and log use the precise multiply/add paths (prec*), not VideoCore's ~12-bit SFU.
import { glf } from './gl/glsl';
import { elementwise } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

// Row n's max m, the count c of logits equal to it, and rest = Σ exp(z - m) over the others; the
// row's softmax denominator is c + rest. Kept apart because a confident prediction's loss and
// gradient live in rest: folded into c + rest (≈ 1 in fp32) its low bits are gone. K fetches each
// way (the row is re-read, not cached: GLSL ES 1.00 has no dynamic array indexing in fragment
// shaders that vc4 handles well).
function rowStats(K: number): string {
  return `
vec3 rowStats(float base) {
  float m = fetch_z(base);
  for (int k = 1; k < ${K}; k++) m = max(m, fetch_z(base + float(k)));
  float c = 0.0;
  float rest = 0.0;
  for (int k = 0; k < ${K}; k++) {
    float z = fetch_z(base + float(k));
    c += z == m ? 1.0 : 0.0;
    rest += z == m ? 0.0 : precExp(z - m);
  }
  return vec3(m, c, rest);
}`;
}

export function softmaxCrossEntropy(r: GlRunner, z: GlTensor, t: GlTensor): { losses: GlTensor; dLogits: GlTensor } {
  const [N, K] = z.shape;
  const ins = [{ name: 'z', t: z }, { name: 't', t }];
  // loss = (m - Σ t·z) + log1p(c - 1 + rest): m + log(s) - Σ t·z would round log(s) to the ulp of the
  // logits, and log(s) of s rounded to fp32 loses rest's low bits (7e-4 and 6e-5 relative error at a
  // loss of 1e-3, against the CPU twin).
  const losses = elementwise(r, {
    name: 'softmaxXent:loss', inputs: ins, outShape: [N], fetches: 4 * K,
    glsl: () => ({ helpers: rowStats(K), stmts: `
  float base = i * ${glf(K)};
  vec3 st = rowStats(base);
  float tz = 0.0;
  for (int k = 0; k < ${K}; k++) tz += fetch_t(base + float(k)) * fetch_z(base + float(k));
  return (st.x - tz) + precLog1p((st.y - 1.0) + st.z);` }),
  });
  // p - t = (e - t·s) / s with e = exp(z - m) and s = c + rest, taken as ((e - t·c) - t·rest) / s: for
  // the target at the max, p - 1 = -rest / s keeps its digits instead of cancelling to the ulp of 1.
  const dLogits = elementwise(r, {
    name: 'softmaxXent:grad', inputs: ins, outShape: [N, K], fetches: 2 * K + 2,
    glsl: () => ({ helpers: rowStats(K), stmts: `
  float n = idiv(i, ${glf(1 / K)});
  vec3 st = rowStats(n * ${glf(K)});
  float zi = fetch_z(i), ti = fetch_t(i);
  float e = zi == st.x ? 1.0 : precExp(zi - st.x);
  return ((e - ti * st.y) - ti * st.z) * precRcp(st.y + st.z) * ${glf(1 / N)};` }),
  });
  return { losses, dLogits };
}

export function softmax(r: GlRunner, z: GlTensor): GlTensor {
  const [N, K] = z.shape;
  return elementwise(r, {
    name: 'softmax', inputs: [{ name: 'z', t: z }], outShape: [N, K], fetches: 2 * K + 1,
    glsl: () => ({ helpers: rowStats(K), stmts: `
  float n = idiv(i, ${glf(1 / K)});
  vec3 st = rowStats(n * ${glf(K)});
  float zi = fetch_z(i);
  return (zi == st.x ? 1.0 : precExp(zi - st.x)) * precRcp(st.y + st.z);` }),
  });
}
