// What each 16-bit vc4 kernel costs in one batch-B LeNet step (issue 10 item 1): the q16 kernels run
// in the order a training step would run them (src/kernels/gl/q16/), on a recorded context, and for
// every kernel: passes, fragments, texture fetches read off its emitted GLSL (cost/glsl-count.ts),
// its multiply-adds, and what Mesa's vc4 compiler makes of each program (QPU instructions, threads).
// Counts, not timings: the load of the machine does not change them.
//   xvfb-run -a -s '-screen 0 64x64x24' npx tsx bench/q16-kernel-cost.ts [--batch 64] [--taps 128] [--vc4-compiler PATH] [--json OUT] [--dump DIR]
import * as fs from 'node:fs';
import { GlEngine } from '../src/kernels/gl/engine';
import { loadGl } from '../src/kernels/gl/load-gl';
import { countShader } from '../src/kernels/gl/cost/glsl-count';
import { recordContext } from '../src/kernels/gl/cost/recorder';
import { compileVc4, findVc4Compiler, type Vc4ShaderStats } from '../src/kernels/gl/cost/vc4-compiler';
import { lenetMultiplyAdds } from '../src/bench/step-cost';
import { PI3_DEFAULTS, project } from '../src/kernels/gl/cost/pi3-model';
import { stepExponent } from '../src/kernels/gl/q16';
import * as q from '../src/kernels/gl/q16/index';
import { mulberry32 } from '../src/util/rng';

const arg = (name: string) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : undefined; };
const B = Number(arg('--batch') ?? 64), taps = Number(arg('--taps') ?? 128);
const f = loadGl();
if ('error' in f) throw new Error(f.error);
const raw = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
if (!raw) throw new Error('no GL context (run under xvfb-run)');
const rec = recordContext(raw);
const g = GlEngine.create({ gl: rec.gl, profile: 'vc4' });
const rnd = mulberry32(7);
const rand = (n: number, a: number) => Float32Array.from({ length: n }, () => (rnd() * 2 - 1) * a);

// a runRaw call is one framebuffer target and so one vc4 job, however many draws (uniform sets) it makes
let jobs = 0;
const runRaw = g.runRaw.bind(g);
g.runRaw = (pass) => { jobs++; runRaw(pass); };
interface Row { kernel: string; draws: number[]; jobs: number; mads: number }
const rows: Row[] = [];
/** Runs `f` and books the draws it made, with the multiply-adds it does, under `kernel`. */
function book<T>(kernel: string, mads: number, f: () => T): T {
  const d0 = rec.draws.length, j0 = jobs;
  const r = f();
  rows.push({ kernel, draws: Array.from({ length: rec.draws.length - d0 }, (_, i) => d0 + i), jobs: jobs - j0, mads });
  return r;
}
const sat = (name: string, t: q.Q16Tensor) => book(`saturation count (${name})`, 0, () => q.countSaturated(g, t));

