// `vctrain bench`: training throughput of one board, per engine and batch size, with the peers
// (TensorFlow.js, PyTorch) measured in the same run so that the ratios mean something on a machine
// whose speed drifts. Everything is timed by src/bench/measure.ts: warm-up, several runs, median.
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from '../kernels/engine';
import { CpuEngine } from '../kernels/cpu/engine';
import { loadGl } from '../kernels/gl/load-gl';
import { GlEngine } from '../kernels/gl/engine';
import { FloatEngine } from '../kernels/gl/float/engine';
import { glEngineFor, loadedGlDriver } from '../kernels/select';
import type { ProfileName } from '../kernels/gl/profile';
import { measureStepCost, projectionLine } from './step-cost';
import { LeNet, initParams, mulberry32 } from '../net/lenet';
import { timeSteps, type TimeOptions, type Timing } from './measure';
import { benchTfjs, benchTorch, type PeerResult } from './peers';
import { cores } from '../util/cores';

export interface BenchOptions {
  /** Batch sizes; default 16, 64, 256. */
  batches?: number[];
  /** Fewer and shorter runs: a smoke test of the whole table, not a figure to quote. */
  quick?: boolean;
  runs?: number;
  minSeconds?: number;
  /** Only these row ids (see ROWS); default all. */
  only?: string[];
  seed?: number;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
}

export interface KernelStat {
  name: string;
  calls: number;
  ms: number;
  passes: number;
  fetches: number;
}

export interface BenchRow {
  id: string;
  label: string;
  kind: 'vctrain' | 'peer';
  batch: number;
  status: 'ok' | 'unavailable' | 'failed';
  imagesPerSecond?: number;
  msPerStep?: number;
  rates?: number[];
  note?: string;
  /** GL engine only, when it keeps per-kernel counters: per training step. */
  kernels?: KernelStat[];
}

export interface BenchRatio {
  batch: number;
  ours: string;
  peer: string;
  /** ours / peer images per second: above 1 means vctrain is faster. */
  ratio: number;
}

export interface BenchReport {
  kind: 'vctrain-bench';
  date: string;
  commit?: string;
  machine: { cpu: string; cores: number; arch: string; platform: string; node: string; renderer?: string; glVersion?: string; loadAverage?: number[] };
  settings: { batches: number[]; runs: number; minSeconds: number; lr: number; network: string };
  rows: BenchRow[];
  ratios: BenchRatio[];
  /** Per GL profile benched: the projected Pi 3 rate of its batch-64 step (bench/step-cost.ts), beside the measured rows. */
  projections?: { id: string; batch: number; imagesPerSecond: [number, number]; line: string }[];
  wallSeconds: number;
}

const LR = 0.05;

interface RowDef {
  id: string;
  label: string;
  kind: 'vctrain' | 'peer';
}

export const ROWS: RowDef[] = [
  { id: 'cpu-1', label: 'vctrain cpu, 1 thread', kind: 'vctrain' },
  { id: 'cpu-all', label: `vctrain cpu, all cores`, kind: 'vctrain' },
  { id: 'gl-vc4', label: 'vctrain gl, vc4 profile (16-bit)', kind: 'vctrain' },
  { id: 'gl-vc4-exact', label: 'vctrain gl, vc4-exact profile', kind: 'vctrain' },
  { id: 'gl-desktop', label: 'vctrain gl, desktop profile', kind: 'vctrain' },
  { id: 'gl-float', label: 'vctrain gl, float profile (RGBA32F)', kind: 'vctrain' },
  { id: 'tfjs-cpu', label: 'TensorFlow.js cpu', kind: 'peer' },
  { id: 'tfjs-webgl', label: 'TensorFlow.js webgl (headless-gl)', kind: 'peer' },
  { id: 'torch-1', label: 'PyTorch cpu, 1 thread', kind: 'peer' },
  { id: 'torch-all', label: 'PyTorch cpu, all cores', kind: 'peer' },
];

// Engine calls timed one by one for the per-kernel table (each followed by flush(), so the time
// is the op's own, not whatever the driver had queued), with the GL engine's pass and fetch
// counters read around each call.
const OPS = [
  'conv2d', 'conv2dBackwardInput', 'conv2dBackwardFilter', 'dense', 'denseBackwardInput', 'denseBackwardWeight',
  'biasGrad', 'activationBackward', 'maxPool', 'maxPoolBackward', 'softmaxCrossEntropy', 'sgdUpdate', 'tensor', 'read',
] as const;

interface PassCounters {
  stats?: { passes: number; fetches: number };
}

