// `vctrain report` over the folders of a real 3-board cluster: three separate `vctrain worker`
// processes (no supervisor, as on three Pis), each writing its own events.jsonl, metrics.csv and
// parameter files; the report rebuilt from those folders is opened in headless Chromium and must
// plot all three boards and the consensus curve.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli, BIN } from '../cluster/cli-run';
import { writeTinyMnist } from '../cluster/tiny-data';
import { chartsIn, dumpDom } from './browser';
import { generateKeyFile } from '../../src/sync/crypto';
import { freeUdpPorts } from '../../src/sync/udp';
import { METRICS_COLUMNS } from '../../src/cluster/board-record';
import { loadCheckpoint } from '../../src/net/checkpoint';
import { reportFromLogs } from '../../src/cluster/report-from-logs';

let tmp: string, data: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-report-boards-'));
  data = writeTinyMnist(path.join(tmp, 'data'), 90, 20); // 900 training images: 300 per board
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const EPOCHS = 3;

function worker(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'worker', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
  return new Promise((resolve) => child.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stderr });
  }));
}

test('three separate workers, then vctrain report over their folders: all three boards and the consensus in Chromium', async () => {
  const key = path.join(tmp, 'cluster.key');
  generateKeyFile(key);
  const ports = await freeUdpPorts(3);
  const addrs = ports.map((p) => `127.0.0.1:${p}`);
  const dirs = [0, 1, 2].map((i) => path.join(tmp, `pi-${i}`));
  const results = await Promise.all([0, 1, 2].map((i) => worker([
    '--listen', addrs[i], '--peers', addrs.filter((_, j) => j !== i).join(','), '--key-file', key, '--shard', `${i}/3`,
    '--out', dirs[i], '--data', data, '--epochs', String(EPOCHS), '--batch', '32', '--device', 'cpu', '--threads', '1',
    '--snapshots', '--gossip', 'local', '--gossip-interval', '400',
  ])));
  results.forEach((r, i) => assert.equal(r.code, 0, `worker ${i}: ${r.stderr}`));

  // metrics.csv: a header and one row per epoch, written by the board itself.
  for (const d of dirs) {
    const rows = fs.readFileSync(path.join(d, 'metrics.csv'), 'utf8').trim().split('\n');
    assert.equal(rows[0], METRICS_COLUMNS.join(','));
    assert.equal(rows.length, 1 + EPOCHS);
    const last = rows[EPOCHS].split(',');
    assert.equal(last[1], String(EPOCHS));
    const acc = Number(last[3]);
    assert.ok(acc > 0.3 && acc <= 1, `test accuracy ${acc} in ${d}/metrics.csv`);
  }

  const out = path.join(tmp, 'report');
  const r = await runCli(['report', ...dirs, '--out', out, '--data', data, '--json']);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.equal(r.json!.boards, 3);
  assert.deepEqual(r.json!.boardsInConsensus, [0, 1, 2]);
  assert.equal(r.json!.consensusCurve, EPOCHS);
  assert.ok(typeof r.json!.testAccuracy === 'number' && r.json!.testAccuracy > 0.3);
  // The consensus model is saved where export finds it.
  assert.equal(loadCheckpoint(path.join(out, 'consensus')).params.length, 431080);

  const charts = chartsIn(dumpDom(path.join(out, 'report.html')));
  const acc = charts.get('accuracy')!;
  for (const b of [0, 1, 2]) {
    assert.equal(acc.get(`board ${b} (cpu)`), EPOCHS, `accuracy points of board ${b}: ${[...acc.keys()]}`);
    for (const id of ['loss', 'throughput', 'bytes', 'averages']) {
      assert.ok((charts.get(id)!.get(`board ${b} (cpu)`) ?? 0) >= 2, `${id} plot of board ${b}`);
    }
  }
  assert.equal(acc.get('consensus'), EPOCHS);

  // The log files alone (as a supervisor's board.log.jsonl, or journalctl output saved to a file):
  // the boards' curves, and no consensus without their parameter files.
  const logsOnly = path.join(tmp, 'logs-only');
  const files = dirs.map((d, i) => {
    fs.mkdirSync(path.join(logsOnly, `b${i}`), { recursive: true });
    const f = path.join(logsOnly, `b${i}`, 'board.log.jsonl');
    fs.copyFileSync(path.join(d, 'events.jsonl'), f);
    return f;
  });
  const fromFiles = await reportFromLogs({ paths: files, out: path.join(logsOnly, 'report') });
  assert.deepEqual(fromFiles.report.boards.map((b) => [b.board, b.status, b.evals.length]), [[0, 'done', EPOCHS], [1, 'done', EPOCHS], [2, 'done', EPOCHS]]);
  assert.equal(fromFiles.report.consensus.testAccuracy, undefined);
  assert.match(fromFiles.report.consensus.method, /no board folder holds final\.f32/);
});

test('vctrain report names a folder with no board log in one line', async () => {
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  const r = await runCli(['report', empty, '--json']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /empty: no events\.jsonl or board\.log\.jsonl/);
  assert.equal(r.json!.exitCode, 1);
});