const w1 = rand(20 * 25, 0.3), w2 = rand(50 * 20 * 25, 0.1), w3 = rand(800 * 500, 0.05), w4 = rand(500 * 10, 0.1);
// the images, uploaded twice from the host: in x-pairs for conv1's forward pass, in batch pairs for its weight gradient
const images = rand(B * 784, 1);
const x0 = q.uploadQ16(g, [B, 1, 28, 28], images, -15, rnd, 'x-pairs').t, x0b = q.uploadQ16(g, [B, 1, 28, 28], images, -15, rnd, 'batch-pairs').t;
const a1 = book('conv1 fwd + tanh', B * 20 * 576 * 25, () => q.conv2dQ16(g, x0, w1, [20, 1, 5, 5], rand(20, 0.1), 'tanh', -14, 1)); sat('a1', a1);
const p1 = book('pool1 fwd', 0, () => q.maxPoolQ16(g, a1));
const a2 = book('conv2 fwd + tanh', B * 50 * 64 * 500, () => q.conv2dQ16(g, p1, w2, [50, 20, 5, 5], rand(50, 0.1), 'tanh', -14, 2)); sat('a2', a2);
const p2 = book('pool2 fwd', 0, () => q.maxPoolQ16(g, a2));
const f3 = book('p2 -> flat (reshape)', 0, () => q.reshapeQ16(g, p2, [B, 800, 1, 1]));
const a3 = book('dense1 fwd + tanh', B * 800 * 500, () => q.denseQ16(g, f3, w3, [800, 500], rand(500, 0.1), 'tanh', -14, 3)); sat('a3', a3);
const z = book('dense2 fwd', B * 5000, () => q.denseQ16(g, a3, w4, [500, 10], rand(10, 0.1), 'none', -10, 4)); sat('z', z);
const { dLogits } = book('softmax cross-entropy (host) + upload', 0, () => q.softmaxCrossEntropyQ16(g, z, Array.from({ length: B }, (_, i) => i % 10), 5));
book('dense2 dW, dB', B * 5000, () => q.denseBackwardWeightQ16(g, a3, dLogits, taps));
const dA3 = book('dense2 dX', B * 5000, () => q.denseBackwardInputQ16(g, dLogits, w4, [500, 10], stepExponent(0.01), 6)); sat('dA3', dA3);
const dZ3 = book('tanh gradient (dense1)', 0, () => q.activationBackwardQ16(g, 'tanh', a3, dA3, dA3.e, 7)); sat('dZ3', dZ3);
book('dense1 dW, dB', B * 800 * 500, () => q.denseBackwardWeightQ16(g, f3, dZ3, taps));
const dF = book('dense1 dX', B * 800 * 500, () => q.denseBackwardInputQ16(g, dZ3, w3, [800, 500], stepExponent(0.01), 8)); sat('dF', dF);
const dP2 = book('flat -> p2 (reshape)', 0, () => q.reshapeQ16(g, dF, [B, 50, 4, 4]));
const dA2 = book('pool2 bwd', 0, () => q.maxPoolBackwardQ16(g, a2, dP2));
const dZ2 = book('tanh gradient (conv2)', 0, () => q.activationBackwardQ16(g, 'tanh', a2, dA2, dA2.e, 9)); sat('dZ2', dZ2);
book('conv2 dW, dB', B * 50 * 64 * 500, () => q.conv2dBackwardFilterQ16(g, p1, dZ2, [50, 20, 5, 5], taps));
const dP1 = book('conv2 dX', B * 50 * 64 * 500, () => q.conv2dBackwardInputQ16(g, dZ2, w2, [50, 20, 5, 5], [B, 20, 12, 12], stepExponent(0.01), 10)); sat('dP1', dP1);
const dA1 = book('pool1 bwd', 0, () => q.maxPoolBackwardQ16(g, a1, dP1));
const dZ1 = book('tanh gradient (conv1)', 0, () => q.activationBackwardQ16(g, 'tanh', a1, dA1, dA1.e, 11)); sat('dZ1', dZ1);
book('conv1 dW, dB', B * 20 * 576 * 25, () => q.conv2dBackwardFilterQ16(g, x0b, dZ1, [20, 1, 5, 5], taps));
g.flush();

