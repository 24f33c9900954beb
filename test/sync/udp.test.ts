import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { generateKeyFile } from '../../src/sync/index';
import { float64Mean, mulberry32 } from './harness';

const DIM = 3000; // 12 KB in fp32: 12 datagrams per snapshot
const SEED = 4242;

test('three processes gossip over real loopback UDP, encrypted, and reach the mean within 1e-4', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vct-udp-'));
  const keyFile = join(dir, 'cluster.key');
  generateKeyFile(keyFile);
  const truth = Float32Array.from(float64Mean([0, 1, 2].map((i) => {
    const r = mulberry32(SEED + i);
    return new Float32Array(DIM).map(() => r() * 2 - 1);
  })));
  const kids: ChildProcess[] = [];
  const ports: Promise<number>[] = [];
  const latest: (Float32Array | null)[] = [null, null, null];
  const stats: Promise<Record<string, unknown>>[] = [];
  let stderr = '';
  // Convergence is an event (a VEC line that brings every board within 1e-4), not a wall-clock
  // loop: on a loaded machine it may come late, and the test's own timeout is the only bound.
  let converged!: () => void, failed!: (e: Error) => void;
  const reached = new Promise<void>((r, j) => { converged = r; failed = j; });
  const deviation = () => Math.max(...latest.map((v) => (v ? v.reduce((m, x, j) => Math.max(m, Math.abs(x - truth[j])), 0) : Infinity)));
  try {
    for (let i = 0; i < 3; i++) {
      const k = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'udp-child.ts'), String(i), keyFile, String(DIM), String(SEED)], {
        cwd: join(__dirname, '..', '..'), stdio: ['pipe', 'pipe', 'pipe'],
      });
      kids.push(k);
      k.stderr!.on('data', (d) => (stderr += d));
      k.on('exit', (code, sig) => failed(new Error(`board ${i} exited (${sig ?? code}) before the boards converged\n${stderr.slice(-2000)}`)));
      const rl = createInterface({ input: k.stdout! });
      let gotPort!: (p: number) => void, gotStats!: (s: Record<string, unknown>) => void;
      ports.push(new Promise((r) => (gotPort = r)));
      stats.push(new Promise((r) => (gotStats = r)));
      rl.on('line', (line) => {
        if (line.startsWith('PORT ')) gotPort(Number(line.slice(5)));
        else if (line.startsWith('VEC ')) {
          const b = Buffer.from(line.slice(4), 'base64');
          latest[i] = new Float32Array(b.buffer, b.byteOffset, DIM);
          if (deviation() < 1e-4) converged();
        } else if (line.startsWith('STATS ')) gotStats(JSON.parse(line.slice(6)));
      });
    }
    const addrs = (await Promise.all(ports)).map((p) => `127.0.0.1:${p}`);
    // each board knows only the next one: the third address is found through gossip
    kids.forEach((k, i) => k.stdin!.write(`SEEDS ${addrs[(i + 1) % 3]}\n`));
    const t0 = Date.now();
    await reached;
    const dev = deviation();
    for (const k of kids) k.stdin!.write('STOP\n');
    const st = await Promise.all(stats);
    assert.ok(dev < 1e-4, `deviation ${dev} after ${Date.now() - t0} ms\n${stderr.slice(-2000)}`);
    for (const s of st) {
      assert.ok((s.averages as number) > 0);
      assert.equal((s.dropped as Record<string, number>).auth, 0);
      assert.equal(s.handlerErrors, 0);
      assert.equal(s.maxPeers, 2, 'each board found both others');
    }
  } finally {
    for (const k of kids) if (k.exitCode === null) k.kill('SIGKILL');
  }
});
