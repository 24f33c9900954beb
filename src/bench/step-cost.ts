// `vctrain cost`: what one LeNet training step asks of a GPU in a profile, measured by recording the
// GL context during a real step (programs, draws, fragments per draw), the GLSL's per-fragment
// fetches and uniform reads, and for vc4 what Mesa's vc4 compiler makes of each program. From
// these, a projected Raspberry Pi 3 images/s (kernels/gl/cost/pi3-model.ts).
import { GlUnavailableError } from '../kernels/gl/errors';
import { loadGl } from '../kernels/gl/load-gl';
import type { ProfileName } from '../kernels/gl/profile';
import { glEngineOn, loadedGlDriver } from '../kernels/select';
import { countShader } from '../kernels/gl/cost/glsl-count';
import { recordContext } from '../kernels/gl/cost/recorder';
import { compileVc4, findVc4Compiler, type Vc4ShaderStats } from '../kernels/gl/cost/vc4-compiler';
import { loadModel, project, type Pi3Model, type Projection } from '../kernels/gl/cost/pi3-model';
import { LeNet, initParams, mulberry32 } from '../net/lenet';
import { IMAGE_SIDE, PARAMS } from '../net/spec';

export interface ProgramCost {
  /** The program's position among those the step drew with (first use order). */
  id: number;
  draws: number;
  fragments: number;
  fetchesPerFragment: number;
  uniformReadsPerFragment: number;
  uniformVectors: number;
  vc4?: Vc4ShaderStats | { error: string };
}

export interface CostReport {
  profile: ProfileName;
  batch: number;
  renderer: string;
  multiplyAdds: number;
  passes: number;
  draws: number;
  /** GPU jobs (runs of draws into one target; see recorder.ts): what the per-pass cost is paid on. */
  jobs: number;
  fragments: number;
  fetches: number;
  /** The engine's own count of fetches (from its kernel specs), beside the one read off the GLSL. */
  engineFetches: number;
  uniformReads: number;
  programs: ProgramCost[];
  vc4: {
    compiler?: string;
    /** Why there are no vc4 figures, when there are none. */
    absent?: string;
    maxFragmentUniformVectors?: number;
    laneInstructions?: number;
    instructionsPerMultiplyAdd?: number;
    singleThreaded?: number;
    /** Programs over 1% of the step's lane-instructions that run single-threaded. */
    heavySingleThreaded?: number[];
    failed?: number;
  };
  model: Pi3Model;
  projection: { busy: Projection; idle: Projection };
}

/** Multiply-adds of one training step per image: forward, weight gradients, and input gradients of all but the first layer. */
export function lenetMultiplyAdds(): number {
  const shape = (n: string) => PARAMS.find((p) => p.name === n)!.shape;
  const [c1, , k1] = shape('conv1.w'), [c2, c1in, k2] = shape('conv2.w');
  const s1 = IMAGE_SIDE - k1 + 1, s2 = s1 / 2 - k2 + 1;
  const conv1 = s1 * s1 * c1 * k1 * k1, conv2 = s2 * s2 * c2 * c1in * k2 * k2;
  const [i3, o3] = shape('fc1.w'), [i4, o4] = shape('fc2.w');
  const fwd = conv1 + conv2 + i3 * o3 + i4 * o4;
  return fwd /* forward */ + fwd /* weight gradients */ + (conv2 + i3 * o3 + i4 * o4) /* input gradients */;
}

export interface CostOptions {
  profile: ProfileName;
  batch?: number;
  /** Path of vc4stats.sh; false: do not run the vc4 compiler. */
  vc4Compiler?: string | false;
  /** A calibration file from `vctrain probe --calibrate --json` in place of the model's defaults. */
  calibration?: string;
}

