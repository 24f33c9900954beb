// Reductions under a fetch budget. A reduction is: for each output index i, s = Σ_{k<L} term(i,k),
// then an epilogue (bias, activation). When L terms exceed the profile's fetch budget or loop cap,
// the sum is split: a partial pass writes S = ceil(L/T) packed partial sums per output, and sum
// passes fold them T' at a time until one epilogue pass can finish. Partials are stored as exact
// float32 in RGBA8, so splitting changes only the summation order.
// The GLSL of a reduction is asked for (spec.glsl()) only when a pass's program is not compiled
// yet: programs are found by a key of name, shapes and pass parameters.
import { glf } from './glsl';
import type { KernelSpec } from './program';
import type { GlRunner, GlTensor } from './tensor';

export interface Input { name: string; t: GlTensor }

/** The GLSL pieces of a reduction. Everything they depend on must be in the spec's name or shapes. */
export interface ReduceGlsl {
  /** GLSL helper functions. */
  helpers?: string;
  /** Statements run once per fragment; may use `i` (flat output index). */
  pre: string;
  /** Statements for one term; use `k` (float in [0,L)) and assign `float t`. */
  term: string;
  epilogue?: { helpers?: string; pre?: string; expr: string };
}

export interface ReduceSpec {
  /** Names the GLSL: two reductions of one name and equal shapes must generate the same source. */
  name: string;
  outShape: readonly number[];
  /** Reduction length. */
  L: number;
  inputs: Input[];
  termFetches: number;
  epilogue?: { inputs: Input[]; fetches: number };
  uniforms?: Record<string, number>;
  glsl: () => ReduceGlsl;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

function spec(
  name: string, variant: string, inputs: Input[], outSize: number, body: () => string, fetches: number,
  uniforms?: Record<string, number>,
): KernelSpec {
  return {
    name, key: `${name}${variant}|${inputs.map((x) => `${x.name}[${x.t.shape}]`).join(',')}|${outSize}|${fetches}`,
    inputs: inputs.map((x) => x.name), inputSizes: inputs.map((x) => x.t.size), outSize, body, fetches,
    uniforms: uniforms ? Object.keys(uniforms) : undefined,
  };
}

function once<T>(f: () => T): () => T {
  let v: { v: T } | null = null;
  return () => (v ??= { v: f() }).v;
}

export function reduce(r: GlRunner, s: ReduceSpec): GlTensor {
  const outSize = size(s.outShape);
  const p = r.profile;
  const epi = s.epilogue ?? { inputs: [], fetches: 0 };
  const g = once(s.glsl);
  const epiBody = () => { const e = g().epilogue; return `${e?.pre ?? ''}\n  return ${e?.expr ?? 's'};`; };
  const helpers = () => `${g().helpers ?? ''}\n${g().epilogue?.helpers ?? ''}`;
  if (s.L * s.termFetches + epi.fetches <= p.maxFetches && s.L <= p.maxLoop) {
    const body = () => `${helpers()}
float kernel(float i) {
  ${g().pre}
  float s = 0.0;
  for (int kk = 0; kk < ${s.L}; kk++) {
    float k = float(kk);
    ${g().term}
    s += t;
  }
  ${epiBody()}
}`;
    return r.run(spec(s.name, `:L${s.L}`, [...s.inputs, ...epi.inputs], outSize, body, s.L * s.termFetches + epi.fetches, s.uniforms), [...s.inputs, ...epi.inputs].map((x) => x.t), s.outShape, s.uniforms);
  }
  const Tmax = Math.max(1, Math.min(p.maxLoop, Math.floor(p.maxFetches / s.termFetches)));
  const S = Math.ceil(s.L / Tmax);
  // Spread the terms evenly over the S partials: 50 terms go 25+25, not 32+18 with 14 masked
  // fetches in the second.
  const T = Math.ceil(s.L / S);
  const partialPass = (first: number, count: number): GlTensor => {
    const body = () => `${g().helpers ?? ''}
float kernel(float ii) {
  float part = idiv(ii, ${glf(1 / outSize)});
  float i = ii - part * ${glf(outSize)};
  ${g().pre}
  float s = 0.0;
  for (int kk = 0; kk < ${T}; kk++) {
    float k = (part + ${glf(first)}) * ${glf(T)} + float(kk);
    float live = k < ${glf(s.L)} ? 1.0 : 0.0;
    k = min(k, ${glf(s.L - 1)});
    ${g().term}
    s += live * t;
  }
  return s;
}`;
    return r.run(spec(`${s.name}:partial`, `:L${s.L}:T${T}:from${first}`, s.inputs, outSize * count, body, T * s.termFetches), s.inputs.map((x) => x.t), [count, outSize]);
  };
  // Partials must fit one texture; past that, fold groups of them separately and add the groups
  // in the epilogue pass.
  const cap = p.maxTextureSide * p.maxTextureSide;
  const perGroup = Math.max(1, Math.floor(cap / outSize));
  if (S <= perGroup) return sumPartials(r, s.name, partialPass(0, S), S, outSize, s.outShape, epi, epiBody, helpers, s.uniforms);
  const groups: Input[] = [];
  for (let first = 0, gi = 0; first < S; first += perGroup, gi++) {
    const count = Math.min(perGroup, S - first);
    const none = { inputs: [], fetches: 0 };
    groups.push({ name: `grp${gi}`, t: sumPartials(r, s.name, partialPass(first, count), count, outSize, s.outShape, none, () => '  return s;', () => '') });
  }
  const body = () => `${helpers()}
float kernel(float i) {
  float s = ${groups.map((x) => `fetch_${x.name}(i)`).join(' + ')};
  ${epiBody()}
}`;
  const out = r.run(spec(`${s.name}:groups`, '', [...groups, ...epi.inputs], outSize, body, groups.length + epi.fetches, s.uniforms), [...groups, ...epi.inputs].map((x) => x.t), s.outShape, s.uniforms);
  for (const x of groups) r.dispose(x.t);
  return out;
}

function sumPartials(
  r: GlRunner, name: string, partial: GlTensor, S: number, outSize: number, outShape: readonly number[],
  epi: NonNullable<ReduceSpec['epilogue']>, epiBody: () => string, helpers: () => string, uniforms?: Record<string, number>,
): GlTensor {
  const p = r.profile;
  const pin: Input = { name: 'part', t: partial };
  if (S + epi.fetches <= p.maxFetches && S <= p.maxLoop) {
    const body = () => `${helpers()}
float kernel(float i) {
  float s = 0.0;
  for (int kk = 0; kk < ${S}; kk++) s += fetch_part(float(kk) * ${glf(outSize)} + i);
  ${epiBody()}
}`;
    const out = r.run(spec(`${name}:sum`, epi.inputs.length ? '' : ':bare', [pin, ...epi.inputs], outSize, body, S + epi.fetches, uniforms), [partial, ...epi.inputs.map((x) => x.t)], outShape, uniforms);
    r.dispose(partial);
    return out;
  }
  const S2 = Math.ceil(S / Math.min(p.maxLoop, p.maxFetches));
  const G = Math.ceil(S / S2);
  const body = () => `
float kernel(float ii) {
  float g = idiv(ii, ${glf(1 / outSize)});
  float i = ii - g * ${glf(outSize)};
  float s = 0.0;
  for (int kk = 0; kk < ${G}; kk++) {
    float k = g * ${glf(G)} + float(kk);
    float live = k < ${glf(S)} ? 1.0 : 0.0;
    k = min(k, ${glf(S - 1)});
    s += live * fetch_part(k * ${glf(outSize)} + i);
  }
  return s;
}`;
  const next = r.run(spec(`${name}:fold`, '', [pin], outSize * S2, body, G), [partial], [S2, outSize]);
  r.dispose(partial);
  return sumPartials(r, name, next, S2, outSize, outShape, epi, epiBody, helpers, uniforms);
}

/** GLSL statements splitting flat index `src` into named coordinates of `dims` (row-major). */
export function decompose(src: string, names: string[], dims: readonly number[]): string {
  const out: string[] = [];
  const tmp = `_r_${names.join('')}`;
  out.push(`float ${tmp} = ${src};`);
  for (let d = dims.length - 1; d >= 0; d--) {
    if (d === 0) { out.push(`float ${names[0]} = ${tmp};`); break; }
    const q = `_q_${names[d]}`;
    out.push(`float ${q} = idiv(${tmp}, ${glf(1 / dims[d])});`);
    out.push(`float ${names[d]} = ${tmp} - ${q} * ${glf(dims[d])};`);
    out.push(`${tmp} = ${q};`);
  }
  return out.join(' ');
}

export interface ElementwiseSpec {
  /** Names the GLSL: two kernels of one name and equal shapes must generate the same source. */
  name: string;
  inputs: Input[];
  outShape: readonly number[];
  /** Texture fetches one fragment makes. */
  fetches: number;
  uniforms?: Record<string, number>;
  /** Helper functions, and the statements of `float kernel(float i)` (they return its value). */
  glsl: () => { helpers?: string; stmts: string };
}

/** An elementwise (or small fixed-fetch) kernel: its statements compute output `i`. */
export function elementwise(r: GlRunner, s: ElementwiseSpec): GlTensor {
  const outSize = size(s.outShape);
  const body = () => { const g = s.glsl(); return `${g.helpers ?? ''}\nfloat kernel(float i) {\n  ${g.stmts}\n}`; };
  return r.run(spec(s.name, '', s.inputs, outSize, body, s.fetches, s.uniforms), s.inputs.map((x) => x.t), s.outShape, s.uniforms);
}
