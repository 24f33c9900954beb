import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import type { Engine } from '../../src/kernels/engine';
import { GlFaultError } from '../../src/kernels/gl/errors';
import { loadCheckpoint } from '../../src/net/checkpoint';
import { Trainer, boardLr } from '../../src/net/train';
import { TRAIN_N, tinyDataset, trainOptions, writeTinyIdx } from './fixtures/tiny';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-train-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const data = tinyDataset();

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

let reference: Float32Array;
let referenceHistory: { epoch: number; loss: number; testAccuracy: number }[];

test('an uninterrupted run: epochs, steps, history, checkpoint, the same again with the same seed', async () => {
  const out = path.join(tmp, 'ref');
  const t = await Trainer.create({ ...trainOptions(out), dataset: data });
  const epochsSeen: number[] = [];
  const steps: number[] = [];
  const s = await t.run({ onStep: (i) => steps.push(i.batch), onEpoch: (r) => epochsSeen.push(r.epoch) });
  assert.deepEqual(steps, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]);
  assert.deepEqual(epochsSeen, [1, 2]);
  assert.equal(t.step, 10);
  assert.equal(t.samplesSeen, 2 * TRAIN_N);
  assert.equal(s.epochs, 2);
  assert.equal(s.history.length, 2);
  for (const h of s.history) assert.ok(Number.isFinite(h.loss) && h.testAccuracy >= 0 && h.testAccuracy <= 1 && h.imagesPerSecond > 0);
  assert.equal(s.testAccuracy, s.history[1].testAccuracy);
  assert.equal(s.testAccuracy, t.evaluate().accuracy);
  assert.deepEqual(t.evaluate(t.getParams()), t.evaluate());
  reference = t.getParams();
  referenceHistory = s.history.map(({ epoch, loss, testAccuracy }) => ({ epoch, loss, testAccuracy }));
  const c = loadCheckpoint(out);
  assert.ok(sameBits(c.params, reference));
  assert.ok(c.velocity && c.velocity.some((v) => v !== 0));
  assert.equal(c.epoch, 2);
  assert.deepEqual(c.history.map(({ epoch, loss, testAccuracy }) => ({ epoch, loss, testAccuracy })), referenceHistory);

  const again = await Trainer.create({ ...trainOptions(path.join(tmp, 'ref2')), dataset: data });
  await again.run();
  assert.ok(sameBits(again.getParams(), reference), 'same seed, same parameters');
  const other = await Trainer.create({ ...trainOptions(path.join(tmp, 'ref3')), seed: 8, dataset: data });
  await other.run();
  assert.ok(!sameBits(other.getParams(), reference), 'another seed, other parameters');
});

test('stopped mid-epoch and resumed: bit-identical parameters and the same history', async () => {
  for (const stopAfter of [3, 5, 7]) {
    const out = path.join(tmp, `stop-${stopAfter}`);
    const a = await Trainer.create({ ...trainOptions(out), dataset: data });
    let n = 0;
    const sa = await a.run({ onStep: () => n++, shouldStop: () => n >= stopAfter });
    assert.ok(sa.stopped);
    assert.equal(loadCheckpoint(out).step, stopAfter);
    const b = await Trainer.create({ ...trainOptions(out), dataset: data, resume: true });
    assert.equal(b.step, stopAfter);
    const sb = await b.run();
    assert.ok(!sb.stopped);
    assert.ok(sameBits(b.getParams(), reference), `resumed after step ${stopAfter}`);
    assert.deepEqual(sb.history.map(({ epoch, loss, testAccuracy }) => ({ epoch, loss, testAccuracy })), referenceHistory);
  }
});

