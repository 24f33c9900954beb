// Which file a board's gossip thread starts from, and with which node flags.
//
// A checkout runs the TypeScript sources through tsx (bin/vctrain.cjs). A worker thread has its own
// module cache, so a gossip thread started from the sources registers tsx again and loads every module
// through it: about 230 ms of the thread's CPU here, against about 100 ms from the bundle and 55 ms for
// a thread that loads nothing (bench/results/thread-start.md). The thread's clock is what the gossip
// budget and the gossip share count, and a default-job board trains for about 25 s of CPU, so start-up
// from the sources alone was half a point of the share. A Pi runs dist/vctrain.cjs, whose thread loads
// the bundle; a checkout whose dist/vctrain.cjs is at least as new as every source file
// (`npm run bundle`, which scripts/setup.sh runs) starts the thread from that bundle too: the same
// code, loaded as on the Pi. Any source edited since, or a lock file changed by npm, and the thread
// loads the sources as before, so a stale bundle never runs.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface ThreadEntry {
  file: string;
  execArgv: string[];
  /** Why the sources were used although the entry is a checkout's (a stale or missing bundle). */
  why?: string;
}

/** Newest modification time (ms) of the files under dir, recursively; 0 if none. */
function newestMtime(dir: string): number {
  let newest = 0;
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (d.isFile()) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** node flags that load tsx: a thread running the bundle has nothing for it to compile. */
function withoutTsx(execArgv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i];
    if ((a === '--import' || a === '--require' || a === '-r' || a === '--loader') && /^tsx(\/|$)/.test(execArgv[i + 1] ?? '')) {
      i++;
      continue;
    }
    if (/^(--import|--require|--loader)=tsx(\/|$)/.test(a)) continue;
    out.push(a);
  }
  return out;
}

/**
 * The gossip thread's entry for a program started from `entry` (process.argv[1]) with `execArgv`.
 * Only a checkout's bin/vctrain.cjs is redirected; any other entry (the bundle itself, a bench's own
 * entry file) is kept as it is.
 */
export function gossipThreadEntry(entry: string, execArgv: readonly string[]): ThreadEntry {
  const keep: ThreadEntry = { file: entry, execArgv: [...execArgv] };
  // npx starts node_modules/.bin/vctrain, a link to bin/vctrain.cjs
  let real: string;
  try {
    real = fs.realpathSync(entry);
  } catch {
    return keep;
  }
  const bin = path.dirname(real);
  if (path.basename(real) !== 'vctrain.cjs' || path.basename(bin) !== 'bin') return keep;
  const root = path.dirname(bin);
  const src = path.join(root, 'src');
  if (!fs.existsSync(path.join(src, 'cli', 'main.ts'))) return keep;
  const bundle = path.join(root, 'dist', 'vctrain.cjs');
  try {
    const built = fs.statSync(bundle).mtimeMs;
    const lock = path.join(root, 'package-lock.json');
    const newest = Math.max(newestMtime(src), fs.existsSync(lock) ? fs.statSync(lock).mtimeMs : 0);
    if (built < newest) return { ...keep, why: 'dist/vctrain.cjs is older than the sources (npm run bundle)' };
  } catch {
    return { ...keep, why: 'no dist/vctrain.cjs (npm run bundle)' };
  }
  return { file: bundle, execArgv: withoutTsx(execArgv) };
}