export function measureStepCost(o: CostOptions): CostReport {
  const batch = o.batch ?? 64;
  const f = loadGl();
  if ('error' in f) throw new GlUnavailableError(f.error);
  const raw = f.create(1, 1, { alpha: false, antialias: false, depth: false, stencil: false, preserveDrawingBuffer: false });
  if (!raw) throw new GlUnavailableError('headless-gl returned no context (run under xvfb-run, or set DISPLAY)');
  const rec = recordContext(raw);
  // vc4 counts the 16-bit step the profile trains with; vc4-exact and desktop the exact packing
  const engine = glEngineOn(rec.gl, o.profile);
  const rnd = mulberry32(5);
  const net = new LeNet(engine, initParams(5));
  const images = Float32Array.from({ length: batch * IMAGE_SIDE * IMAGE_SIDE }, () => rnd());
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  const sgd = { lr: 0.05, momentum: 0.9, weightDecay: 1e-4 };
  // The first step builds the programs; the second is the one counted.
  net.step(images, labels, sgd);
  engine.flush();
  rec.resetDraws();
  const before = engine.stats.fetches, passes0 = engine.stats.passes;
  net.step(images, labels, sgd);
  engine.flush();
  const engineFetches = engine.stats.fetches - before, passes = engine.stats.passes - passes0;
  const driver = loadedGlDriver();
  const renderer = driver ? `${engine.renderer} (${driver})` : engine.renderer;
  net.destroy();
  engine.destroy();

  const used = new Map<number, ProgramCost>();
  for (const d of rec.draws) {
    let p = used.get(d.program);
    if (!p) {
      const c = countShader(rec.programs[d.program].fragmentSource);
      p = { id: used.size, draws: 0, fragments: 0, fetchesPerFragment: c.fetches, uniformReadsPerFragment: c.uniformReads, uniformVectors: c.uniformVectors };
      used.set(d.program, p);
    }
    p.draws++;
    p.fragments += d.fragments;
  }
  const programs = [...used.values()];
  const sum = (f: (p: ProgramCost) => number) => programs.reduce((a, p) => a + f(p), 0);
  const multiplyAdds = lenetMultiplyAdds() * batch;
  const vc4: CostReport['vc4'] = {};
  const found = o.vc4Compiler === false ? { absent: 'not asked for (--no-vc4)' } : findVc4Compiler(o.vc4Compiler);
  if ('absent' in found) vc4.absent = found.absent;
  else {
    const keys = [...used.keys()];
    const r = compileVc4(found.path, rec.programs[keys[0]]?.vertexSource ?? '', keys.map((k) => rec.programs[k].fragmentSource));
    vc4.compiler = found.path;
    vc4.maxFragmentUniformVectors = r.maxFragmentUniformVectors;
    programs.forEach((p, i) => { p.vc4 = r.shaders[i]; });
    const ok = programs.filter((p) => p.vc4 && !('error' in p.vc4));
    vc4.failed = programs.length - ok.length;
    if (!ok.length) throw new Error(`${found.path}: no program compiled (${(programs[0]?.vc4 as { error?: string })?.error ?? 'no output'}); is it the vc4stats.sh of scripts/vc4-compiler.sh?`);
    const lane = (p: ProgramCost) => p.fragments * (p.vc4 as Vc4ShaderStats).instructions;
    vc4.laneInstructions = ok.reduce((a, p) => a + lane(p), 0);
    vc4.instructionsPerMultiplyAdd = vc4.laneInstructions / multiplyAdds;
    vc4.singleThreaded = ok.filter((p) => (p.vc4 as Vc4ShaderStats).threads < 2).length;
    vc4.heavySingleThreaded = ok.filter((p) => lane(p) > 0.01 * vc4.laneInstructions! && (p.vc4 as Vc4ShaderStats).threads < 2).map((p) => p.id);
  }
  const model = loadModel(o.calibration);
  const jobs = new Set(rec.draws.map((d) => d.job)).size;
  const counts = { batch, passes: jobs, fetches: sum((p) => p.fetchesPerFragment * p.fragments), laneInstructions: vc4.laneInstructions ?? null };
  return {
    profile: o.profile, batch, renderer, multiplyAdds, passes, draws: rec.draws.length, jobs, fragments: sum((p) => p.fragments),
    fetches: counts.fetches, engineFetches, uniformReads: sum((p) => p.uniformReadsPerFragment * p.fragments), programs, vc4, model,
    projection: { busy: project(counts, model), idle: project(counts, model, model.idleClockMHz) },
  };
}

