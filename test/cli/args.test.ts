// Command-line parsing: every mistake is one line naming the flag; good input parses to the
// values the commands use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatHelp, parseArgs, parseShard, UsageError, type CommandSpec } from '../../src/cli/args';
import { COMMANDS, EXPORT, TRAIN, WORKER, topHelp } from '../../src/cli/commands';

function usageError(argv: string[], spec: CommandSpec = TRAIN): string {
  try {
    parseArgs(spec, argv);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected a UsageError, got ${e}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  assert.fail(`accepted ${argv.join(' ')}`);
}

test('bad flags name the flag', () => {
  assert.match(usageError(['--bogus']), /unknown flag --bogus/);
  assert.match(usageError(['-x']), /unknown flag -x/);
  assert.match(usageError(['--batch', '0']), /--batch must be a positive integer, got "0"/);
  assert.match(usageError(['--batch', '2.5']), /--batch must be a positive integer/);
  assert.match(usageError(['--lr', '-0.1']), /--lr must be positive, got "-0.1"/);
  assert.match(usageError(['--lr', 'abc']), /--lr must be a number/);
  assert.match(usageError(['--momentum', '1']), /--momentum must be in \[0, 1\)/);
  assert.match(usageError(['--device', 'tpu']), /--device must be one of auto\|gl\|cpu, got "tpu"/);
  assert.match(usageError(['--epochs']), /--epochs needs a value/);
  assert.match(usageError(['--json=1']), /--json takes no value/);
  assert.match(usageError(['--batch', '8', '--batch', '9']), /--batch given twice/);
  assert.match(usageError(['extra']), /unexpected argument "extra"/);
  assert.match(usageError(['--shard', '5/4', '--listen', '127.0.0.1:1', '--key-file', 'k'], WORKER), /--shard 5\/4: I must be below N/);
  assert.match(usageError(['--shard', '0/4', '--listen', 'nohost', '--key-file', 'k'], WORKER), /--listen must be HOST:PORT/);
  assert.match(usageError(['--shard', '0/4', '--listen', '127.0.0.1:1', '--key-file', 'k', '--peers', 'a:1,b:99999'], WORKER), /--peers b:99999: port/);
  assert.match(usageError(['--shard', '0/4', '--key-file', 'k'], WORKER), /--listen is required/);
  assert.match(usageError(['--format', 'tfjs', '--out', 'x'], EXPORT), /missing CHECKPOINT/);
});

test('defaults and conversions', () => {
  const p = parseArgs(TRAIN, ['--workers=2', '--lr', '0.1', '--json', '--data', 'd']);
  assert.equal(p.flags.workers, 2);
  assert.equal(p.flags.lr, 0.1);
  assert.equal(p.flags.batch, 64);
  assert.equal(p.flags.device, 'auto');
  assert.equal(p.flags.json, true);
  assert.equal(p.flags.data, 'd');
  assert.equal(p.flags.workers !== undefined, true);
  const w = parseArgs(WORKER, ['--listen', '[::1]:9000', '--peers', '10.0.0.2:9000, 10.0.0.3:9000', '--key-file', 'k', '--shard', '2/3']);
  assert.deepEqual(w.flags.listen, { host: '::1', port: 9000 });
  assert.deepEqual(w.flags.peers, [{ host: '10.0.0.2', port: 9000 }, { host: '10.0.0.3', port: 9000 }]);
  assert.deepEqual(w.flags.shard, { index: 2, count: 3 });
  assert.equal(p.flags['lr-rule'], 'fixed');
  assert.equal(p.flags['warmup-epochs'], 0);
  const s = parseArgs(WORKER, ['--listen', '0.0.0.0:9000', '--key-file', 'k', '--shard', '0/9', '--lr-rule', 'sqrt', '--warmup-epochs', '1.5', '--gossip-budget', '1.5']);
  assert.equal(s.flags['lr-rule'], 'sqrt');
  assert.equal(s.flags['warmup-epochs'], 1.5);
  assert.equal(s.flags['gossip-budget'], 1.5);
  assert.throws(() => parseArgs(TRAIN, ['--lr-rule', 'linear']), /--lr-rule/);
  assert.throws(() => parseArgs(TRAIN, ['--gossip-budget', '-1']), /--gossip-budget/);
});

test('shard I/N parses exactly when 0 <= I < N', () => {
  fc.assert(fc.property(fc.nat(1000), fc.nat(1000), (i, n) => {
    const s = `${i}/${n}`;
    if (i < n) assert.deepEqual(parseShard(s), { index: i, count: n });
    else assert.throws(() => parseShard(s), UsageError);
  }));
});

test('help lists every visible flag and hides test switches', () => {
  for (const c of COMMANDS) {
    const h = formatHelp(c);
    for (const [name, f] of Object.entries(c.flags)) {
      assert.equal(h.includes(`--${name}`), !f.hidden, `${c.name} --${name}`);
    }
  }
  for (const c of COMMANDS) assert.ok(topHelp().includes(c.name));
});
