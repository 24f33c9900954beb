// The float profile's program builder. A kernel is data: its inputs (name and shape), its output
// shape, a GLSL body defining `vec4 kernel(float j)` for output texel j, and the texture fetches
// one fragment makes; this file gives ../program.ts's buildShader the float format (a read and a
// result are a vec4 of four fp32 values as they are, where RGBA8 packs one float into bytes) and
// the zeroing of padding lanes.
//
// Layout of every float tensor: rows of its last dimension D, each padded to Dp = ceil(D/4) RGBA32F
// texels (4 consecutive values a texel, zeros past D), rows one after the other; texel j of the
// tensor sits at (j mod w, floor(j / w)) of a w x h texture. Shapes whose last dimension is a
// multiple of 4 share the flat order, so reshaping between them is free.
import { glf, PACKING, PRECISE, sfuLayer } from '../glsl';
import { PROFILES } from '../profile';
import { buildShader, type TexelFormat } from '../program';

export interface FloatLayout {
  /** Last dimension (1 for a scalar). */
  D: number;
  /** Texels per row. */
  Dp: number;
  rows: number;
  texels: number;
  w: number;
  h: number;
}

export function floatLayout(shape: readonly number[], side: number): FloatLayout {
  const D = shape.length ? shape[shape.length - 1] : 1;
  const size = shape.reduce((a, b) => a * b, 1);
  const rows = D > 0 ? size / D : 0;
  const Dp = Math.ceil(D / 4);
  const texels = Math.max(1, rows * Dp);
  const w = Math.min(texels, side);
  const h = Math.ceil(texels / w);
  if (h > side) throw new Error(`a tensor of shape [${shape}] needs ${texels} texels, more than a ${side}x${side} texture holds`);
  return { D, Dp, rows, texels, w, h };
}

export interface FloatKernel {
  /** Short name, for errors and pass statistics. */
  name: string;
  /** Everything the source depends on besides the shapes (parameters of the generator). */
  key: string;
  inputs: { name: string; shape: readonly number[] }[];
  outShape: readonly number[];
  /** Float uniforms u_<name>. */
  uniforms?: string[];
  /** Uses precExp/precLog1p/precRcp/precTanh (glsl.ts): their prelude is added. */
  precise?: boolean;
  /** Helper functions plus `vec4 kernel(float j)`. */
  body: () => string;
  /** Texture fetches one fragment makes, counted by the generator that wrote the body. */
  fetches: number;
}

export function kernelKey(k: FloatKernel): string {
  return `${k.name}|${k.key}|${k.inputs.map((x) => `${x.name}[${x.shape}]`).join(',')}|[${k.outShape}]`;
}

/** Four consecutive values of a row a texel, as they are. */
const RGBA32F: TexelFormat = { value: 'vec4', read: 'ld', decode: (t) => t, index: 'j' };

/** The full fragment shader of a float kernel. */
export function floatSource(k: FloatKernel, side: number): string {
  const out = floatLayout(k.outShape, side);
  const uniforms = (k.uniforms ?? []).map((u) => `uniform float u_${u};`).join('\n');
  const precise = k.precise ? `uniform float u_inf;\nuniform float u_nan;\nuniform float u_zero;\n${PACKING}\n${sfuLayer(PROFILES.desktop)}\n${PRECISE}\nvec4 tanh4(vec4 v) { return vec4(precTanh(v.x), precTanh(v.y), precTanh(v.z), precTanh(v.w)); }` : '';
  // Lanes past D in a row's last texel are written as zeros (by selection, so that NaN from reads
  // past a tensor's end cannot leak in): reductions over a padded dimension then add nothing.
  const pad = out.D % 4;
  const mask = pad === 0 ? '' : `
  float d4 = j - floor((j + 0.5) * ${glf(1 / out.Dp)}) * ${glf(out.Dp)};
  if (d4 > ${glf(out.Dp - 1.5)}) v = vec4(v.x, ${pad > 1 ? 'v.y' : '0.0'}, ${pad > 2 ? 'v.z' : '0.0'}, 0.0);`;
  return buildShader(RGBA32F, {
    head: `${uniforms}\n${precise}`,
    inputs: k.inputs.map(({ name, shape }) => ({ name, layout: floatLayout(shape, side) })),
    body: `// 1.0 in lane l, 0.0 elsewhere
vec4 lane(float l) { return vec4(equal(vec4(0.0, 1.0, 2.0, 3.0), vec4(l))); }
${k.body()}`,
    out,
    last: out.texels - 1,
    store: `  vec4 v = kernel(j);${mask}
  gl_FragColor = v;`,
  });
}

/** GLSL for the 4 consecutive values starting at element `s` of vec4 variables names[0], names[1], ... */
export function win(names: string[], s: number): string {
  const a = Math.floor(s / 4), o = s % 4;
  if (o === 0) return names[a];
  return `vec4(${names[a]}.${'xyzw'.slice(o)}, ${names[a + 1]}.${'xyzw'.slice(0, o)})`;
}

/** GLSL for element `s` of vec4 variables names[0], names[1], ... */
export function elt(names: string[], s: number): string {
  return `${names[Math.floor(s / 4)]}.${'xyzw'[s % 4]}`;
}
