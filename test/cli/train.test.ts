// One board through the real command: the progress lines, the --json summary, the report, and
// --resume ending where an uninterrupted run ends. Also `vctrain worker` alone: its JSON log and
// its resume after a stop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../cluster/cli-run';
import { writeTinyMnist } from '../cluster/tiny-data';
import { loadCheckpoint } from '../../src/net/checkpoint';
import { generateKeyFile } from '../../src/sync/index';
import { freeUdpPorts } from '../../src/cluster/supervisor';

let tmp: string, data: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-train-'));
  data = writeTinyMnist(path.join(tmp, 'data'), 40, 20); // 400 train, 200 test
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const one = ['--workers', '1', '--device', 'cpu', '--threads', '1', '--batch', '32'];

test('train --workers 1: plain progress lines, the --json summary last, a report', async () => {
  const out = path.join(tmp, 'one');
  const r = await runCli(['train', ...one, '--epochs', '2', '--data', data, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /epoch 2\/2 batch 13\/13 loss \d+\.\d{4} \d+(\.\d)? img\/s/);
  assert.doesNotMatch(r.stdout, /\x1b\[/, 'no terminal escapes when stdout is not a TTY');
  const s = r.json!;
  for (const k of ['testAccuracy', 'device', 'profile', 'workers', 'epochs', 'imagesPerSecond', 'wallSeconds', 'out']) assert.ok(k in s, k);
  assert.equal(s.workers, 1);
  assert.equal(s.epochs, 2);
  assert.equal(s.device, 'cpu');
  assert.ok((s.testAccuracy as number) > 0.3 && (s.testAccuracy as number) <= 1);
  assert.ok((s.imagesPerSecond as number) > 0);
  assert.ok(fs.existsSync(path.join(out, 'report.html')));
  assert.ok(fs.existsSync(path.join(out, 'checkpoint.vct')));
});

test('--resume continues to the same parameters as an uninterrupted run', async () => {
  const a = path.join(tmp, 'straight'), b = path.join(tmp, 'resumed');
  const base = ['train', ...one, '--data', data, '--seed', '7'];
  assert.equal((await runCli([...base, '--epochs', '2', '--out', a])).code, 0);
  assert.equal((await runCli([...base, '--epochs', '1', '--out', b])).code, 0);
  const r = await runCli([...base, '--epochs', '2', '--out', b, '--resume', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const pa = loadCheckpoint(path.join(a, 'checkpoint.vct')).params, pb = loadCheckpoint(path.join(b, 'checkpoint.vct')).params;
  assert.equal(Buffer.compare(Buffer.from(pa.buffer, pa.byteOffset, pa.byteLength), Buffer.from(pb.buffer, pb.byteOffset, pb.byteLength)), 0);
});

test('worker alone: one JSON object a line, checkpoints, and --resume picks up at the saved epoch', async () => {
  const out = path.join(tmp, 'worker');
  const key = path.join(tmp, 'k.key');
  generateKeyFile(key);
  const [port] = await freeUdpPorts(1);
  const w = ['worker', '--listen', `127.0.0.1:${port}`, '--key-file', key, '--shard', '1/2', '--data', data, '--out', out,
    '--device', 'cpu', '--threads', '1', '--batch', '32', '--log', 'json'];
  const r1 = await runCli([...w, '--epochs', '1']);
  assert.equal(r1.code, 0, r1.stderr);
  const ev1 = r1.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const kinds = new Set(ev1.map((e) => e.event));
  for (const k of ['start', 'progress', 'epoch', 'done']) assert.ok(kinds.has(k), `event ${k}`);
  const start1 = ev1.find((e) => e.event === 'start');
  assert.equal(start1.resumed, false);
  assert.equal(start1.shard, '1/2');
  assert.equal(ev1.at(-1).event, 'done');
  assert.equal(ev1.at(-1).epoch, 1);
  const r2 = await runCli([...w, '--epochs', '2', '--resume']);
  assert.equal(r2.code, 0, r2.stderr);
  const ev2 = r2.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const start2 = ev2.find((e) => e.event === 'start');
  assert.equal(start2.resumed, true);
  assert.equal(start2.epoch, 1);
  assert.deepEqual(ev2.filter((e) => e.event === 'epoch').map((e) => e.epoch), [2], 'only the missing epoch is trained');
});
