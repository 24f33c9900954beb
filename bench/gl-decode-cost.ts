// Where a GL pass's time goes on this machine: the largest matrix product of a LeNet step
// ([64,800]·[800,500], the dense-500 forward) as one vc4 partial pass (32 terms, 64 fetches per
// fragment, 25 partial sums per output), run with the product's exact RGBA8 decode and with parts
// of it taken away, beside tfjs-webgl's matMul of the same shapes on the same context.
//   xvfb-run -a -s '-screen 0 64x64x24' npx tsx bench/gl-decode-cost.ts [repeats]
// The variants that drop the exact decode compute wrong numbers on purpose: they exist to price the
// decode and the addressing, and nothing else reads their output.
import { GlEngine } from '../src/kernels/gl/engine';
import { loadGl } from '../src/kernels/gl/load-gl';
import { glf } from '../src/kernels/gl/glsl';
import { layoutFor, type KernelSpec } from '../src/kernels/gl/program';
import type { GlTensor } from '../src/kernels/gl/tensor';
import { measureTfjsMatMul } from './gl-throughput';

const N = 64, I = 800, O = 500, T = 32, S = I / T;

function partialSpec(name: string, term: string): KernelSpec {
  const outSize = N * O * S;
  return {
    name, inputs: ['x', 'w'], inputSizes: [N * I, I * O], outSize, fetches: 2 * T,
    body: `
float kernel(float ii) {
  float part = idiv(ii, ${glf(1 / (N * O))});
  float i = ii - part * ${glf(N * O)};
  float n = idiv(i, ${glf(1 / O)});
  float o = i - n * ${glf(O)};
  float s = 0.0;
  for (int kk = 0; kk < ${T}; kk++) {
    float k = part * ${glf(T)} + float(kk);
    ${term}
    s += t;
  }
  return s;
}`,
  };
}

// Texture coordinate of flat index j in input `name` (the product's addressing, inlined).
function addr(name: 'x' | 'w', j: string): string {
  const l = layoutFor(name === 'x' ? N * I : I * O, 2048);
  return `vec2((${j} - floor((${j} + 0.5) * ${glf(1 / l.w)}) * ${glf(l.w)} + 0.5) * ${glf(1 / l.w)}, (floor((${j} + 0.5) * ${glf(1 / l.w)}) + 0.5) * ${glf(1 / l.h)})`;
}
const cheap = (t: string) => `dot(${t}, vec4(1.0, 0.00390625, 0.0000152587890625, 0.000000059604644775390625))`;

const VARIANTS: [string, string][] = [
  ['exact decode (product)', `float t = fetch_x(n * ${glf(I)} + k) * fetch_w(k * ${glf(O)} + o);`],
  ['one-dot decode, same addressing', `float t = ${cheap(`texture2D(u_x, ${addr('x', `(n * ${glf(I)} + k)`)})`)} * ${cheap(`texture2D(u_w, ${addr('w', `(k * ${glf(O)} + o)`)})`)};`],
  ['one-dot decode, fixed coordinates', `float t = ${cheap(`texture2D(u_x, vec2(k * ${glf(1 / 2048)}, n * ${glf(1 / 25)}))`)} * ${cheap(`texture2D(u_w, vec2(o * ${glf(1 / 2048)}, k * ${glf(1 / 196)}))`)};`],
  ['no fetch (ALU only)', `float t = k * n + o;`],
];

async function main(): Promise<void> {
  const repeats = Number(process.argv[2] ?? 5);
  const f = loadGl();
  if ('error' in f) throw new Error(f.error);
  const gl = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!gl) throw new Error('headless-gl returned no context (run under xvfb-run)');
  console.log(`renderer: ${gl.getParameter(gl.RENDERER)}; [${N},${I}]x[${I},${O}] as ${S} partial sums of ${T} terms (${N * O * S} fragments, ${2 * T} fetches each); median of ${repeats}`);
  const tf = await measureTfjsMatMul(N, I, O, repeats, gl);
  console.log(`tfjs-webgl matMul (whole product)          ${tf.toFixed(1)} ms`);
  const e = new GlEngine(gl, 'vc4');
  const x = e.tensor([N, I], Float32Array.from({ length: N * I }, (_, i) => Math.sin(i))) as GlTensor;
  const w = e.tensor([I, O], Float32Array.from({ length: I * O }, (_, i) => Math.cos(i))) as GlTensor;
  for (const [name, term] of VARIANTS) {
    const spec = partialSpec(`decode-cost:${name}`, term);
    const times: number[] = [];
    for (let r = 0; r <= repeats; r++) {
      e.flush();
      const t0 = performance.now();
      const out = e.run(spec, [x, w], [S, N, O]);
      e.flush();
      if (r > 0) times.push(performance.now() - t0); // the first run compiles
      e.dispose(out);
    }
    times.sort((a, b) => a - b);
    const ms = times[times.length >> 1];
    console.log(`${name.padEnd(42)} ${ms.toFixed(1)} ms  (${((2 * T * N * O * S) / ms / 1e3).toFixed(0)}M fetches/s, ${(ms / tf).toFixed(1)}x tfjs)`);
  }
  e.destroy();
}

main().catch((err) => { console.error('FAILED', err); process.exit(1); });
