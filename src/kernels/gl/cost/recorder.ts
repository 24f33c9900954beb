// A WebGL context that remembers what it was asked to draw: each program's fragment shader source
// and, per draw call, which program ran over how many fragments (the viewport's area: every pass
// draws one full-viewport quad). Works under any engine that draws through the context it is
// given, whatever shaders that engine generates.
import type { WebGLContext } from '../load-gl';

export interface DrawRecord {
  /** Index into RecordedContext.programs. */
  program: number;
  fragments: number;
  /** The GPU job the draw lands in: Mesa's vc4 appends draws to the bound framebuffer's job
   *  (vc4_get_job_for_fbo in Mesa 22.3 src/gallium/drivers/vc4/vc4_job.c) until the target
   *  changes or a readback flushes it. */
  job: number;
}

export interface RecordedProgram {
  fragmentSource: string;
  vertexSource: string;
}

export interface RecordedContext {
  gl: WebGLContext;
  programs: RecordedProgram[];
  draws: DrawRecord[];
  /** Forget the draws so far (e.g. a warm-up step); programs stay. */
  resetDraws(): void;
}

export function recordContext(inner: WebGLContext): RecordedContext {
  const sources = new Map<unknown, { type: number; src: string }>();
  const attached = new Map<unknown, unknown[]>();
  const programIndex = new Map<unknown, number>();
  const programs: RecordedProgram[] = [];
  const draws: DrawRecord[] = [];
  let current: unknown = null;
  // a draw opens a new job when the colour target changed, or a readback or a sampling of the
  // job's own target flushed it, since the last one
  let job = -1, target: unknown = null, jobTarget: unknown = undefined, flushed = false;
  let viewport = [0, 0, inner.drawingBufferWidth ?? 1, inner.drawingBufferHeight ?? 1];

  const draw = () => {
    const i = programIndex.get(current);
    if (i === undefined) return;
    if (target !== jobTarget || flushed) { job++; jobTarget = target; flushed = false; }
    draws.push({ program: i, fragments: Math.max(0, viewport[2]) * Math.max(0, viewport[3]), job });
  };
  const hooks: Record<string, (...a: any[]) => void> = {
    shaderSource: (sh, src: string) => { const e = sources.get(sh); sources.set(sh, { type: e?.type ?? 0, src }); },
    attachShader: (p, sh) => attached.set(p, [...(attached.get(p) ?? []), sh]),
    linkProgram: (p) => {
      const shaders = (attached.get(p) ?? []).map((s) => sources.get(s));
      const fs = shaders.find((s) => s?.type === inner.FRAGMENT_SHADER), vs = shaders.find((s) => s?.type === inner.VERTEX_SHADER);
      programIndex.set(p, programs.push({ fragmentSource: fs?.src ?? '', vertexSource: vs?.src ?? '' }) - 1);
    },
    useProgram: (p) => { current = p; },
    framebufferTexture2D: (_t, _a, _tt, tex) => { target = tex; },
    readPixels: () => { flushed = true; },
    // sampling what the open job is drawing makes the driver flush that job first
    bindTexture: (_t, tex) => { if (tex !== null && tex === jobTarget) flushed = true; },
    finish: () => { flushed = true; },
    viewport: (x: number, y: number, w: number, h: number) => { viewport = [x, y, w, h]; },
    drawArrays: draw,
    drawElements: draw,
  };
  const gl = new Proxy(inner, {
    get(target, key) {
      const v = Reflect.get(target, key);
      if (typeof v !== 'function') return v;
      if (key === 'createShader') return (type: number) => { const sh = v.call(target, type); sources.set(sh, { type, src: '' }); return sh; };
      const hook = typeof key === 'string' ? hooks[key] : undefined;
      if (hook) return (...a: unknown[]) => { const r = v.apply(target, a); hook(...a); return r; };
      return v.bind(target);
    },
  });
  return { gl, programs, draws, resetDraws: () => { draws.length = 0; } };
}
