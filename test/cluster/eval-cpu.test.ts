// A board's test evaluations are neither training nor gossip: the trainer reports their CPU to its
// gossip thread, whose budget leaves it out of the share's training CPU (issue 11). Counted as
// training, ten boards' evaluations (more CPU than their training) let gossip take 0.62x the
// training CPU under a budget of 1.5 that read 0.28.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startBoard } from '../../src/cluster/board';
import { SharedSnapshot } from '../../src/cluster/shared-snapshot';
import type { BoardEvent } from '../../src/cluster/events';
import { CpuEngine } from '../../src/kernels/cpu/engine';
import { loadDataset } from '../../src/net/data';
import { evaluateParams } from '../../src/net/evaluate';
import { initParams } from '../../src/net/lenet';
import { generateKeyFile } from '../../src/sync/keyfile';
import { writeTinyMnist } from './tiny-data';

const ENTRY = path.join(__dirname, '..', '..', 'bin', 'vctrain.cjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-eval-cpu-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const keyFile = path.join(tmp, 'cluster.key');
generateKeyFile(keyFile);

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

test('the gossip thread counts an evaluation as not training while it runs, and its whole cost once it ends', () => {
  const s = SharedSnapshot.create(10);
  assert.equal(s.notTrainingMs(5_000), 0, 'none yet, whatever the clock reads');
  s.notTrainingBegan(1_000);
  assert.equal(s.notTrainingMs(1_400), 400, 'under way: what the clock added since it began');
  s.notTrainingEnded(700);
  assert.equal(s.notTrainingMs(9_000), 700, 'ended: the total the trainer measured, the clock no longer matters');
  s.notTrainingBegan(9_000);
  assert.equal(s.notTrainingMs(9_250), 950, 'a second one adds to the first');
});

test('a board that mostly evaluates reports that CPU to its gossip budget as evaluation, not training', { timeout: 120_000 }, async () => {
  // 60 training images (4 steps of 16) against 2,000 test images an epoch: evaluation is most of the
  // trainer's CPU, as at ten boards on the built-in digits.
  const dataDir = writeTinyMnist(path.join(tmp, 'data'), 6, 200);
  const dataset = loadDataset({ dataDir });
  const epochs = 3;
  // what one evaluation of the test split costs here, on the board's engine (one CPU thread)
  const engine = new CpuEngine({ threads: 1 });
  const c0 = process.cpuUsage();
  evaluateParams(engine, initParams(1), dataset.test);
  const oneEvalMs = cpuMs(process.cpuUsage(c0));
  engine.destroy();

  const events: BoardEvent[] = [];
  const p0 = process.cpuUsage();
  const board = startBoard({
    epochs, batch: 16, lr: 0.05, lrRule: 'fixed', warmupEpochs: 0, momentum: 0.9, weightDecay: 0, seed: 3, device: 'cpu', threads: 1, act: 'tanh',
    dataDir, listen: { host: '127.0.0.1', port: 0 }, peers: [], keyFile, cluster: 'evalcpu', shard: { index: 0, count: 1 },
    out: path.join(tmp, 'board'), resume: false, entry: ENTRY,
  }, (ev) => events.push(ev));
  const done = await board.done;
  const boardMs = cpuMs(process.cpuUsage(p0));
  const evalMs = done.evalCpuMs ?? 0;
  const why = `one evaluation ${oneEvalMs.toFixed(0)} ms, the board's process CPU ${boardMs.toFixed(0)} ms; reported: ${JSON.stringify(done)}`;
  // one evaluation an epoch (the final one is the last epoch's, kept), each about oneEvalMs
  assert.ok(evalMs >= 0.5 * epochs * oneEvalMs, `the board's ${epochs} evaluations should be reported, got ${evalMs.toFixed(0)} ms; ${why}`);
  assert.ok(evalMs <= boardMs, `more reported than the process used; ${why}`);
});
