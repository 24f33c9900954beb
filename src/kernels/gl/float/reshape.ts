// float: reshape.ts  twin: the CPU engine's reshape (a view; the flat order never changes)
// tests: test/gl/float-kernels.test.ts
// A reshape that changes the last dimension, when one of the two is not a multiple of 4, moves
// values between texels (float/program.ts pads each row to whole texels): each output lane finds
// its flat index and reads it from the old rows.
import { glf } from '../glsl';
import type { FloatRunner, FloatTensor } from './engine';

export function repack(r: FloatRunner, t: FloatTensor, shape: readonly number[]): FloatTensor {
  const last = (s: readonly number[]) => (s.length ? s[s.length - 1] : 1);
  const D0 = last(t.shape), D1 = last(shape), Dp0 = Math.ceil(D0 / 4), Dp1 = Math.ceil(D1 / 4);
  return r.run({
    name: 'reshape', key: `${D0}>${D1}`, inputs: [{ name: 't', shape: t.shape }], outShape: shape, fetches: 4,
    body: () => `
float at(float f) {
  float row = idiv(f, ${glf(1 / D0)}); float e = f - row * ${glf(D0)};
  float e4 = floor(e * 0.25);
  return dot(ld_t(row * ${glf(Dp0)} + e4), lane(e - e4 * 4.0));
}
vec4 kernel(float j) {
  float row = idiv(j, ${glf(1 / Dp1)}); float f = row * ${glf(D1)} + (j - row * ${glf(Dp1)}) * 4.0;
  return vec4(at(f), at(f + 1.0), at(f + 2.0), at(f + 3.0));
}`,
  }, [t]);
}
