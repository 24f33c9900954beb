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
  assert.equal(rep.consensus.testAccuracy, s.testAccuracy);
  assert.ok(fs.existsSync(path.join(out, 'consensus', 'checkpoint.vct')), 'the consensus model is kept as a checkpoint');
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
});

test('Ctrl-C stops every board cleanly and leaves checkpoints that load', async () => {
  const out = path.join(tmp, 'sigint');
  const run = startCli(['train', '--workers', '2', '--epochs', '200', '--data', data, '--out', out, ...common]);
  // Wait until both boards have written an end-of-epoch checkpoint, then interrupt the supervisor only.
  const ck = [0, 1].map((i) => path.join(out, `board-${i}`, 'checkpoint.vct'));
  const t0 = Date.now();
  while (!ck.every((f) => fs.existsSync(f))) {
    assert.ok(Date.now() - t0 < 60_000, 'boards never checkpointed');
    await new Promise((r) => setTimeout(r, 100));
  }
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.json!.interrupted, true);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  for (const b of rep.boards) assert.equal(b.status, 'stopped', `board ${b.board}: ${b.exit ?? ''}`);
  for (const f of ck) {
    const c = loadCheckpoint(f);
    assert.ok(c.epoch >= 1 && c.epoch < 200, `checkpoint ${f} at epoch ${c.epoch}`);
  }
});
