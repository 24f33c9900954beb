// Relayouts of q16 tensors: exact byte moves (a code is copied, never decoded and stored again, so
// nothing rounds and nothing can saturate). One program builder, three uses:
// - reshapeQ16: the same NCHW order under another shape (pool2's [N,50,4,4] <-> dense1's [N,800,1,1]);
// - padQ16: zeros around each plane, so the input gradient of a convolution is a valid convolution;
// - toBatchPairs: samples 2m, 2m+1 of one channel in a texel, so a weight-gradient fragment, which
//   sums over samples, uses both values of every texel it fetches (wgrad.ts).
// CPU twin: the same index arithmetic on the host (texelOrder in tensor.ts); tests compare codes exactly.
import type { GlEngine } from '../engine';
import { glf } from '../glsl';
import { expectLayout, Q16Tensor, q16Rect, type Q16Layout } from './tensor';

type Mapping = { kind: 'reshape' } | { kind: 'pad'; by: number } | { kind: 'same' };

// Index arithmetic below is floor((a + 0.5)·(1/d)) in fp32: exact while a·2^-22 < 0.5/d, i.e. for
// flat indices under 2^22 (LeNet's largest tensor at batch 64 holds 737,280 values).
const LIMIT = 2 ** 22;

/** GLSL statements splitting the float `f` into `names` over `dims` (row-major). */
function split(f: string, dims: readonly number[], names: readonly string[]): string {
  const out: string[] = [];
  let rest = f;
  for (let k = dims.length - 1; k > 0; k--) {
    const q = `${names[k]}_q`;
    out.push(`float ${q} = floor((${rest} + 0.5) * ${glf(1 / dims[k])}); float ${names[k]} = ${rest} - ${q} * ${glf(dims[k])};`);
    rest = q;
  }
  out.push(`float ${names[0]} = ${rest};`);
  return out.join('\n  ');
}

function gather(g: GlEngine, op: string, x: Q16Tensor, outShape: readonly number[], outLayout: Q16Layout, map: Mapping): Q16Tensor {
  expectLayout(op, x, 'channel-pairs');
  const [Ns, Cs, Hs, Ws] = x.shape, [N, C, H, W] = outShape;
  if (N * C * H * W >= LIMIT || x.size >= LIMIT) throw new Error(`${op}: [${x.shape}] -> [${outShape}] has over 2^22 values; the index arithmetic is exact only below`);
  const src = q16Rect(x.shape), out = q16Rect(outShape, outLayout);
  const target = g.allocRect(out.w, out.h);
  // One source element (n, c, h, w) -> its two bytes, or the zero code when it falls outside.
  const inside = map.kind === 'reshape' ? 'true'
    : map.kind === 'pad' ? `h >= 0.0 && h < ${glf(Hs)} && w >= 0.0 && w < ${glf(Ws)}` : `n < ${glf(Ns)}`;
  const by = map.kind === 'pad' ? map.by : 0;
  const toSource = map.kind === 'reshape'
    ? `float f = ((n * ${glf(C)} + c) * ${glf(H)} + h) * ${glf(W)} + w;\n  ${split('f', [Ns, Cs, Hs, Ws], ['sn', 'sc', 'sh', 'sw'])}`
    : `float sn = n, sc = c, sh = h - ${glf(by)}, sw = w - ${glf(by)};`;
  // pad in channel pairs: both values of an output texel come from one source texel
  const oneFetch = map.kind === 'pad' && outLayout === 'channel-pairs';
  const head = outLayout === 'channel-pairs'
    ? `${split('fc.x', [C / 2, W], ['cp', 'w'])}\n  ${split('fc.y', [N, H], ['n', 'h'])}`
    : `${split('fc.x', [C, W], ['c', 'w'])}\n  ${split('fc.y', [Math.ceil(N / 2), H], ['m', 'h'])}`;
  const body = oneFetch
    ? `float sh = h - ${glf(by)}, sw = w - ${glf(by)};
  vec4 t = texture2D(u_x, (vec2(cp * ${glf(Ws)} + sw, n * ${glf(Hs)} + sh) + 0.5) * inv);
  gl_FragColor = sh >= 0.0 && sh < ${glf(Hs)} && sw >= 0.0 && sw < ${glf(Ws)} ? t : vec4(ZERO, ZERO);`
    : outLayout === 'channel-pairs'
      ? `gl_FragColor = vec4(pick(n, 2.0 * cp, h, w), pick(n, 2.0 * cp + 1.0, h, w));`
      : `gl_FragColor = vec4(pick(2.0 * m, c, h, w), pick(2.0 * m + 1.0, c, h, w));`;
  const key = `q16:${op}|${x.shape}|${outShape}|${outLayout}|${JSON.stringify(map)}`;
  g.runRaw({
    name: `q16:${op}`, key, target, fetches: oneFetch ? 1 : 2,
    inputs: [{ name: 'x', tex: x.ref.tex }],
    source: () => `precision highp float;
uniform sampler2D u_x;
const vec2 inv = vec2(${glf(1 / src.w)}, ${glf(1 / src.h)});
const vec2 ZERO = vec2(${glf(128 / 255)}, 0.0);
${oneFetch ? '' : `vec2 pick(float n, float c, float h, float w) {
  ${toSource}
  float scp = floor((sc + 0.5) * 0.5), odd = sc - 2.0 * scp;
  vec4 t = texture2D(u_x, (vec2(scp * ${glf(Ws)} + sw, sn * ${glf(Hs)} + sh) + 0.5) * inv);
  return ${inside.replace(/\b([nhw])\b/g, 's$1')} ? (odd < 0.5 ? t.rg : t.ba) : ZERO;
}`}
void main() {
  vec2 fc = floor(gl_FragCoord.xy);
  ${head}
  ${body}
}`,
    draws: [{ x: 0, y: 0, w: out.w, h: out.h, uniforms: {} }],
  });
  return new Q16Tensor([...outShape], x.e, target, outLayout);
}

/** The same values (NCHW order) under `shape`; channel counts of both shapes even. */
export function reshapeQ16(g: GlEngine, x: Q16Tensor, shape: readonly number[]): Q16Tensor {
  if (shape.reduce((a, b) => a * b, 1) !== x.size) throw new Error(`reshapeQ16: [${x.shape}] -> [${shape}] changes the size`);
  return gather(g, 'reshape', x, shape, 'channel-pairs', { kind: 'reshape' });
}

/** x [N,C,H,W] -> [N,C,H+2·by,W+2·by] with zeros around each plane. */
export function padQ16(g: GlEngine, x: Q16Tensor, by: number): Q16Tensor {
  const [N, C, H, W] = x.shape;
  return gather(g, 'pad', x, [N, C, H + 2 * by, W + 2 * by], 'channel-pairs', { kind: 'pad', by });
}

/** x in batch pairs (texel (c·W + w, m·H + h) = samples 2m, 2m+1); an odd batch's last pair ends in zero. */
export function toBatchPairs(g: GlEngine, x: Q16Tensor): Q16Tensor {
  return gather(g, 'batch-pairs', x, x.shape, 'batch-pairs', { kind: 'same' });
}
