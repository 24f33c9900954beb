// The trainer reads its gossip thread's CPU clock (otherThreadCpuClock) while it evaluates. That
// thread may end at any moment (a crash the board must report): reading the clock of a thread that
// has ended returns its last value instead of throwing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { currentThreadId, otherThreadCpuClock } from '../../src/sync/budget';

test('a thread clock read after its thread ended returns the last reading, not ESRCH', { skip: process.platform !== 'linux' && 'Linux /proc only' }, async () => {
  // the worker spins a little (so its clock is above zero), says its tid, then waits to be let go
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads');
    const fs = require('node:fs');
    const t0 = Date.now(); while (Date.now() - t0 < 30) {}
    parentPort.postMessage(Number(/\\/task\\/(\\d+)$/.exec(fs.readlinkSync('/proc/thread-self'))[1]));
    parentPort.once('message', () => process.exit(0));`, { eval: true });
  const tid = await new Promise<number>((res) => w.once('message', res));
  assert.notEqual(tid, currentThreadId(), 'a thread of its own');
  const clock = otherThreadCpuClock(tid);
  assert.ok(clock, 'the worker thread has a clock');
  const before = clock();
  assert.ok(before > 0, `it has used CPU: ${before} ms`);
  const exited = new Promise((res) => w.once('exit', res));
  w.postMessage('go');
  await exited;
  // the kernel reaps the task right after the exit; give it a moment
  await new Promise((res) => setTimeout(res, 50));
  let after = NaN;
  assert.doesNotThrow(() => { after = clock(); });
  assert.ok(after >= before, `${after} after ${before}`);
});
