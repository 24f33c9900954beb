// --json on failure: the last stdout line is {"error", "exitCode"}; keygen's file, mode and refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { jsonFailureLine } from '../../src/cli/main';
import { loadKeyFile } from '../../src/sync/crypto';

const BIN = path.resolve(__dirname, '../../bin/vctrain.cjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-jsonfail-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
  const last = r.stdout.trimEnd().split('\n').pop() ?? '';
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(last);
  } catch {
    json = undefined;
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json };
}

test('a failing command with --json ends stdout with {error, exitCode}; without --json stdout stays empty', () => {
  const missing = path.join(tmp, 'no-such-run');
  const r = run(['export', missing, '--format', 'onnx', '--out', path.join(tmp, 'm.onnx'), '--json']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.deepEqual(Object.keys(r.json ?? {}).sort(), ['error', 'exitCode']);
  assert.equal(r.json!.exitCode, 1);
  assert.match(String(r.json!.error), /no-such-run: missing/);
  const plain = run(['export', missing, '--format', 'onnx', '--out', path.join(tmp, 'm.onnx')]);
  assert.equal(plain.code, 1);
  assert.equal(plain.stdout, '');
});

test('a usage error with --json: exitCode 2 in the last line', () => {
  const r = run(['train', '--epochs', '0', '--json']);
  assert.equal(r.code, 2);
  assert.equal(r.json!.exitCode, 2);
  assert.match(String(r.json!.error), /--epochs/);
});

test('jsonFailureLine: only on failure, only with --json or --log json before any --', () => {
  assert.equal(jsonFailureLine(['x', '--json'], 0, 'e'), null);
  assert.equal(jsonFailureLine(['x'], 1, 'e'), null);
  assert.equal(jsonFailureLine(['x', '--', '--json'], 1, 'e'), null);
  assert.deepEqual(JSON.parse(jsonFailureLine(['worker', '--log', 'json'], 1, 'bad key')!), { error: 'bad key', exitCode: 1 });
  assert.deepEqual(JSON.parse(jsonFailureLine(['worker', '--log=json'], 2, 'u')!), { error: 'u', exitCode: 2 });
});

test('vctrain keygen writes a 0600 key the workers read, and refuses to overwrite it', () => {
  const f = path.join(tmp, 'cluster.key');
  const r = run(['keygen', f, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.json!.keyFile, f);
  assert.equal(fs.statSync(f).mode & 0o777, 0o600);
  const key = loadKeyFile(f);
  assert.equal(key.length, 32);
  const before = fs.readFileSync(f, 'utf8');
  assert.match(before, /^[0-9a-f]{64}\n$/);

  const again = run(['keygen', f, '--json']);
  assert.equal(again.code, 1);
  assert.deepEqual(again.stderr.trim().split('\n'), [`vctrain: error: key file ${f}: already exists (not overwriting a cluster key)`]);
  assert.equal(again.json!.exitCode, 1);
  assert.equal(fs.readFileSync(f, 'utf8'), before, 'the key is unchanged');

  const nodir = run(['keygen', path.join(tmp, 'no', 'dir', 'k')]);
  assert.equal(nodir.code, 1);
  assert.equal(nodir.stderr.trim().split('\n').length, 1);
  assert.match(nodir.stderr, /no\/dir\/k: cannot write it/);
  // Two keys differ (it is random, not a constant).
  const g = path.join(tmp, 'second.key');
  assert.equal(run(['keygen', g]).code, 0);
  assert.notEqual(fs.readFileSync(g, 'utf8'), before);
});
