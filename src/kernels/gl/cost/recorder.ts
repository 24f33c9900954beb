// A WebGL context that remembers what it was asked to draw: each program's fragment shader source
// and, per draw call, which program ran over how many fragments (the viewport's area: every pass
// draws one full-viewport quad). Works under any engine that draws through the context it is
// given, whatever shaders that engine generates.
import type { WebGLContext } from '../load-gl';

export interface DrawRecord {
  /** Index into RecordedContext.programs. */
  program: number;
  fragments: number;
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
  let viewport = [0, 0, inner.drawingBufferWidth ?? 1, inner.drawingBufferHeight ?? 1];

  const draw = () => {
    const i = programIndex.get(current);
    if (i !== undefined) draws.push({ program: i, fragments: Math.max(0, viewport[2]) * Math.max(0, viewport[3]) });
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
