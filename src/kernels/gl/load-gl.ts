// Finds the optional `gl` package (headless-gl). It is an optionalDependency: an install without
// the X11 headers has no `gl`, and the product must then say so and train on the CPU. The bundle
// marks `gl` external, so it is looked up at run time in three places: the normal resolution
// (node_modules of the project), node_modules beside the running file (a copied dist/ folder with
// its own `npm i gl`), and the global npm root (`npm i -g gl` on a Pi).
import * as path from 'node:path';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';

export interface GlContextOptions {
  alpha?: boolean; antialias?: boolean; depth?: boolean; stencil?: boolean;
  premultipliedAlpha?: boolean; preserveDrawingBuffer?: boolean;
}

/** headless-gl's factory: create(width, height, options) -> WebGLRenderingContext or null. */
export interface GlFactory {
  create(width: number, height: number, opts?: GlContextOptions): WebGLContext | null;
  /** Where the package was found, for probe output. */
  from: string;
}

// A structural subset of WebGLRenderingContext (tsconfig has no DOM lib): the calls this engine makes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WebGLContext = any;

let cached: GlFactory | { error: string } | undefined;

function tryRequire(spec: string): ((w: number, h: number, o?: object) => WebGLContext) | string {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(spec);
    const fn = typeof mod === 'function' ? mod : mod?.default;
    return typeof fn === 'function' ? fn : `${spec} did not export a function`;
  } catch (e) {
    return `${spec}: ${(e as Error).message.split('\n')[0]}`;
  }
}

function globalRoot(): string | null {
  try {
    return execFileSync('npm', ['root', '-g'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim() || null;
  } catch {
    return null;
  }
}

export function loadGl(): GlFactory | { error: string } {
  if (cached) return cached;
  const tried: string[] = [];
  const candidates: (() => string | null)[] = [
    () => 'gl',
    () => {
      const p = path.join(path.dirname(require.main?.filename ?? process.argv[1] ?? __filename), 'node_modules', 'gl');
      return fs.existsSync(p) ? p : null;
    },
    () => {
      const p = path.join(__dirname, 'node_modules', 'gl');
      return fs.existsSync(p) ? p : null;
    },
    () => {
      const root = globalRoot();
      const p = root ? path.join(root, 'gl') : null;
      return p && fs.existsSync(p) ? p : null;
    },
  ];
  for (const c of candidates) {
    const spec = c();
    if (!spec) continue;
    const r = tryRequire(spec);
    if (typeof r === 'function') {
      cached = { create: (w, h, o) => r(w, h, o), from: spec === 'gl' ? require.resolve('gl') : spec };
      return cached;
    }
    tried.push(r);
  }
  cached = {
    error: `the optional package 'gl' (headless-gl) is not installed or did not load` +
      (tried.length ? ` (${tried.join('; ')})` : '') +
      `; install it with its X11 build headers (libxi-dev libx11-dev libxext-dev libgl1-mesa-dev) to use the GPU`,
  };
  return cached;
}
