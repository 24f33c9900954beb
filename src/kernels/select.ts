// Chooses the engine a run trains on: the one place that knows both engines exist.
// gl is taken only if `gl` loads, a context opens, every program builds and the self-test agrees
// with the CPU twin; `auto` then rates each with the caller's rate function (net/ times a few
// model steps) and keeps the faster. Whatever is chosen, `reason` is the one line that says why.
// A GL fault later in training is the trainer's business (net/train.ts restores from its snapshot).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from './engine';
import { CpuEngine } from './cpu/engine';
import { GlEngine } from './gl/engine';
import { GlFaultError, GlUnavailableError } from './gl/errors';
import { FloatEngine } from './gl/float/engine';
import type { WebGLContext } from './gl/load-gl';
import { Q16GlEngine } from './gl/q16-engine';
import { chooseProfile, contextFacts, floatUnsupported, type ContextFacts, type ProfileName } from './gl/profile';
import { selfTest } from './selftest';

export type Device = 'auto' | 'gl' | 'cpu';
export type Profile = ProfileName;

export interface EngineChoice {
  engine: Engine;
  /** One line for the user: which engine, and why (e.g. why the GL engine was not taken). */
  reason: string;
  device: 'gl' | 'cpu';
  profile?: Profile;
}

export interface SelectOptions {
  device: Device;
  profile?: Profile;
  threads?: number;
  log?: (line: string) => void;
  /** Tests only: make the GL path fail in a chosen way, to exercise each fallback. */
  inject?: { noGl?: boolean; noContext?: boolean; breakShader?: boolean; skewSelfTest?: number };
  /** Self-test tolerance (largest error relative to the op's largest magnitude). */
  tolerance?: number;
  /** Images per second an engine trains at; `--device auto` needs it to compare the two. */
  rate?: (e: Engine) => number;
}

/** What the host says its GPU is: headless-gl's WebGL renderer string is always "ANGLE", so the
 *  DRM driver bound to the display device and the board model are read instead. */
export function hostGpu(): string {
  const parts: string[] = [];
  try {
    for (const card of fs.readdirSync('/sys/class/drm')) {
      if (!/^card\d+$/.test(card)) continue;
      try { parts.push(`drm ${card}: ${fs.realpathSync(`/sys/class/drm/${card}/device/driver`).split('/').pop()}`); } catch { /* no driver link */ }
    }
  } catch { /* no DRM */ }
  try { parts.push(fs.readFileSync('/proc/device-tree/model', 'utf8').replace(/\0/g, '').trim()); } catch { /* not a device-tree board */ }
  return parts.join('; ');
}

/** The Mesa DRI driver this process loaded (after a context opened): the real renderer behind
 *  headless-gl's "ANGLE" (swrast = llvmpipe, vc4 = a Pi 0-3's VideoCore IV, v3d = a Pi 4/5's). */
export function loadedGlDriver(): string | undefined {
  try {
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    const libs = new Set(maps.split('\n').map((l) => path.basename(l.trim().split(/\s+/)[5] ?? '')).filter(Boolean));
    const dri = [...libs].filter((l) => /_dri\.so/.test(l));
    if (!dri.length) return undefined;
    const llvm = [...libs].some((l) => /^libLLVM/.test(l));
    return dri.map((d) => (d.startsWith('swrast') ? `Mesa ${d} (${llvm ? 'llvmpipe' : 'softpipe'}: software, on the CPU)` : `Mesa ${d}`)).join(', ');
  } catch {
    return undefined;
  }
}

/** hostGpu() plus the loaded GL driver: what chooseProfile and probe are told about this host. */
export function hostGl(): string {
  const d = loadedGlDriver();
  return [hostGpu(), d ? `GL driver: ${d}` : ''].filter(Boolean).join('; ');
}

/** The facts of a live context, with whether it renders to RGBA32F (tried on it). */
export function liveFacts(gl: WebGLContext, host: string): ContextFacts {
  return { ...contextFacts(gl, host), floatUnsupported: floatUnsupported(gl) };
}

export type AnyGlEngine = GlEngine | FloatEngine | Q16GlEngine;

/** The engine of a profile on an open context: the float profile has its own engine; `vc4` trains
 *  in 16-bit storage over an exact engine's context and program cache; the others are the exact engine. */
export function glEngineOn(gl: WebGLContext, profile: ProfileName): AnyGlEngine {
  if (profile === 'float') return new FloatEngine(gl);
  if (profile === 'vc4') return new Q16GlEngine(new GlEngine(gl, 'vc4'));
  return new GlEngine(gl, profile);
}

