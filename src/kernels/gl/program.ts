// The one program builder. A kernel is data — its inputs, its output size, a GLSL body that
// defines `float kernel(float i)` for flat output index i, and how many texture fetches one
// fragment makes — and this file turns it into a fragment shader: prelude, samplers, the
// index->texel helpers, packing of the result, and the profile's rules, checked before compiling.
// buildShader is the builder both texture formats use: RGBA8 here (one float a texel, its bytes
// packed) and RGBA32F in float/program.ts (four values a texel), each a TexelFormat.
import { glf, PACKING, PRECISE, sfuLayer } from './glsl';
import type { Profile } from './profile';

export interface KernelSpec {
  /** Short name, for errors and pass statistics. */
  name: string;
  /** What the source depends on besides the profile (name, shapes, pass parameters), built before
   *  any GLSL: the engine finds a compiled program by it without generating the source. Absent,
   *  the source itself is the key. */
  key?: string;
  /** Sampler names; the body reads input k with fetch_<name>(flat index). */
  inputs: string[];
  /** Flat sizes of the inputs (their texture layout follows from the size). */
  inputSizes: number[];
  outSize: number;
  /** Float uniforms the body reads as u_<name>. */
  uniforms?: string[];
  /** Helper functions plus `float kernel(float i) { ... }`; a function when generated on demand. */
  body: string | (() => string);
  /** Texture fetches one fragment makes, counted by the generator that wrote the body. */
  fetches: number;
}

export interface Layout { w: number; h: number }

/** One float per texel, row-major, rows of up to `side` texels: shape-free, so reshape is free. */
export function layoutFor(size: number, side: number): Layout {
  const w = Math.max(1, Math.min(size, side));
  const h = Math.max(1, Math.ceil(size / w));
  if (h > side) throw new Error(`a tensor of ${size} floats does not fit a ${side}x${side} texture`);
  return { w, h };
}

// Words that reach the special-function unit or an extension. vc4 kernels must go through
// SFU_*/prec* so that the emulated precision applies; `/` is a division (rcp on the SFU).
const VC4_BANNED: [RegExp, string][] = [
  [/\b(exp|exp2|log|log2|pow|sqrt|inversesqrt|tanh)\s*\(/, 'a special function (use SFU_* or prec*)'],
  [/\//, 'a division (use SFU_RCP or precRcp)'],
  [/#extension/, 'an extension (vc4 is WebGL 1 core only)'],
  [/gl_FragData\s*\[\s*[1-9]/, 'a second render target'],
];

function stripComments(s: string): string {
  return s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

export class ProfileViolation extends Error {
  constructor(message: string) { super(message); this.name = 'ProfileViolation'; }
}

export function bodyOf(spec: KernelSpec): string {
  return typeof spec.body === 'string' ? spec.body : spec.body();
}

export function checkProfile(spec: KernelSpec, p: Profile, body = bodyOf(spec)): void {
  if (spec.fetches > p.maxFetches)
    throw new ProfileViolation(`${spec.name}: ${spec.fetches} texture fetches per fragment, profile ${p.name} allows ${p.maxFetches}`);
  const lay = layoutFor(spec.outSize, p.maxTextureSide);
  if (lay.w > p.maxTextureSide || lay.h > p.maxTextureSide) throw new ProfileViolation(`${spec.name}: output too large`);
  if (p.emulateSfu) {
    const code = stripComments(body);
    for (const [re, what] of VC4_BANNED)
      if (re.test(code)) throw new ProfileViolation(`${spec.name}: body uses ${what}, not allowed in profile ${p.name}`);
  }
  const varyings = (stripComments(body).match(/\bvarying\b/g) ?? []).length;
  if (varyings > p.maxVaryings) throw new ProfileViolation(`${spec.name}: ${varyings} varyings > ${p.maxVaryings}`);
}

export const VERTEX_SHADER = `
attribute vec2 a_pos;
void main() { gl_Position = vec4(a_pos, 0.0, 1.0); }
`;

/** What a texel holds, as the builder needs it: the type a read gives and kernel() returns, the
 *  prefix of the read functions (input x is read by `<read>_x(index)`), how a texel becomes that
 *  value, and the name of the flat output index. */
export interface TexelFormat {
  value: 'float' | 'vec4';
  read: string;
  decode(texel: string): string;
  index: string;
}

export interface ShaderParts {
  /** Declarations before the samplers: uniforms and the GLSL libraries the body uses. */
  head: string;
  inputs: { name: string; layout: Layout }[];
  /** Helper functions plus `<value> kernel(float <index>)`. */
  body: string;
  out: Layout;
  /** The last output index that holds a value; fragments past it (a last row's tail) repeat it. */
  last: number;
  /** main()'s last statements: store kernel(<index>) into gl_FragColor. */
  store: string;
}

/** A fragment shader: the format's samplers, texel addressing and one fragment per output texel. */
export function buildShader(f: TexelFormat, s: ShaderParts): string {
  const samplers = s.inputs.map(({ name, layout: l }) => {
    // Texel of flat index j: row = floor((j+.5)/w) by a host-rounded reciprocal, never a shader
    // division; the +.5 keeps floor on the right side of every integer for j < 2^22.
    const addr = l.h === 1
      ? `vec2((j + 0.5) * ${glf(1 / l.w)}, 0.5)`
      : `vec2((j - floor((j + 0.5) * ${glf(1 / l.w)}) * ${glf(l.w)} + 0.5) * ${glf(1 / l.w)}, (floor((j + 0.5) * ${glf(1 / l.w)}) + 0.5) * ${glf(1 / l.h)})`;
    return `uniform sampler2D u_${name};
${f.value} ${f.read}_${name}(float j) { return ${f.decode(`texture2D(u_${name}, ${addr})`)}; }`;
  }).join('\n');
  return `precision highp float;
${s.head}
${samplers}
// floor(a / d) for integral a >= 0 and constant d, by multiplication
float idiv(float a, float invd) { return floor((a + 0.5) * invd); }
${s.body}
void main() {
  vec2 fc = floor(gl_FragCoord.xy);
  float ${f.index} = min(fc.y * ${glf(s.out.w)} + fc.x, ${glf(s.last)});
${s.store}
}
`;
}

/** One float a texel, its fp32 bytes packed into RGBA8 (glsl.ts PACKING). */
const RGBA8: TexelFormat = { value: 'float', read: 'fetch', decode: (t) => `unpackFloat(${t})`, index: 'i' };

/** The full fragment shader for a kernel. */
export function fragmentSource(spec: KernelSpec, p: Profile): string {
  const body = bodyOf(spec);
  checkProfile(spec, p, body);
  const uniforms = (spec.uniforms ?? []).map((u) => `uniform float u_${u};`).join('\n');
  return buildShader(RGBA8, {
    head: `uniform float u_inf;
uniform float u_nan;
uniform float u_zero; // a zero the compiler cannot fold, so sign * u_zero keeps -0
${uniforms}
${PACKING}
${sfuLayer(p)}
${PRECISE}`,
    inputs: spec.inputs.map((name, k) => ({ name, layout: layoutFor(spec.inputSizes[k], p.maxTextureSide) })),
    body,
    out: layoutFor(spec.outSize, p.maxTextureSide),
    last: spec.outSize - 1,
    store: '  gl_FragColor = packFloat(kernel(i));',
  });
}