function profiledEngine(engine: Engine, into: Map<string, KernelStat>): Engine {
  const counters = (engine as unknown as PassCounters).stats;
  return new Proxy(engine, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      if (!(OPS as readonly string[]).includes(prop as string)) return v.bind(target);
      return (...args: unknown[]) => {
        const p0 = counters?.passes ?? 0, f0 = counters?.fetches ?? 0;
        const t0 = performance.now();
        const r = v.apply(target, args);
        target.flush();
        const ms = performance.now() - t0;
        const k = into.get(prop as string) ?? { name: prop as string, calls: 0, ms: 0, passes: 0, fetches: 0 };
        k.calls++;
        k.ms += ms;
        k.passes += (counters?.passes ?? 0) - p0;
        k.fetches += (counters?.fetches ?? 0) - f0;
        into.set(prop as string, k);
        return r;
      };
    },
  });
}

type Made = { engine: Engine } | { error: string };

/** A GL row's profile: the id after `gl-`. */
const glProfileOf = (id: string): ProfileName => id.slice(3) as ProfileName;

async function makeEngine(id: string, all: number): Promise<Made> {
  if (id === 'cpu-1') return { engine: new CpuEngine({ threads: 1 }) };
  if (id === 'cpu-all') return { engine: new CpuEngine({ threads: all }) };
  try {
    if (id === 'gl-float') return { engine: FloatEngine.create() };
    const profile = glProfileOf(id);
    return { engine: glEngineFor(GlEngine.create({ profile: profile === 'vc4' ? 'vc4-exact' : profile }), profile) };
  } catch (e) {
    return { error: (e as Error).message.split('\n')[0] };
  }
}

async function benchEngine(engine: Engine, o: TimeOptions & { profileSteps: number }, seed: number): Promise<Omit<BenchRow, 'id' | 'label' | 'kind' | 'batch'>> {
  const rnd = mulberry32(seed + o.batch);
  const images = new Float32Array(o.batch * 784).map(() => rnd());
  const labels = new Uint8Array(o.batch).map(() => Math.floor(rnd() * 10));
  const sgd = { lr: LR, momentum: 0, weightDecay: 0 };
  const net = new LeNet(engine, initParams(seed));
  let t: Timing;
  try {
    t = await timeSteps(() => {
      net.step(images, labels, sgd);
    }, o);
    engine.flush();
  } finally {
    net.destroy();
  }
  let kernels: KernelStat[] | undefined;
  if (engine.kind === 'gl') {
    // A few more steps through the timing proxy, reported per step.
    const acc = new Map<string, KernelStat>();
    const pnet = new LeNet(profiledEngine(engine, acc), initParams(seed));
    try {
      // Every program was compiled during the timed runs; quick mode profiles a single step.
      const n = o.profileSteps;
      for (let i = 0; i < n; i++) pnet.step(images, labels, sgd);
      kernels = [...acc.values()].map((k) => ({ ...k, calls: k.calls / n, ms: k.ms / n, passes: k.passes / n, fetches: k.fetches / n }));
    } finally {
      pnet.destroy();
    }
  }
  return { status: 'ok', imagesPerSecond: t.imagesPerSecond, msPerStep: t.msPerStep, rates: t.rates, note: t.note, kernels };
}


function glRendererInfo(): { renderer?: string; glVersion?: string } {
  const gl = loadGl();
  if ('error' in gl) return {};
  try {
    const ctx = gl.create(1, 1);
    if (!ctx) return {};
    const ext = ctx.getExtension('WEBGL_debug_renderer_info');
    const webglRenderer = String(ext ? ctx.getParameter(ext.UNMASKED_RENDERER_WEBGL) : ctx.getParameter(ctx.RENDERER));
    const driver = loadedGlDriver();
    const glVersion = String(ctx.getParameter(ctx.VERSION));
    ctx.getExtension('STACKGL_destroy_context')?.destroy();
    return { renderer: driver ? `${driver} via ${webglRenderer}` : webglRenderer, glVersion };
  } catch {
    return {};
  }
}

