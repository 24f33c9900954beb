// Per-fragment counts read off a fragment shader's GLSL: texture fetches and uniform operand reads.
// Counted statically, so it works on whatever shaders an engine emits: each function's cost is its
// own occurrences plus the calls it makes times the callee's cost, and a `for` loop with literal
// bounds multiplies what its body costs by its trip count. Both arms of a branch are counted, so a
// shader that skips work at run time is over-counted (an upper bound, never an under-count).

export interface ShaderCounts {
  /** texture2D/texture2DProj/textureCube calls one fragment makes. */
  fetches: number;
  /** Reads of non-sampler uniforms one fragment makes (each use of a uniform name counts once). */
  uniformReads: number;
  /** vec4 slots the shader's non-sampler uniforms occupy (what MAX_FRAGMENT_UNIFORM_VECTORS limits). */
  uniformVectors: number;
  /** A loop whose trip count could not be read (its body was counted once). */
  unboundedLoops: number;
}

function stripComments(s: string): string {
  return s.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/** Index just past the bracket that closes the one at `open`. */
function closing(s: string, open: number): number {
  const o = s[open], c = o === '(' ? ')' : '}';
  let depth = 0;
  for (let i = open; i < s.length; i++) {
    if (s[i] === o) depth++;
    else if (s[i] === c && --depth === 0) return i + 1;
  }
  return s.length;
}

/** Iterations of `for (int k = A; k < B; k++)` (also <=, k += n, float counters); null if not literal. */
export function tripCount(header: string): number | null {
  const m = /^\s*(?:int|float)?\s*(\w+)\s*=\s*(-?[\d.]+)\s*;\s*(\w+)\s*(<=?)\s*(-?[\d.]+)\s*;\s*(\w+)\s*(\+\+|\+=\s*([\d.]+))\s*$/.exec(header);
  if (!m || m[1] !== m[3] || m[1] !== m[6]) return null;
  const a = Number(m[2]), b = Number(m[5]), step = m[8] ? Number(m[8]) : 1;
  if (!(step > 0)) return null;
  return Math.max(0, m[4] === '<=' ? Math.floor((b - a) / step) + 1 : Math.ceil((b - a) / step));
}

interface Weights { [token: string]: number }

/** Weighted occurrences of `tokens` (name -> cost of one occurrence) in a block of code. */
function weigh(code: string, tokens: Weights, loops: { unbounded: number }): number {
  let total = 0, at = 0;
  const forRe = /\bfor\s*\(/g;
  for (let m = forRe.exec(code); m; m = forRe.exec(code)) {
    total += flat(code.slice(at, m.index), tokens);
    const hOpen = m.index + m[0].length - 1, hEnd = closing(code, hOpen);
    const trips = tripCount(code.slice(hOpen + 1, hEnd - 1));
    if (trips === null) loops.unbounded++;
    let bodyStart = hEnd;
    while (/\s/.test(code[bodyStart] ?? '')) bodyStart++;
    const bodyEnd = code[bodyStart] === '{' ? closing(code, bodyStart) : code.indexOf(';', bodyStart) + 1 || code.length;
    total += (trips ?? 1) * weigh(code.slice(bodyStart, bodyEnd), tokens, loops);
    at = bodyEnd;
    forRe.lastIndex = bodyEnd;
  }
  return total + flat(code.slice(at), tokens);
}

function flat(code: string, tokens: Weights): number {
  let total = 0;
  for (const m of code.matchAll(/\b(\w+)\b(\s*\()?/g)) {
    const w = tokens[m[1]];
    if (w !== undefined) total += w;
  }
  return total;
}

const FETCH = ['texture2D', 'texture2DProj', 'textureCube', 'texture2DLod'];

/** Counts for one fragment of `source` (entry point main). */
export function countShader(source: string): ShaderCounts {
  const src = stripComments(source);
  let uniformVectors = 0;
  const uniformNames: string[] = [];
  for (const m of src.matchAll(/\buniform\s+(?:(?:lowp|mediump|highp)\s+)?(\w+)\s+(\w+)\s*(?:\[\s*(\d+)\s*\])?\s*;/g)) {
    if (/^sampler/.test(m[1])) continue;
    uniformNames.push(m[2]);
    const slots = /^mat(\d)/.exec(m[1]) ? Number(/^mat(\d)/.exec(m[1])![1]) : 1;
    uniformVectors += slots * (m[3] ? Number(m[3]) : 1);
  }
  // Functions in source order: GLSL ES 1.00 has no recursion and a callee is declared before its caller.
  const fns: { name: string; body: string }[] = [];
  const fnRe = /\b(?:void|float|int|bool|vec[234]|ivec[234]|bvec[234]|mat[234])\s+(\w+)\s*\([^()]*\)\s*\{/g;
  for (let m = fnRe.exec(src); m; m = fnRe.exec(src)) {
    const open = m.index + m[0].length - 1, end = closing(src, open);
    fns.push({ name: m[1], body: src.slice(open, end) });
    fnRe.lastIndex = end;
  }
  const loops = { unbounded: 0 };
  const cost = (base: Weights) => {
    const w: Weights = { ...base };
    for (const f of fns) w[f.name] = weigh(f.body, w, loops);
    return w.main ?? 0;
  };
  const fetches = cost(Object.fromEntries(FETCH.map((f) => [f, 1])));
  loops.unbounded = 0;
  const uniformReads = cost(Object.fromEntries(uniformNames.map((u) => [u, 1])));
  return { fetches, uniformReads, uniformVectors, unboundedLoops: loops.unbounded };
}
