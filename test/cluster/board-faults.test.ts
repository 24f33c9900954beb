// A board that cannot go on must end, and a board that stops talking must be ended for it
// (security review H1 and M6): neither may leave `vctrain train` or systemd waiting for ever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from './cli-run';
import { writeTinyMnist } from './tiny-data';
import { generateKeyFile } from '../../src/sync/index';

let tmp: string, data: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-faults-'));
  // 200 training images: 4 batches of 64 per epoch on one board, 2 per board of two.
  data = writeTinyMnist(path.join(tmp, 'data'), 20, 10);
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a board whose checkpoint cannot be written exits non-zero with one line and leaves no temporary file', async () => {
  const out = path.join(tmp, 'unwritable');
  // A directory where the checkpoint goes: the rename at the end of epoch 1 fails (EISDIR), as a
  // full disk or a read-only mount would fail the write.
  fs.mkdirSync(path.join(out, 'checkpoint.vct'), { recursive: true });
  const key = path.join(tmp, 'k.key');
  generateKeyFile(key);
  const r = await runCli([
    'worker', '--listen', '127.0.0.1:0', '--key-file', key, '--shard', '0/1', '--out', out, '--data', data,
    '--epochs', '2', '--device', 'cpu', '--threads', '1', '--gossip', 'local',
  ], { timeoutMs: 60_000 });
  assert.equal(r.signal, null, `the board had to be killed: it did not exit by itself\n${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.trim().split('\n');
  assert.equal(errors.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(errors[0], /^vctrain: error: .*checkpoint\.vct/);
  assert.deepEqual(fs.readdirSync(out).filter((f) => f.includes('.tmp')), [], 'temporary files removed');
});

test('a board that hangs is killed by the watchdog, reported as hung and left out of the consensus', async () => {
  const out = path.join(tmp, 'hangs');
  // Board 1 blocks after 2 steps (deaf to signals, as in a wedged driver call); board 0 trains on.
  const r = await runCli([
    'train', '--workers', '2', '--epochs', '3', '--data', data, '--out', out, '--device', 'cpu', '--threads', '1',
    '--hang-board', '1:2', '--watchdog', '10', '--json',
  ], { timeoutMs: 90_000 });
  assert.equal(r.signal, null, `the supervisor had to be killed\n${r.stdout}${r.stderr}`);
  assert.equal(r.code, 1, 'a run with a hung board does not pass for a clean one');
  const s = r.json!;
  assert.deepEqual(s.hung, [1]);
  assert.deepEqual(s.died, [1]);
  assert.deepEqual(s.boardsInConsensus, [0]);
  assert.match(r.stdout, /board 1 died \(hung: nothing from it for 10 s; killed/);
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  assert.equal(rep.boards[0].status, 'done');
  assert.equal(rep.boards[1].status, 'died');
  assert.match(rep.boards[1].exit, /^hung/);
});