function gitCommit(): string | undefined {
  try {
    const dir = path.resolve(__dirname, '..', '..');
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return head + (dirty ? '+uncommitted-src' : '');
  } catch {
    return undefined;
  }
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchReport> {
  const t0 = performance.now();
  // Other work on the machine changes every row; the load when the bench started says how much.
  const loadAverage = os.loadavg().map((x) => +x.toFixed(2));
  const log = opts.log ?? (() => {});
  const batches = [...(opts.batches ?? [16, 64, 256])].sort((a, b) => a - b);
  const runs = opts.runs ?? (opts.quick ? 3 : 5);
  const minSeconds = opts.minSeconds ?? (opts.quick ? 0.3 : 1.5);
  const budgetSeconds = opts.quick ? 8 : 60;
  const seed = opts.seed ?? 1;
  const all = cores();
  const only = opts.only ? new Set(opts.only) : null;
  const defs = ROWS.filter((r) => !only || only.has(r.id));
  const rows: BenchRow[] = [];

  for (const def of defs) {
    const label = def.id.endsWith('-all') ? `${def.label} (${all})` : def.label;
    if (def.kind === 'vctrain') {
      const made = await makeEngine(def.id, all);
      if ('error' in made) {
        log(`${label}: unavailable: ${made.error}`);
        for (const batch of batches) rows.push({ id: def.id, label, kind: def.kind, batch, status: 'unavailable', note: made.error });
        continue;
      }
      const label2 = `${label} [${made.engine.description}]`;
      try {
        for (const batch of batches) {
          const max = made.engine.maxBatch;
          if (max !== undefined && batch > max) {
            rows.push({ id: def.id, label: label2, kind: def.kind, batch, status: 'unavailable', note: `batch ${batch} > the ${max} this engine takes` });
            continue;
          }
          log(`${label}: batch ${batch}...`);
          try {
            const r = await benchEngine(made.engine, { batch, runs, minSeconds, budgetSeconds, profileSteps: opts.quick ? 1 : 3 }, seed);
            rows.push({ id: def.id, label: label2, kind: def.kind, batch, ...r });
            log(`${label}: batch ${batch}: ${r.imagesPerSecond?.toFixed(1)} img/s`);
          } catch (e) {
            rows.push({ id: def.id, label: label2, kind: def.kind, batch, status: 'failed', note: (e as Error).message.split('\n')[0] });
            log(`${label}: batch ${batch}: failed: ${(e as Error).message}`);
          }
        }
      } finally {
        made.engine.destroy();
      }
      continue;
    }
    for (const batch of batches) {
      log(`${label}: batch ${batch}...`);
      const o = { batch, runs, minSeconds, budgetSeconds };
      let p: PeerResult;
      if (def.id === 'tfjs-cpu') p = await benchTfjs('cpu', o, seed);
      else if (def.id === 'tfjs-webgl') p = await benchTfjs('webgl', o, seed);
      else p = benchTorch(def.id === 'torch-1' ? 1 : all, o);
      if (p.status === 'ok') {
        rows.push({ id: def.id, label: `${label} [${p.version}]`, kind: 'peer', batch, status: 'ok', imagesPerSecond: p.imagesPerSecond, msPerStep: p.msPerStep, rates: p.rates, note: p.note });
        log(`${label}: batch ${batch}: ${p.imagesPerSecond.toFixed(1)} img/s`);
      } else {
        rows.push({ id: def.id, label, kind: 'peer', batch, status: p.status, note: p.note });
        log(`${label}: ${p.status}: ${p.note}`);
        // A peer that is not there is not there at any batch size.
        if (p.status === 'unavailable') {
          for (const b of batches.filter((x) => x > batch)) rows.push({ id: def.id, label, kind: 'peer', batch: b, status: p.status, note: p.note });
          break;
        }
      }
    }
  }

  const ratios: BenchRatio[] = [];
  for (const batch of batches) {
    const ok = rows.filter((r) => r.batch === batch && r.status === 'ok');
    for (const ours of ok.filter((r) => r.kind === 'vctrain')) {
      for (const peer of ok.filter((r) => r.kind === 'peer')) {
        ratios.push({ batch, ours: ours.id, peer: peer.id, ratio: ours.imagesPerSecond! / peer.imagesPerSecond! });
      }
    }
  }

  // The Pi 3 the GL rows stand for: each profile's batch-64 step (or the smallest benched batch) counted and projected by the one
  // model (a second context, after the timed runs, so it does not disturb them).
  const projections: NonNullable<BenchReport['projections']> = [];
  const projBatch = batches.includes(64) ? 64 : batches[0];
  // Not the float profile: a Pi 3's VideoCore IV has no float render targets, so no Pi 3 runs it.
  for (const id of new Set(rows.filter((r) => r.status === 'ok' && r.id.startsWith('gl-') && r.id !== 'gl-float').map((r) => r.id))) {
    try {
      const c = measureStepCost({ profile: glProfileOf(id), batch: projBatch });
      projections.push({ id, batch: projBatch, imagesPerSecond: c.projection.busy.imagesPerSecond, line: projectionLine(c) });
    } catch (e) {
      log(`${id}: no projection: ${(e as Error).message}`);
    }
  }

  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown cpu';
  return {
    kind: 'vctrain-bench',
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cpu, cores: all, arch: process.arch, platform: `${os.platform()} ${os.release()}`, node: process.version, loadAverage, ...glRendererInfo() },
    settings: { batches, runs, minSeconds, lr: LR, network: 'LeNet (MXNet train_mnist), tanh, SGD, random inputs' },
    rows,
    ratios,
    projections,
    wallSeconds: (performance.now() - t0) / 1000,
  };
}

