// GL kernels for softmax and mean softmax cross-entropy over logits [N,K] and one-hot labels.
// exp and log use the precise multiply/add paths (prec*), not VideoCore's ~12-bit SFU.
// CPU twin: cpu/softmax_xent.ts.
import { elementwise, glf } from './gl/reduce';
import type { GlRunner, GlTensor } from './gl/tensor';

// Row max and Σ exp(z - max) of row n, K fetches each way (the row is re-read, not cached: GLSL
// ES 1.00 has no dynamic array indexing in fragment shaders that vc4 handles well).
function rowStats(K: number): string {
  return `
vec2 rowStats(float base) {
  float m = fetch_z(base);
  for (int k = 1; k < ${K}; k++) m = max(m, fetch_z(base + float(k)));
  float s = 0.0;
  for (int k = 0; k < ${K}; k++) s += precExp(fetch_z(base + float(k)) - m);
  return vec2(m, s);
}`;
}

export function softmaxCrossEntropy(r: GlRunner, z: GlTensor, t: GlTensor): { losses: GlTensor; dLogits: GlTensor } {
  const [N, K] = z.shape;
  const ins = [{ name: 'z', t: z }, { name: 't', t }];
  const losses = elementwise(r, 'softmaxXent:loss', ins, [N], rowStats(K), `
  float base = i * ${glf(K)};
  vec2 ms = rowStats(base);
  float tz = 0.0;
  for (int k = 0; k < ${K}; k++) tz += fetch_t(base + float(k)) * fetch_z(base + float(k));
  return ms.x + precLog(ms.y) - tz;`, 4 * K);
  const dLogits = elementwise(r, 'softmaxXent:grad', ins, [N, K], rowStats(K), `
  float n = idiv(i, ${glf(1 / K)});
  vec2 ms = rowStats(n * ${glf(K)});
  float p = precExp(fetch_z(i) - ms.x) * precRcp(ms.y);
  return (p - fetch_t(i)) * ${glf(1 / N)};`, 2 * K + 2);
  return { losses, dLogits };
}

export function softmax(r: GlRunner, z: GlTensor): GlTensor {
  const [N, K] = z.shape;
  return elementwise(r, 'softmax', [{ name: 'z', t: z }], [N, K], rowStats(K), `
  float n = idiv(i, ${glf(1 / K)});
  vec2 ms = rowStats(n * ${glf(K)});
  return precExp(fetch_z(i) - ms.x) * precRcp(ms.y);`, 2 * K + 1);
}
