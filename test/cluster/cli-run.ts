// Runs the vctrain command as a user would (a separate node process through bin/vctrain.cjs) and
// collects what it printed.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const BIN = path.resolve(__dirname, '../../bin/vctrain.cjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The --json summary: the last stdout line, parsed (undefined if it is not JSON). */
  json?: Record<string, unknown>;
}

export function startCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FORCE_COLOR: '0' } });
  let stdout = '', stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // let the pipes drain
      setImmediate(() => {
        const last = stdout.trimEnd().split('\n').pop() ?? '';
        let json: Record<string, unknown> | undefined;
        try {
          json = JSON.parse(last);
        } catch {
          json = undefined;
        }
        resolve({ code, signal, stdout, stderr, json });
      });
    });
  });
  return { child, done };
}

export function runCli(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return startCli(args, opts).done;
}