const M = (n: number) => `${(n / 1e6).toFixed(1)}M`;

/** One line: the projected Pi 3 rate and what bounds it (used beside the measured rate by `vctrain bench`). */
export function projectionLine(r: CostReport): string {
  const p = r.projection.busy, q = r.projection.idle;
  const range = (x: Projection) => `${x.imagesPerSecond[0].toFixed(0)}-${x.imagesPerSecond[1].toFixed(0)}`;
  return `projected Pi 3 (${r.profile}): ${range(p)} images/s at ${p.clockMHz} MHz, ${range(q)} at ${q.clockMHz} MHz; ` +
    `ceiling ${p.ceiling.toFixed(0)}, ${p.fetchesOnly ? 'fetches only (no vc4 instruction counts: an upper bound)' : `${p.bound}-bound`}; model: ${r.model.from}`;
}

export function formatCost(r: CostReport): string {
  const L: string[] = [];
  L.push(`# Cost of one training step: profile ${r.profile}, batch ${r.batch}`, '');
  L.push(`Recorded on ${r.renderer}. ${M(r.multiplyAdds)} multiply-adds.`, '');
  L.push('| passes | draws | GPU jobs | programs | fragments | texture fetches | fetches / multiply-add | uniform reads |', '|---|---|---|---|---|---|---|---|');
  L.push(`| ${r.passes} | ${r.draws} | ${r.jobs} | ${r.programs.length} | ${M(r.fragments)} | ${M(r.fetches)} (engine's count ${M(r.engineFetches)}) | ${(r.fetches / r.multiplyAdds).toFixed(2)} | ${M(r.uniformReads)} |`, '');
  const v = r.vc4;
  if (v.absent) L.push(`vc4 compiler: none (${v.absent}); no QPU instruction counts.`, '');
  else {
    L.push(`vc4 compiler: ${v.compiler}; MAX_FRAGMENT_UNIFORM_VECTORS ${v.maxFragmentUniformVectors ?? '?'}.`);
    L.push(`QPU lane-instructions ${(v.laneInstructions! / 1e9).toFixed(2)}G = ${v.instructionsPerMultiplyAdd!.toFixed(1)} per multiply-add; ` +
      `${v.singleThreaded} of ${r.programs.length} programs single-threaded (heavy ones: ${v.heavySingleThreaded!.length ? v.heavySingleThreaded!.join(', ') : 'none'}); ${v.failed} failed to compile.`, '');
  }
  L.push(projectionLine(r), '');
  L.push('| program | draws | fragments | fetches/frag | uniform reads/frag | uniform vec4 | vc4 instr | threads | vc4 uniforms | share of lane-instr |');
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const p of r.programs) {
    const s = p.vc4 && !('error' in p.vc4) ? p.vc4 : null;
    const share = s && v.laneInstructions ? `${((100 * p.fragments * s.instructions) / v.laneInstructions).toFixed(1)}%` : '';
    L.push(`| ${p.id} | ${p.draws} | ${p.fragments} | ${p.fetchesPerFragment} | ${p.uniformReadsPerFragment} | ${p.uniformVectors} | ${s ? s.instructions : p.vc4 ? `failed: ${(p.vc4 as { error: string }).error.slice(0, 60)}` : ''} | ${s?.threads ?? ''} | ${s?.uniforms ?? ''} | ${share} |`);
  }
  return L.join('\n');
}