function fmtRate(r: BenchRow | undefined): string {
  if (!r) return '-';
  if (r.status !== 'ok') return r.status === 'failed' ? 'failed' : 'n/a';
  const v = r.imagesPerSecond!;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function table(head: string[], body: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' | ') + ' |';
  return [line(head), '|' + w.map((x, i) => (i === 0 ? '-'.repeat(x + 2) : '-'.repeat(x + 1) + ':')).join('|') + '|', ...body.map(line)];
}

/** The human-readable report: a markdown table of images/s, the ratios, GL kernels, and what was missing. */
export function formatBench(r: BenchReport): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`vctrain bench ${r.date}${r.commit ? ` at commit ${r.commit}` : ''}`);
  out.push(`machine: ${m.cpu}, ${m.cores} cores, ${m.arch}, ${m.platform}, node ${m.node}${m.loadAverage ? `; load average ${m.loadAverage.join(' ')} at start` : ''}`);
  out.push(`GL renderer: ${m.renderer ? `${m.renderer} (${m.glVersion})` : 'none (no gl context)'}`);
  out.push(`settings: ${r.settings.network}, lr ${r.settings.lr}; median of ${r.settings.runs} runs of >= ${r.settings.minSeconds} s after a warm-up`);
  out.push('');
  out.push('training images/s per board (higher is better)');
  const ids = [...new Set(r.rows.map((x) => x.id))];
  const body = ids.map((id) => {
    const rs = r.rows.filter((x) => x.id === id);
    const ok = rs.find((x) => x.status === 'ok');
    return [(ok ?? rs[0]).label, ...r.settings.batches.map((b) => fmtRate(rs.find((x) => x.batch === b)))];
  });
  out.push(...table(['engine', ...r.settings.batches.map((b) => `batch ${b}`)], body));

  if (r.projections?.length) out.push('', 'measured on this machine beside the projection for a Raspberry Pi 3 (vctrain cost)');
  for (const p of r.projections ?? []) {
    const here = r.rows.find((x) => x.id === p.id && x.batch === p.batch && x.status === 'ok');
    out.push(`${p.id} batch ${p.batch}: measured here ${here ? fmtRate(here) : 'n/a'} images/s; ${p.line}`);
  }

  const peers = ids.filter((id) => r.ratios.some((q) => q.peer === id));
  const ours = ids.filter((id) => r.ratios.some((q) => q.ours === id));
  if (peers.length && ours.length) {
    for (const b of r.settings.batches) {
      const rb = r.ratios.filter((q) => q.batch === b);
      if (!rb.length) continue;
      out.push('');
      out.push(`ratios at batch ${b}: vctrain / peer (above 1: vctrain faster)`);
      out.push(
        ...table(
          ['', ...peers],
          ours.map((o) => [o, ...peers.map((p) => rb.find((q) => q.ours === o && q.peer === p)?.ratio.toFixed(2) ?? '-')]),
        ),
      );
    }
  }

  for (const row of r.rows.filter((x) => x.kernels?.length)) {
    out.push('');
    out.push(`${row.id} at batch ${row.batch}: per training step`);
    const ks = row.kernels!;
    const tot = ks.reduce((a, k) => ({ ms: a.ms + k.ms, passes: a.passes + k.passes, fetches: a.fetches + k.fetches }), { ms: 0, passes: 0, fetches: 0 });
    out.push(
      ...table(
        ['kernel', 'calls', 'ms', 'passes', 'texture fetches'],
        [...ks.map((k) => [k.name, k.calls.toFixed(0), k.ms.toFixed(2), k.passes.toFixed(0), k.fetches.toExponential(2)]), ['total', '', tot.ms.toFixed(2), tot.passes.toFixed(0), tot.fetches.toExponential(2)]],
      ),
    );
  }

  const notes = r.rows.filter((x) => x.note);
  if (notes.length) {
    out.push('');
    const seen = new Set<string>();
    for (const n of notes) {
      const s = `${n.id}${n.status === 'ok' ? ` batch ${n.batch}` : ''}: ${n.status === 'ok' ? '' : n.status + ': '}${n.note}`;
      if (!seen.has(s)) out.push(`note ${s}`);
      seen.add(s);
    }
  }
  out.push('');
  out.push(`bench took ${r.wallSeconds.toFixed(0)} s`);
  return out.join('\n');
}
