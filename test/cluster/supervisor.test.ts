// The supervisor's rarer paths: SIGTERM, a second Ctrl-C while the boards are stopping, a board
// whose process cannot start, and every board dead (no consensus to make).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BIN, startCli } from './cli-run';
import { writeTinyMnist } from './tiny-data';
import { consensus, runCluster } from '../../src/cluster/supervisor';
import { generateKeyFile } from '../../src/sync/crypto';

let tmp: string, data: string, slowStop: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-super-'));
  data = writeTinyMnist(path.join(tmp, 'data'), 60, 10);
  // 4,000 test images: a board's stop (checkpoint, then a test evaluation) takes long enough for a
  // second Ctrl-C to find it still running
  slowStop = writeTinyMnist(path.join(tmp, 'slow'), 60, 400);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const common = ['--device', 'cpu', '--threads', '1', '--json'];

/** Starts a two-board run and resolves once the supervisor has seen both boards training. */
async function started(out: string, dataDir: string) {
  const run = startCli(['train', '--workers', '2', '--epochs', '200', '--data', dataDir, '--out', out, ...common]);
  let stdout = '';
  run.child.stdout!.on('data', (d: string) => (stdout += d));
  // Bounded by the test's timeout: the event is each board's first progress line in its log.
  const logs = [0, 1].map((i) => path.join(out, `board-${i}`, 'board.log.jsonl'));
  const progressed = (f: string) => fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes('"event":"progress"');
  while (!logs.every(progressed)) await new Promise((r) => setTimeout(r, 100));
  return { run, stdout: () => stdout };
}

test('SIGTERM stops every board the way Ctrl-C does', async () => {
  const out = path.join(tmp, 'term');
  const { run } = await started(out, data);
  run.child.kill('SIGTERM');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.json!.interrupted, true);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  for (const b of rep.boards) assert.equal(b.status, 'stopped', `board ${b.board}: ${b.exit ?? ''}`);
});

test('a second Ctrl-C kills the boards that are still stopping', async () => {
  const out = path.join(tmp, 'twice');
  const { run, stdout } = await started(out, slowStop);
  run.child.kill('SIGINT');
  // the supervisor has handled the first one when it says so; only then is a second one a second
  while (!/Ctrl-C again to kill them/.test(stdout())) await new Promise((r) => setTimeout(r, 20));
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr + r.stdout);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  const killed = rep.boards.filter((b: { exit?: string }) => /killed by SIGKILL/.test(b.exit ?? ''));
  assert.ok(killed.length >= 1, `no board was killed: ${JSON.stringify(rep.boards.map((b: { status: string; exit?: string }) => [b.status, b.exit]))}`);
});

test('a board whose process cannot start is reported as such, and with no board left there is no consensus', async () => {
  const dir = path.join(tmp, 'nostart');
  fs.mkdirSync(dir);
  const keyFile = path.join(dir, 'cluster.key');
  generateKeyFile(keyFile);
  const notes: string[] = [];
  const res = await runCluster({
    workers: 2, runDir: dir, keyFile, boardArgs: [], command: { exe: path.join(dir, 'no-such-node'), args: [] }, onNote: (l) => notes.push(l),
  });
  for (const b of res.boards) {
    assert.equal(b.report.status, 'died');
    assert.match(b.report.exit ?? '', /^could not start: .*ENOENT/);
  }
  let evaluated = 0;
  const c = consensus(res, () => { evaluated++; return { accuracy: 1, loss: 0 }; });
  assert.equal(c.final, undefined);
  assert.deepEqual(c.evals, []);
  assert.equal(evaluated, 0);
});

test('every board dying mid-run leaves no final consensus, and the epochs none finished are not on its curve', async () => {
  const dir = path.join(tmp, 'alldead');
  fs.mkdirSync(dir);
  const keyFile = path.join(dir, 'cluster.key');
  generateKeyFile(keyFile);
  const res = await runCluster({
    workers: 2, runDir: dir, keyFile, boardArgs: ['--epochs', '3', '--data', data, '--device', 'cpu', '--threads', '1', '--batch', '32'],
    // the default command is this process's own entry script: here, this test file
    command: { exe: process.execPath, args: [BIN] },
    // board 0 dies in its second epoch (300 images a board: 10 batches an epoch), board 1 in its first
    extraArgs: { 0: ['--die-after', '13'], 1: ['--die-after', '3'] },
  });
  for (const b of res.boards) {
    assert.equal(b.report.status, 'died');
    assert.match(b.report.exit ?? '', /killed by SIGKILL/);
  }
  const c = consensus(res, () => ({ accuracy: 0.5, loss: 1 }));
  assert.equal(c.final, undefined, 'no board finished, so there are no final parameters to average');
  // board 0 finished epoch 1 and board 1 never did; with both dead, epoch 1 has one board's snapshot
  assert.deepEqual(c.evals.map((e) => e.epoch), [1]);
});