/** glEngineOn, reusing `base` where it already is that profile's exact engine. */
export function glEngineFor(base: GlEngine, profile: ProfileName): AnyGlEngine {
  if (profile === 'vc4' && base.profile.name === 'vc4') return new Q16GlEngine(base);
  return profile === base.profile.name && profile !== 'vc4' ? base : glEngineOn(base.gl, profile);
}

/** Self-test tolerance of a profile. q16: a store's error is below one step, and the step is at
 *  most 2^(headroom+1) = 4 times max-abs/32767 (1.2e-4 of the op's largest value); an op reads
 *  inputs that were stored too, and the self-test's largest fan-in (conv2d: 27 taps of weights
 *  up to 0.5, inputs up to 1) turns their steps into up to 27·0.5·1.2e-4 = 1.6e-3 of an output
 *  near 1. 2e-3 still catches a wrong op (a lost tap or a x(1+1e-2) skew). */
export function selfTestTolerance(profile: ProfileName): number { return profile === 'vc4' ? 2e-3 : 1e-4; }

export function openGl(opts: Pick<SelectOptions, 'profile' | 'inject'>): { engine: AnyGlEngine; why: string } {
  if (opts.inject?.noGl) throw new GlUnavailableError("the optional package 'gl' is not installed (injected)");
  if (opts.inject?.noContext) throw new GlUnavailableError('headless-gl returned no context (injected)');
  const probe = GlEngine.create({ profile: opts.profile && opts.profile !== 'float' && opts.profile !== 'vc4' ? opts.profile : 'vc4-exact' });
  const { profile, why } = chooseProfile(liveFacts(probe.gl, hostGl()), opts.profile);
  const engine = glEngineFor(probe, profile);
  if (opts.inject?.breakShader) {
    if (engine instanceof FloatEngine) throw new TypeError('inject.breakShader: only the RGBA8 profiles take a broken shader');
    (engine instanceof Q16GlEngine ? engine.gl : engine).injectShaderFault = true;
  }
  return { engine, why };
}

export async function selectEngine(opts: SelectOptions): Promise<EngineChoice> {
  const cpu = () => new CpuEngine({ threads: opts.threads });
  const say = (c: EngineChoice) => { opts.log?.(c.reason); return c; };
  if (opts.device === 'cpu') return say({ engine: cpu(), reason: 'cpu: asked for with --device cpu', device: 'cpu' });

  let gl: AnyGlEngine;
  let why: string;
  try {
    ({ engine: gl, why } = openGl(opts));
  } catch (e) {
    if (e instanceof GlUnavailableError || e instanceof GlFaultError)
      return say({ engine: cpu(), reason: `cpu: GL engine unavailable: ${e.message}`, device: 'cpu' });
    throw e;
  }
  let st;
  try {
    st = selfTest(gl, opts.tolerance ?? selfTestTolerance(gl.profile.name));
    if (opts.inject?.skewSelfTest) st = { ...st, maxRelError: st.maxRelError + opts.inject.skewSelfTest, ok: st.maxRelError + opts.inject.skewSelfTest <= st.tolerance };
  } catch (e) {
    gl.destroy();
    if (e instanceof GlFaultError) return say({ engine: cpu(), reason: `cpu: GL engine failed to build or run: ${e.message}`, device: 'cpu' });
    throw e;
  }
  if (!st.ok) {
    gl.destroy();
    return say({ engine: cpu(), reason: `cpu: GL self-test disagrees with the CPU twin (${st.worstOp} off by ${st.maxRelError.toExponential(2)} > ${st.tolerance})`, device: 'cpu' });
  }
  const profile = gl.profile.name;
  if (opts.device === 'gl')
    return say({ engine: gl, reason: `gl ${profile}: asked for with --device gl; ${why}; self-test ok (max rel error ${st.maxRelError.toExponential(1)})`, device: 'gl', profile });

  if (!opts.rate) throw new TypeError('selectEngine: --device auto needs a rate function to compare the engines');
  const c = cpu();
  const glRate = opts.rate(gl), cpuRate = opts.rate(c);
  const rates = `gl ${glRate.toFixed(0)} img/s vs cpu ${cpuRate.toFixed(0)} img/s on a few timed steps`;
  if (glRate > cpuRate)
    return say({ engine: gl, reason: `gl ${profile}: faster (${rates}); ${why}; self-test ok`, device: 'gl', profile });
  gl.destroy();
  return say({ engine: c, reason: `cpu: faster (${rates}; GL renderer ${gl.renderer}${hostGpu() ? `, ${hostGpu()}` : ''})`, device: 'cpu' });
}
