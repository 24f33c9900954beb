// Shared by the ship tests: build the bundle once into a temp folder, and lay it out alone in an
// empty folder far from any node_modules, as a user's copy on a Pi would be.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const SHIPPED = ['vctrain.cjs', 'worker.cjs', 'mnist-digits.bin.gz'];

let built: string | undefined;
const made: string[] = [];
// The temp folders go when the test process ends, pass or fail.
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** Runs scripts/bundle.mjs into a fresh temp folder (once per test process) and returns it. */
export function buildBundle(): string {
  if (built) return built;
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'vctrain-dist-'));
  made.push(out);
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle.mjs'), '--outdir', out, '--quiet'], { cwd: ROOT, stdio: 'pipe' });
  built = out;
  return out;
}

/** Any node_modules folder in `dir` or above it. */
export function reachableNodeModules(dir: string): string[] {
  const found: string[] = [];
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, 'node_modules'))) found.push(path.join(d, 'node_modules'));
    if (path.dirname(d) === d) break;
  }
  return found;
}

/** An empty folder holding only the shipped files. */
export function shipBox(dist: string): string {
  const box = fs.mkdtempSync(path.join(os.tmpdir(), 'vctrain-box-'));
  made.push(box);
  for (const f of SHIPPED) fs.copyFileSync(path.join(dist, f), path.join(box, f));
  return box;
}

/** Environment with nothing that points back at the repository. */
export function cleanEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8' };
  // An X display (under xvfb-run) is passed on: the bundle must then find no `gl` to use, not lack a display.
  if (process.env.DISPLAY) env.DISPLAY = process.env.DISPLAY;
  if (process.env.XAUTHORITY) env.XAUTHORITY = process.env.XAUTHORITY;
  return env;
}

export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

export function run(cmd: string, args: string[], cwd: string, timeoutMs: number, extraEnv: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: { ...cleanEnv(cwd), ...extraEnv }, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
}

export function describe(r: SpawnSyncReturns<string>): string {
  return `exit ${r.status} signal ${r.signal}\n--- stdout\n${r.stdout?.slice(-3000)}\n--- stderr\n${r.stderr?.slice(-3000)}`;
}

/** The root of Debian's `arch` Node.js, unpacked by scripts/arm-sysroot.sh (cached after the first
 * run); fails the test, saying what is missing, without one. `what` names what was to run there. */
export function armSysroot(arch: string, what: string): string {
  try {
    const out = execFileSync('bash', [path.join(ROOT, 'scripts', 'arm-sysroot.sh'), arch], { encoding: 'utf8', timeout: 600_000, stdio: ['ignore', 'pipe', 'pipe'] });
    return out.trim().split('\n').pop()!;
  } catch (e) {
    // the script's last line says what is missing (no mirror and no cache, no nodejs package...)
    const err = e as { stderr?: string; message: string };
    assert.fail(`no ARM ${arch} Node.js to run ${what} on: ${String(err.stderr ?? '').trim().split('\n').pop() || err.message}`);
  }
}