test('a GL fault the engine does not absorb: training continues on the CPU from the last checkpoint, same result', async () => {
  const cpu = new CpuEngine();
  let calls = 0;
  const faultAt = 17; // conv2d calls: 2 per step, 2 for the evaluation after epoch 1, so step 8 of 10
  const fake = new Proxy(cpu, {
    get(target, key) {
      if (key === 'kind') return 'gl';
      if (key === 'description') return 'fake gl';
      const v = Reflect.get(target, key) as unknown;
      if (key === 'conv2d') {
        return (...args: unknown[]) => {
          if (++calls === faultAt) {
            throw new GlFaultError('context lost (injected)');
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Engine;
  const lines: string[] = [];
  const t = await Trainer.create({ ...trainOptions(path.join(tmp, 'fault')), dataset: data, engineChoice: { engine: fake, reason: 'gl: fake', device: 'gl', profile: 'vc4' }, log: (l) => lines.push(l) });
  assert.equal(t.engineInfo.device, 'gl');
  const s = await t.run();
  assert.ok(calls >= faultAt, 'the fault was injected');
  assert.ok(lines.some((l) => /^GL fault: context lost \(injected\); continuing on the CPU from the last checkpoint \(epoch 1, step 5\)/.test(l)), lines.join(' | '));
  assert.equal(s.device, 'cpu');
  assert.equal(t.engineInfo.device, 'cpu');
  assert.match(t.engineInfo.reason, /after a GL fault/);
  assert.ok(sameBits(t.getParams(), reference));
  assert.equal(t.step, 10);
});

test('a lost GL context keeps failing: after the one fallback the dead engine is never called again, and the result is the same', async () => {
  const cpu = new CpuEngine();
  let calls = 0, callsAfterFault = 0, faulted = false;
  const faultAt = 17; // as above: step 8 of 10
  // Once lost, a context fails every call, destroy included (headless-gl after context loss).
  const dead = new Proxy(cpu, {
    get(target, key) {
      if (key === 'kind') return 'gl';
      if (key === 'description') return 'fake gl';
      const v = Reflect.get(target, key) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (faulted) {
          callsAfterFault++;
          throw new GlFaultError(`context lost (call ${String(key)} after the loss)`);
        }
        if (key === 'conv2d' && ++calls === faultAt) {
          faulted = true;
          throw new GlFaultError('context lost (injected)');
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as Engine;
  const lines: string[] = [];
  const t = await Trainer.create({ ...trainOptions(path.join(tmp, 'fault-twice')), dataset: data, engineChoice: { engine: dead, reason: 'gl: fake', device: 'gl', profile: 'vc4' }, log: (l) => lines.push(l) });
  const s = await t.run();
  assert.ok(faulted, 'the fault was injected');
  assert.deepEqual(lines.filter((l) => /GL fault/.test(l)).length, 1, lines.join(' | '));
  // the fallback frees what it can (net, then engine: the first destroy call fails and ends that)
  assert.ok(callsAfterFault <= 1, `the dead engine was called ${callsAfterFault} times after the fault`);
  assert.equal(s.device, 'cpu');
  assert.ok(sameBits(t.getParams(), reference), 'the run still ends where the uninterrupted one did');
  assert.equal(t.step, 10);
  t.destroy();
});

test('a GlFaultError on a trainer already on the CPU is not taken for a GL fault: it ends the run as the error it is', async () => {
  // After a fallback the trainer holds a CpuEngine; a GlFaultError from there is a bug, and
  // "falling back" again would redo the same work forever or hide it.
  const cpu = new CpuEngine();
  let thrown = 0;
  const odd = new Proxy(cpu, {
    get(target, key) {
      const v = Reflect.get(target, key) as unknown;
      if (key === 'conv2d') {
        return (...args: unknown[]) => {
          if (thrown === 0) {
            thrown++;
            throw new GlFaultError('stale GL object');
          }
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Engine;
  const lines: string[] = [];
  const t = await Trainer.create({ ...trainOptions(path.join(tmp, 'cpu-glfault')), dataset: data, engineChoice: { engine: odd, reason: 'cpu', device: 'cpu' }, log: (l) => lines.push(l) });
  await assert.rejects(t.run(), (e: unknown) => e instanceof GlFaultError && e.message === 'stale GL object');
  assert.equal(thrown, 1);
  assert.equal(t.engineInfo.device, 'cpu');
  assert.deepEqual(lines.filter((l) => /GL fault/.test(l)), []);
  t.destroy();
});

test('each epoch visits every training image once, in a new seeded order', async () => {
  const n = 23;
  const pixels = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) pixels[i * 784] = i + 1; // the image's id, in its first pixel
  const synthetic = { train: { pixels, labels: new Uint8Array(n).map((_, i) => i % 10), n }, test: data.test, source: 'ids' };
  async function orders(seed: number): Promise<number[][]> {
    const cpu = new CpuEngine();
    const seen: number[] = [];
    const spy = new Proxy(cpu, {
      get(target, key) {
        const v = Reflect.get(target, key) as unknown;
        if (key === 'tensor') {
          return (shape: number[], d?: Float32Array) => {
            if (d && shape.length === 4 && shape[2] === 28) for (let k = 0; k < shape[0]; k++) seen.push(Math.round(d[k * 784] * 255) - 1);
            return cpu.tensor(shape, d);
          };
        }
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Engine;
    const t = await Trainer.create({ ...trainOptions(path.join(tmp, `ids-${seed}`)), epochs: 3, batch: 5, seed, dataset: synthetic, engineChoice: { engine: spy, reason: 'spy', device: 'cpu' } });
    for (let i = 0; i < 3 * Math.ceil(n / 5); i++) t.trainStep();
    return [0, 1, 2].map((e) => seen.slice(e * n, (e + 1) * n));
  }
  const a = await orders(3);
  const ids = Array.from({ length: n }, (_, i) => i);
  for (const e of a) assert.deepEqual([...e].sort((x, y) => x - y), ids);
  assert.notDeepEqual(a[0], a[1]);
  assert.notDeepEqual(a[1], a[2]);
  assert.notDeepEqual(a[0], ids, 'shuffled, not in file order');
  assert.deepEqual(await orders(3), a, 'same seed, same orders');
  assert.notDeepEqual((await orders(4))[0], a[0], 'another seed, another order');
});

test('resume refuses a checkpoint made with other settings, and starts fresh when there is none', async () => {
  const out = path.join(tmp, 'stop-3');
  await assert.rejects(Trainer.create({ ...trainOptions(out), batch: 10, dataset: data, resume: true }), /checkpoint\.vct: saved with batch 9, this run asks for 10/);
  const lines: string[] = [];
  const fresh = await Trainer.create({ ...trainOptions(path.join(tmp, 'empty')), dataset: data, resume: true, log: (l) => lines.push(l) });
  assert.equal(fresh.step, 0);
  assert.ok(lines.some((l) => /no checkpoint/.test(l)));
});

test('kill -9 while checkpointing every step: the checkpoint is readable and resuming ends bit-identical', async () => {
  const dataDir = path.join(tmp, 'idx');
  writeTinyIdx(dataDir);
  const child = path.join(__dirname, 'fixtures/train-child.ts');
  for (const killAt of [2, 6]) {
    const out = path.join(tmp, `kill-${killAt}`);
    const p = spawn(process.execPath, ['--import', 'tsx', child, dataDir, out], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    const exited = new Promise<NodeJS.Signals | null>((resolve) => p.on('exit', (_c, sig) => resolve(sig)));
    p.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      // Kill as soon as the line shows; the child is by then already writing the next checkpoint.
      if (buf.includes(`step ${killAt}\n`)) p.kill('SIGKILL');
    });
    const sig = await exited;
    assert.equal(sig, 'SIGKILL', `child output: ${buf}`);
    const c = loadCheckpoint(out);
    assert.ok(c.step >= killAt && c.step < 10, `checkpoint at step ${c.step}`);
    const b = await Trainer.create({ ...trainOptions(out), dataDir, resume: true });
    assert.equal(b.step, c.step);
    await b.run();
    assert.ok(sameBits(b.getParams(), reference), `killed after step ${killAt}, resumed from ${c.step}`);
  }
});

test('learning-rate warm-up rises linearly from its starting rate, then holds; the first step moves parameters by the starting rate', async () => {
  const lr = 0.05, fromLr = 0.01;
  const t = await Trainer.create({ ...trainOptions(path.join(tmp, 'warm')), dataset: data, lr, momentum: 0, weightDecay: 0, warmup: { steps: 4, fromLr } });
  const seen: number[] = [];
  const p0 = t.getParams();
  seen.push(t.lrNow());
  t.trainStep();
  const p1 = t.getParams();
  for (let i = 0; i < 5; i++) {
    seen.push(t.lrNow());
    t.trainStep();
  }
  assert.deepEqual(seen.map((v) => +v.toFixed(6)), [0.01, 0.02, 0.03, 0.04, 0.05, 0.05]);
  // the same first step without warm-up moves 5x as far (plain SGD: the step is lr x gradient)
  const u = await Trainer.create({ ...trainOptions(path.join(tmp, 'nowarm')), dataset: data, lr, momentum: 0, weightDecay: 0 });
  u.trainStep();
  const q1 = u.getParams();
  let dw = 0, dn = 0;
  for (let i = 0; i < p0.length; i++) {
    dw += (p1[i] - p0[i]) ** 2;
    dn += (q1[i] - p0[i]) ** 2;
  }
  assert.ok(Math.abs(Math.sqrt(dn / dw) - lr / fromLr) < 1e-2, `step ratio ${Math.sqrt(dn / dw)}`);
  t.destroy();
  u.destroy();
  await assert.rejects(Trainer.create({ ...trainOptions(path.join(tmp, 'badwarm')), dataset: data, warmup: { steps: 0, fromLr } }), /warm-up/);
});

test('boardLr: fixed keeps the rate, sqrt grows it with the square root of the boards; warm-up can be given in epochs', async () => {
  assert.equal(boardLr(0.05, 'fixed', 10), 0.05);
  assert.equal(boardLr(0.05, 'sqrt', 1), 0.05);
  assert.ok(Math.abs(boardLr(0.05, 'sqrt', 9) - 0.15) < 1e-12);
  const t = await Trainer.create({ ...trainOptions(path.join(tmp, 'warm-epochs')), dataset: data, lr: 0.2, warmup: { epochs: 1, fromLr: 0.1 } });
  const n = t.batchesPerEpoch;
  const seen: number[] = [];
  for (let i = 0; i <= n; i++) {
    seen.push(t.lrNow());
    t.trainStep();
  }
  assert.ok(Math.abs(seen[0] - 0.1) < 1e-12, `first step at ${seen[0]}`);
  for (let i = 1; i < n; i++) assert.ok(seen[i] > seen[i - 1] && seen[i] < 0.2, `step ${i} at ${seen[i]}`);
  assert.equal(seen[n], 0.2, 'the full rate from the second epoch on');
  t.destroy();
});