// per program: fetches a fragment (from its GLSL) and the vc4 compiler's figures
const progIds = [...new Set(rec.draws.map((d) => d.program))];
const counts = new Map(progIds.map((p) => [p, countShader(rec.programs[p].fragmentSource)]));
const dump = arg('--dump');
if (dump) {
  fs.mkdirSync(dump, { recursive: true });
  fs.writeFileSync(`${dump}/vertex.glsl`, rec.programs[progIds[0]].vertexSource);
  for (const r of rows) [...new Set(r.draws.map((i) => rec.draws[i].program))].forEach((p, k) =>
    fs.writeFileSync(`${dump}/${r.kernel.replace(/[^a-z0-9]+/gi, '-')}-${k}.glsl`, rec.programs[p].fragmentSource));
}
const found = findVc4Compiler(arg('--vc4-compiler'));
const vc4 = new Map<number, Vc4ShaderStats | { error: string }>();
if ('path' in found) {
  const r = compileVc4(found.path, rec.programs[progIds[0]].vertexSource, progIds.map((p) => rec.programs[p].fragmentSource));
  progIds.forEach((p, i) => vc4.set(p, r.shaders[i]));
}
const out = rows.map((r) => {
  let fragments = 0, fetches = 0, lane = 0, threads = 2, failed = '';
  const programs = new Set<number>();
  for (const i of r.draws) {
    const d = rec.draws[i], s = vc4.get(d.program);
    programs.add(d.program);
    fragments += d.fragments;
    fetches += d.fragments * counts.get(d.program)!.fetches;
    if (s && 'error' in s) failed = s.error;
    else if (s) { lane += d.fragments * s.instructions; threads = Math.min(threads, s.threads); }
  }
  const instr = [...programs].map((p) => vc4.get(p)).filter((s): s is Vc4ShaderStats => !!s && !('error' in s)).map((s) => s.instructions);
  return { kernel: r.kernel, jobs: r.jobs, passes: r.draws.length, fragments, fetches, mads: r.mads, laneInstructions: vc4.size ? lane : null, instructions: instr, threads: vc4.size ? threads : null, failed };
});
const total = (k: 'fetches' | 'fragments' | 'passes' | 'jobs' | 'mads') => out.reduce((a, r) => a + r[k], 0);
const lane = out.reduce((a, r) => a + (r.laneInstructions ?? 0), 0), mads = lenetMultiplyAdds() * B;
const M = (n: number) => (n / 1e6).toFixed(1);
const L = [`| kernel | jobs | draws | fragments | M fetches | fetches / MAD | vc4 instr / fragment | threads | instr / MAD |`, '|---|---|---|---|---|---|---|---|---|'];
for (const r of out) {
  L.push(`| ${r.kernel} | ${r.jobs} | ${r.passes} | ${r.fragments} | ${M(r.fetches)} | ${r.mads ? (r.fetches / r.mads).toFixed(2) : '-'} | ${r.failed ? `FAILED: ${r.failed}` : r.instructions.join(', ')} | ${r.threads ?? '-'} | ${r.mads && r.laneInstructions ? (r.laneInstructions / r.mads).toFixed(2) : '-'} |`);
}
L.push(`| **step** | ${total('jobs')} | ${total('passes')} | ${total('fragments')} | **${M(total('fetches'))}** | ${(total('fetches') / mads).toFixed(2)} | | ${out.some((r) => r.threads === 1) ? 'some 1' : 'all 2'} | **${vc4.size ? (lane / mads).toFixed(2) : '-'}** |`);
console.log(`batch ${B}, weight-gradient taps a fragment ${taps}; ${M(mads)} M multiply-adds a step (lenetMultiplyAdds); vc4 compiler: ${'path' in found ? found.path : found.absent}`);
console.log(L.join('\n'));
// Pi 3 projection (cost/pi3-model.ts defaults), with the model's per-pass cost charged per job and per draw
if (vc4.size) for (const [what, passes] of [['jobs', total('jobs')], ['draws', total('passes')]] as const) {
  const pr = [project({ batch: B, passes, fetches: total('fetches'), laneInstructions: lane }), project({ batch: B, passes, fetches: total('fetches'), laneInstructions: lane }, PI3_DEFAULTS, PI3_DEFAULTS.idleClockMHz)];
  console.log(`projected Pi 3, pass cost per ${what} (${passes}): ${pr.map((p) => `${p.imagesPerSecond[0].toFixed(0)}-${p.imagesPerSecond[1].toFixed(0)} images/s at ${p.clockMHz} MHz`).join(', ')}; ` +
    `ceiling ${pr[0].ceiling.toFixed(0)} (${pr[0].bound}-bound: TMU ${(pr[0].tmuSeconds * 1e3).toFixed(0)} ms, ALU ${(pr[0].aluSeconds! * 1e3).toFixed(0)} ms a step at peak)`);
}
const json = arg('--json');
if (json) fs.writeFileSync(json, JSON.stringify({ batch: B, taps, multiplyAdds: mads, jobs: total('jobs'), draws: total('passes'), fetches: total('fetches'), laneInstructions: lane, kernels: out }, null, 1) + '\n');
g.destroy();
