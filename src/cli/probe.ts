// `vctrain probe`: what GL is here, what it allows, which profile the engine would use, whether
// the self-test agrees with the CPU twin, and a quick images/s of GL and CPU. The WebGL renderer
// string under headless-gl is always "ANGLE", so the host's DRM driver and board model are
// reported too: on a Pi 3 with the vc4 KMS overlay the driver is vc4-drm; llvmpipe under Xvfb
// shows no vc4 driver.
import { CpuEngine } from '../kernels/cpu/engine';
import { glEngineFor, hostGl, hostGpu, liveFacts, selfTestTolerance, type AnyGlEngine } from '../kernels/select';
import { selfTest } from '../kernels/selftest';
import { stepRate } from '../net/step-rate';
import { GlEngine } from '../kernels/gl/engine';
import { loadGl } from '../kernels/gl/load-gl';
import { chooseProfile, floatTargets, type ProfileName } from '../kernels/gl/profile';

export interface ProbeReport {
  gl: { available: boolean; error?: string; from?: string };
  renderer?: string;
  vendor?: string;
  version?: string;
  shadingLanguage?: string;
  hostGpu: string;
  display: string | null;
  extensions: string[];
  limits: Record<string, number | string>;
  /** OES_texture_float with a float colour buffer (listed, or an RGBA32F framebuffer found complete). */
  floatTargets?: boolean;
  /** Why the float profile cannot run here (tried on the context), null if it can. */
  floatUnsupported?: string | null;
  profile?: { name: ProfileName; why: string };
  selfTest?: { ok: boolean; maxRelError: number; worstOp: string; tolerance: number; ms: number; error?: string };
  imagesPerSecond: { gl?: number; cpu: number; batch: number };
}

export async function runProbe(opts: { profile?: ProfileName; batch?: number; steps?: number } = {}): Promise<ProbeReport> {
  const batch = opts.batch ?? 16, steps = opts.steps ?? 2;
  const report: ProbeReport = {
    gl: { available: false }, hostGpu: hostGpu(), display: process.env.DISPLAY ?? null, extensions: [], limits: {},
    imagesPerSecond: { cpu: 0, batch },
  };
  const f = loadGl();
  if ('error' in f) report.gl.error = f.error;
  else {
    report.gl.from = f.from;
    let engine: AnyGlEngine | null = null;
    try {
      const probe = GlEngine.create({ profile: 'vc4-exact' });
      const gl = probe.gl;
      report.gl.available = true;
      report.renderer = probe.renderer;
      report.vendor = String(gl.getParameter(gl.VENDOR));
      report.version = String(gl.getParameter(gl.VERSION));
      report.shadingLanguage = String(gl.getParameter(gl.SHADING_LANGUAGE_VERSION));
      report.extensions = (gl.getSupportedExtensions() ?? []) as string[];
      for (const k of ['MAX_TEXTURE_SIZE', 'MAX_VARYING_VECTORS', 'MAX_TEXTURE_IMAGE_UNITS', 'MAX_VERTEX_TEXTURE_IMAGE_UNITS',
        'MAX_FRAGMENT_UNIFORM_VECTORS', 'MAX_VERTEX_ATTRIBS', 'MAX_RENDERBUFFER_SIZE'])
        report.limits[k] = gl.getParameter(gl[k]) as number;
      const hp = gl.getShaderPrecisionFormat(gl.FRAGMENT_SHADER, gl.HIGH_FLOAT);
      if (hp) report.limits.FRAGMENT_HIGH_FLOAT = `precision ${hp.precision}, range ${hp.rangeMin}..${hp.rangeMax}`;
      report.hostGpu = hostGl();
      const facts = liveFacts(gl, report.hostGpu);
      report.renderer = facts.renderer;
      report.floatTargets = facts.floatUnsupported === null || floatTargets(facts.extensions);
      report.floatUnsupported = facts.floatUnsupported ?? null;
      const choice = chooseProfile(facts, opts.profile);
      report.profile = { name: choice.profile, why: choice.why };
      engine = glEngineFor(probe, choice.profile);
      try {
        report.selfTest = selfTest(engine, selfTestTolerance(choice.profile));
        if (report.selfTest.ok) report.imagesPerSecond.gl = stepRate(engine, batch, steps);
      } catch (e) {
        report.selfTest = { ok: false, maxRelError: Infinity, worstOp: 'none', tolerance: 1e-4, ms: 0, error: (e as Error).message };
      }
    } catch (e) {
      report.gl.error = (e as Error).message;
    } finally {
      engine?.destroy();
    }
  }
  report.imagesPerSecond.cpu = stepRate(new CpuEngine(), batch, steps);
  return report;
}

export function formatProbe(r: ProbeReport): string {
  const L: string[] = [];
  if (!r.gl.available) L.push(`GL: not available — ${r.gl.error ?? 'unknown reason'}`);
  else {
    L.push(`GL: ${r.renderer} / ${r.vendor} / ${r.version} / ${r.shadingLanguage}  (gl from ${r.gl.from})`);
    L.push(`host GPU: ${r.hostGpu || 'no DRM driver or board model found'}; DISPLAY=${r.display ?? '(unset)'}`);
    L.push(`float render targets: ${r.floatTargets ? 'yes' : 'no'}${r.floatUnsupported === null ? ' (an RGBA32F framebuffer is complete)' : r.floatUnsupported ? ` (${r.floatUnsupported})` : ''}`);
    L.push(`limits: ${Object.entries(r.limits).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    L.push(`extensions (${r.extensions.length}): ${r.extensions.join(' ')}`);
    if (r.profile) L.push(`profile: ${r.profile.name} (${r.profile.why})`);
    if (r.selfTest) L.push(r.selfTest.error ? `self-test: FAILED to run: ${r.selfTest.error}`
      : `self-test: ${r.selfTest.ok ? 'ok' : 'MISMATCH'} — max relative error ${r.selfTest.maxRelError.toExponential(2)} (${r.selfTest.worstOp}), tolerance ${r.selfTest.tolerance}, ${r.selfTest.ms.toFixed(0)} ms`);
  }
  const gl = r.imagesPerSecond.gl;
  L.push(`training speed (batch ${r.imagesPerSecond.batch}): gl ${gl === undefined ? 'n/a' : `${gl.toFixed(1)} img/s`}, cpu ${r.imagesPerSecond.cpu.toFixed(1)} img/s`);
  return L.join('\n');
}
