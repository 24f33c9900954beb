// What a user sees for a bad command line, through the real command: one line on stderr naming
// the flag, exit code 2, no stack trace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../cluster/cli-run';

const cases: [string[], RegExp][] = [
  [['train', '--bogus'], /unknown flag --bogus/],
  [['train', '--batch', '0'], /--batch must be a positive integer/],
  [['train', '--lr', '-1'], /--lr must be positive/],
  [['train', '--device', 'npu'], /--device must be one of auto\|gl\|cpu/],
  [['worker', '--listen', '127.0.0.1:7700', '--key-file', 'k', '--shard', '5/4'], /--shard 5\/4: I must be below N/],
  [['frobnicate'], /unknown command "frobnicate"/],
];

test('bad command lines: one line, exit 2, no stack', async () => {
  for (const [argv, re] of cases) {
    const r = await runCli(argv);
    assert.equal(r.code, 2, `${argv.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
});

test('--help and per-command help', async () => {
  const top = await runCli(['--help']);
  assert.equal(top.code, 0);
  for (const c of ['train', 'worker', 'probe', 'bench', 'export']) assert.match(top.stdout, new RegExp(`\\b${c}\\b`));
  const tr = await runCli(['train', '--help']);
  assert.equal(tr.code, 0);
  assert.match(tr.stdout, /--workers N/);
  assert.match(tr.stdout, /--epochs E/);
  assert.doesNotMatch(tr.stdout, /--fault-board/);
  const wk = await runCli(['worker', '--help']);
  assert.match(wk.stdout, /--key-file FILE/);
});
