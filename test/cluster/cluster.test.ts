// Local clusters through the real command: board processes on loopback UDP, each training a real
// LeNet on its shard of a small IDX data set, gossiping, checkpointing, dying, being stopped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli, startCli } from './cli-run';
import { writeTinyMnist } from './tiny-data';
import { chartsIn, dumpDom } from '../report/browser';
import { loadCheckpoint } from '../../src/net/checkpoint';
import { readParamsFile } from '../../src/cluster/params-file';

let tmp: string, data: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-cluster-'));
  // 1,200 training images: 600 per board of two, ~10 batches of 64 per epoch.
  data = writeTinyMnist(path.join(tmp, 'data'), 120, 30);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const common = ['--device', 'cpu', '--threads', '1', '--json'];

test('two boards on loopback: both finish, they average, the consensus is evaluated and reported', async () => {
  const out = path.join(tmp, 'two');
  const r = await runCli(['train', '--workers', '2', '--epochs', '6', '--batch', '32', '--data', data, '--out', out, '--gossip-interval', '500', ...common]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const s = r.json!;
  assert.equal(s.workers, 2);
  assert.equal(s.epochs, 6);
  assert.equal(s.device, 'cpu');
  assert.ok(typeof s.testAccuracy === 'number' && s.testAccuracy > 0.5, `consensus accuracy ${s.testAccuracy}`);
  assert.deepEqual(s.boardsInConsensus, [0, 1]);
  assert.deepEqual(s.died, []);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.equal(rep.boards.length, 2);
  let averages = 0, sent = 0;
  for (const b of rep.boards) {
    assert.equal(b.status, 'done');
    assert.equal(b.evals.length, 6, 'one test evaluation per epoch');
    const g = b.gossip[b.gossip.length - 1];
    averages += g.averages;
    sent += g.bytesSent;
    assert.ok(fs.existsSync(path.join(out, `board-${b.board}`, 'checkpoint.vct')));
    assert.ok(fs.existsSync(path.join(out, `board-${b.board}`, 'board.log.jsonl')));
  }
  // One completed exchange averages on both sides and moves at least one model each way (the local
  // preset sends fp16: 2 bytes a parameter).
  assert.ok(averages >= 2, `the boards averaged ${averages} times in all`);
  assert.ok(sent > 2 * 2 * 431_080, `the boards sent ${sent} bytes in all`);
  assert.equal(rep.consensus.evals.length, 6, 'consensus evaluated at every epoch both boards reached');
  // The consensus model is the element-wise mean of the boards' final parameters, bit for bit:
  // meanParams sums in float64 (exact for two float32 values) and rounds once.
  const [a, b] = [0, 1].map((i) => loadCheckpoint(path.join(out, `board-${i}`)).params);
  const c = loadCheckpoint(path.join(out, 'consensus')).params;
  assert.ok(!sameBits(a, b), 'the two boards ended with different parameters (else the mean proves nothing)');
  assertBits(c, a.map((v, i) => (v + b[i]) / 2), 'consensus = mean of the two boards\' final parameters');
  assert.deepEqual(fs.readdirSync(path.join(out, 'board-0')).filter((f) => f.startsWith('epoch-')), [], 'snapshots cleaned up');
  // The report a person opens: every plot drawn with the run's data.
  const charts = chartsIn(dumpDom(path.join(out, 'report.html')));
  assert.equal(charts.get('accuracy')!.get('consensus'), 6);
  for (const id of ['loss', 'throughput', 'bytes', 'averages']) {
    assert.ok((charts.get(id)!.get('board 1 (cpu)') ?? 0) >= 2, `${id} plot of board 1`);
  }
});

test('a board that dies is reported and the other finishes', async () => {
  const out = path.join(tmp, 'dies');
  const r = await runCli(['train', '--workers', '2', '--epochs', '2', '--data', data, '--out', out, '--fault-board', '1:4', ...common]);
  assert.equal(r.code, 1, 'a run with a dead board does not pass for a clean one');
  const s = r.json!;
  assert.deepEqual(s.died, [1]);
  assert.deepEqual(s.boardsInConsensus, [0]);
  assert.ok(typeof s.testAccuracy === 'number');
  assert.match(r.stdout, /board 1 died \(killed by SIGKILL/);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.equal(rep.boards[0].status, 'done');
  assert.equal(rep.boards[1].status, 'died');
  // the survivor alone makes the consensus, and every epoch it finished is on the consensus curve
  assertBits(loadCheckpoint(path.join(out, 'consensus')).params, loadCheckpoint(path.join(out, 'board-0')).params, 'consensus = the survivor\'s final parameters');
  assert.deepEqual(rep.consensus.evals.map((e: { epoch: number }) => e.epoch), [1, 2]);
});

test('Ctrl-C: every board writes a checkpoint of where it stopped, and the run resumes from them', async () => {
  const out = path.join(tmp, 'sigint');
  const run = startCli(['train', '--workers', '2', '--epochs', '200', '--data', data, '--out', out, ...common]);
  // Wait (bounded by the test's timeout, not a clock in here) until both boards have written an
  // end-of-epoch checkpoint, then interrupt the supervisor only.
  const ck = [0, 1].map((i) => path.join(out, `board-${i}`, 'checkpoint.vct'));
  while (!ck.every((f) => fs.existsSync(f))) await new Promise((r) => setTimeout(r, 100));
  const before = ck.map((f) => loadCheckpoint(f).step);
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.json!.interrupted, true);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  for (const b of rep.boards) assert.equal(b.status, 'stopped', `board ${b.board}: ${b.exit ?? ''}`);
  const after = ck.map((f) => loadCheckpoint(f));
  after.forEach((c, i) => {
    assert.ok(c.epoch >= 1 && c.epoch < 200, `checkpoint ${ck[i]} at epoch ${c.epoch}`);
    // the boards went on training after the signal was sent and saved where they stopped: the
    // checkpoint holds exactly the parameters the board left for the consensus at its stop
    assert.ok(c.step > before[i], `board ${i}: checkpoint at step ${c.step}, ${before[i]} before Ctrl-C`);
    assertBits(c.params, readParamsFile(path.join(out, `board-${i}`, 'final.f32')), `board ${i}: checkpoint = parameters at the stop`);
    const progress = fs.readFileSync(path.join(out, `board-${i}`, 'board.log.jsonl'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l)).filter((e) => e.event === 'progress');
    assert.ok(c.samplesSeen >= progress[progress.length - 1].samplesSeen, `board ${i}: checkpoint behind its last progress report`);
  });
  // --resume continues each board from its own checkpoint, to one epoch past the furthest
  const target = Math.max(...after.map((c) => c.epoch)) + 1;
  const res = await runCli(['train', '--workers', '2', '--epochs', String(target), '--data', data, '--out', out, '--resume', ...common]);
  assert.equal(res.code, 0, res.stderr + res.stdout);
  [0, 1].forEach((i) => {
    const c = loadCheckpoint(ck[i]);
    assert.equal(c.epoch, target, `board ${i} after the resumed run`);
    assert.ok(c.step > after[i].step, `board ${i}: resumed at step ${after[i].step}, ended at ${c.step}`);
    const log = fs.readFileSync(path.join(out, `board-${i}`, 'board.log.jsonl'), 'utf8');
    assert.match(log, /"resumed":true/, `board ${i} did not say it resumed`);
  });
});

const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
function assertBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) assert.fail(`${what}: parameter ${i} is ${got[i]}, want ${want[i]}`);
}
