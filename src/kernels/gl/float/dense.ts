// float: dense.ts  twin: cpu/dense.ts (and the RGBA8 GL kernels in kernels/dense.ts)
// tests: test/gl/float-kernels.test.ts
// dense (y = act(x·W + b), x [N,I], W [I,O]) and its two gradients over RGBA32F rows: a fragment
// computes 4 neighbouring outputs of a row. Forward and dX make 16 multiply-adds per 5 fetches
// (one texel of a row vector against 4 texels of W); dW makes 4 per 2.
import type { Activation } from '../../engine';
import { glf } from '../glsl';
import type { FloatRunner, FloatTensor } from './engine';
import { actVec } from './activation';

const c4 = (n: number) => Math.ceil(n / 4);

export function dense(r: FloatRunner, x: FloatTensor, w: FloatTensor, b: FloatTensor, act: Activation): FloatTensor {
  const [N, I] = x.shape, O = w.shape[1];
  const Ip = c4(I), Op = c4(O), full = Math.floor(I / 4), tail = I % 4;
  // Rows of W past I do not exist: the last, partial texel of x meets only the rows that do.
  const tailTerms = Array.from({ length: tail }, (_, l) => `acc += xt.${'xyzw'[l]} * ld_w(${glf((4 * full + l) * Op)} + o4);`).join(' ');
  const body = () => `
vec4 kernel(float j) {
  float n = idiv(j, ${glf(1 / Op)}); float o4 = j - n * ${glf(Op)};
  float xb = n * ${glf(Ip)};
  vec4 acc = vec4(0.0);
  for (int k4 = 0; k4 < ${full}; k4++) {
    vec4 xv = ld_x(xb + float(k4));
    float wr = float(k4 * ${4 * Op}) + o4;
    acc += xv.x * ld_w(wr) + xv.y * ld_w(wr + ${glf(Op)}) + xv.z * ld_w(wr + ${glf(2 * Op)}) + xv.w * ld_w(wr + ${glf(3 * Op)});
  }
  ${tail ? `vec4 xt = ld_x(xb + ${glf(full)}); ${tailTerms}` : ''}
  return ${actVec(act, 'acc + ld_b(o4)')};
}`;
  return r.run({
    name: `dense:${act}`, key: '', precise: act === 'tanh',
    inputs: [{ name: 'x', shape: x.shape }, { name: 'w', shape: w.shape }, { name: 'b', shape: b.shape }],
    outShape: [N, O], body, fetches: full * 5 + (tail ? 1 + tail : 0) + 1,
  }, [x, w, b]);
}

// dx = dy·Wᵀ [N,I]: lane l of texel (n, i4) is the dot product of dy's row n with W's row 4*i4+l.
export function denseBackwardInput(r: FloatRunner, dy: FloatTensor, w: FloatTensor): FloatTensor {
  const [I, O] = w.shape, N = dy.shape[0];
  const Ip = c4(I), Op = c4(O);
  const body = () => `
vec4 kernel(float j) {
  float n = idiv(j, ${glf(1 / Ip)}); float i4 = j - n * ${glf(Ip)};
  float yb = n * ${glf(Op)}, wb = i4 * ${glf(4 * Op)};
  vec4 acc = vec4(0.0);
  for (int o4 = 0; o4 < ${Op}; o4++) {
    vec4 d = ld_dy(yb + float(o4));
    float wr = wb + float(o4);
    acc += vec4(dot(d, ld_w(wr)), dot(d, ld_w(wr + ${glf(Op)})), dot(d, ld_w(wr + ${glf(2 * Op)})), dot(d, ld_w(wr + ${glf(3 * Op)})));
  }
  return acc;
}`;
  return r.run({
    name: 'denseBackwardInput', key: '',
    inputs: [{ name: 'dy', shape: dy.shape }, { name: 'w', shape: w.shape }],
    outShape: [N, I], body, fetches: Op * 5,
  }, [dy, w]);
}

// dW = xᵀ·dy [I,O]: texel (i, o4) sums x[n,i]·dy[n, 4*o4..] over the batch.
export function denseBackwardWeight(r: FloatRunner, x: FloatTensor, dy: FloatTensor): FloatTensor {
  const [N, I] = x.shape, O = dy.shape[1];
  const Ip = c4(I), Op = c4(O);
  const body = () => `
vec4 kernel(float j) {
  float i = idiv(j, ${glf(1 / Op)}); float o4 = j - i * ${glf(Op)};
  float i4 = floor(i * 0.25);
  vec4 sel = lane(i - i4 * 4.0);
  vec4 acc = vec4(0.0);
  for (int n = 0; n < ${N}; n++) acc += dot(ld_x(float(n * ${Ip}) + i4), sel) * ld_dy(float(n * ${Op}) + o4);
  return acc;
}`;
  return r.run({
    name: 'denseBackwardWeight', key: '',
    inputs: [{ name: 'x', shape: x.shape }, { name: 'dy', shape: dy.shape }],
    outShape: [I, O], body, fetches: N * 2,
  }, [x, dy]);
}
