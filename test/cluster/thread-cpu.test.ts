// The gossip budget reads the gossip thread's own CPU clock. process.cpuUsage() would also count
// the trainer's thread; this checks that the clock counts this thread's work and not another's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { threadCpuClock } from '../../src/cluster/gossip-thread';

/** Spins until the process has used `ms` of CPU (on a shared machine wall time says little). */
function spinCpu(ms: number): number {
  const p0 = process.cpuUsage();
  let x = 0, used = 0;
  while (used < ms) {
    for (let i = 0; i < 100_000; i++) x += Math.sqrt(x + i);
    const d = process.cpuUsage(p0);
    used = (d.user + d.system) / 1000;
  }
  if (x < 0) throw new Error('unreachable');
  return used;
}

test('threadCpuClock counts this thread and not a busy sibling thread', { skip: process.platform !== 'linux' ? 'reads /proc/thread-self (Linux)' : false }, async () => {
  const clock = threadCpuClock();
  assert.ok(clock, '/proc/thread-self/stat should be readable on Linux');
  const a0 = clock();
  const used = spinCpu(400);
  const busy = clock() - a0;
  // 10 ms ticks; the process's other threads (GC, compiler) may take a little of its CPU
  assert.ok(busy >= 0.6 * used - 20, `this thread spun while the process used ${used.toFixed(0)} ms of CPU; its clock showed ${busy} ms`);

  const w = new Worker(`const p0 = process.cpuUsage(); let x = 0;
    for (;;) { for (let i = 0; i < 100000; i++) x += Math.sqrt(x + i); const d = process.cpuUsage(p0); if (d.user + d.system > 600000) break; }`, { eval: true });
  const b0 = clock(), p0 = process.cpuUsage();
  await new Promise((r) => w.once('exit', r));
  const idle = clock() - b0;
  const proc = process.cpuUsage(p0);
  const procMs = (proc.user + proc.system) / 1000;
  assert.ok(procMs >= 500, `the worker's 600 ms spin should show in process CPU, got ${procMs} ms`);
  assert.ok(idle <= 50 + 0.1 * procMs, `this thread waited while a worker spun, yet its clock advanced ${idle} ms (process: ${procMs.toFixed(0)} ms)`);
});
