// Mesa's vc4 compiler (the Raspberry Pi 3's GL driver) run on this machine through its no-op DRM
// shim: what it makes of each fragment shader, as the driver's shader-db line reports it. Built by
// scripts/vc4-compiler.sh; where it is not built the caller gets the reason, never a crash.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Vc4ShaderStats {
  /** QPU instructions of the fragment shader. */
  instructions: number;
  /** 2 when the shader hides texture latency with a second thread; 1 when register pressure forbade it. */
  threads: number;
  uniforms: number;
  maxTemps: number;
  estimatedCycles: number;
}

export type Vc4Result = Vc4ShaderStats | { error: string };

export interface Vc4Report {
  compiler: string;
  maxFragmentUniformVectors?: number;
  /** One per fragment shader, in the order given. */
  shaders: Vc4Result[];
}

/** Where scripts/vc4-compiler.sh puts the compiler unless told otherwise. */
export function defaultVc4CompilerPath(): string {
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'vctrain', 'vc4-compiler', 'vc4stats.sh');
}

/** The compiler to use: the given path, else VCTRAIN_VC4_COMPILER, else the default; or why there is none. */
export function findVc4Compiler(explicit?: string): { path: string } | { absent: string } {
  const p = explicit ?? process.env.VCTRAIN_VC4_COMPILER ?? defaultVc4CompilerPath();
  if (fs.existsSync(p)) return { path: p };
  return { absent: `Mesa's vc4 compiler is not built at ${p} (build it with scripts/vc4-compiler.sh, or name it with --vc4-compiler / VCTRAIN_VC4_COMPILER)` };
}

const LINE = /(\w+) shader: (\d+) inst, (\d+) threads, (\d+) uniforms, (\d+) max-temps, (-?\d+) estimated-cycles/;

/** Parses vc4stats output: per file, the FS shader-db line or the compile/link failure. */
export function parseVc4Output(out: string, files: string[]): Omit<Vc4Report, 'compiler'> {
  const byFile = new Map<string, Vc4Result>();
  let maxFragmentUniformVectors: number | undefined;
  for (const line of out.split('\n')) {
    const [file, msg = ''] = line.split('\t');
    if (file === 'MAX_FRAGMENT_UNIFORM_VECTORS') { maxFragmentUniformVectors = Number(msg); continue; }
    const m = LINE.exec(msg);
    if (m && /^(FS|MESA_SHADER_FRAGMENT)$/.test(m[1])) byFile.set(file, { instructions: +m[2], threads: +m[3], uniforms: +m[4], maxTemps: +m[5], estimatedCycles: +m[6] });
    else if (/FAILED/.test(msg) && !byFile.has(file)) byFile.set(file, { error: msg.trim() });
  }
  return { maxFragmentUniformVectors, shaders: files.map((f) => byFile.get(f) ?? { error: 'the compiler printed no shader-db line for it (register allocation failure?)' }) };
}

/** Compiles each fragment shader (with `vertex`) with the vc4 compiler at `compiler`. */
export function compileVc4(compiler: string, vertex: string, fragments: string[]): Vc4Report {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vctrain-vc4-'));
  try {
    const vs = path.join(dir, 'vertex.glsl');
    fs.writeFileSync(vs, vertex);
    const files = fragments.map((src, i) => {
      const f = path.join(dir, `fs${String(i).padStart(3, '0')}.glsl`);
      fs.writeFileSync(f, src);
      return f;
    });
    const r = spawnSync(compiler, [vs, ...files], { encoding: 'utf8', timeout: 600_000, maxBuffer: 64 << 20 });
    if (r.error) throw new Error(`${compiler}: ${r.error.message}`);
    if (r.status !== 0 && !r.stdout) throw new Error(`${compiler}: exited ${r.status}: ${(r.stderr || '').trim().split('\n').pop()}`);
    return { compiler, ...parseVc4Output(r.stdout, files) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
