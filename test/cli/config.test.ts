// Worker flags from a config file (TOML or JSON) and VCTRAIN_* variables: precedence flag > env >
// file > default, one-line errors naming the file or variable, --help naming all three, the systemd
// template unit, and two workers (one configured only by file, one only by environment) that
// join the same cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs, UsageError } from '../../src/cli/args';
import { WORKER } from '../../src/cli/commands';
import { envName, flagSources } from '../../src/cli/config';
import { generateKeyFile } from '../../src/sync/crypto';
import { freeUdpPorts } from '../../src/sync/udp';
import { BIN } from '../cluster/cli-run';
import { writeTinyMnist } from '../cluster/tiny-data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-config-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, text);
  return f;
};
const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseArgs(WORKER, argv, flagSources(WORKER, argv, env)).flags;
const usage = (fn: () => unknown, re: RegExp) => assert.throws(fn, (e: unknown) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'), re.source);

test('precedence: flag > VCTRAIN_* > config file > default, for TOML and JSON files', () => {
  const toml = write('w.toml', 'listen = "127.0.0.1:7700"\nkey_file = "/k"\nshard = "1/4"\nepochs = 7\nlr = 0.02\nbatch = 16\nsnapshots = true\npeers = ["10.0.0.1:7700", "10.0.0.2:7700"]\n');
  const json = write('w.json', JSON.stringify({ listen: '127.0.0.1:7700', 'key-file': '/k', shard: '1/4', epochs: 7, lr: 0.02, batch: 16 }));
  for (const file of [toml, json]) {
    const f = parse(['--config', file, '--epochs', '9'], { VCTRAIN_EPOCHS: '8', VCTRAIN_LR: '0.03' });
    assert.equal(f.epochs, 9, 'flag beats env and file');
    assert.equal(f.lr, 0.03, 'env beats file');
    assert.equal(f.batch, 16, 'file beats default');
    assert.equal(f.momentum, 0.9, 'default when nobody says');
    assert.deepEqual(f.shard, { index: 1, count: 4 });
  }
  const t = parse(['--config', toml]);
  assert.equal(t.snapshots, true);
  assert.deepEqual(t.peers.map((p) => `${p.host}:${p.port}`), ['10.0.0.1:7700', '10.0.0.2:7700']);
  // VCTRAIN_CONFIG names the file when --config does not.
  assert.equal(parse([], { VCTRAIN_CONFIG: toml }).epochs, 7);
  // An empty variable (a blank EnvironmentFile entry) is unset, not an error.
  assert.equal(parse(['--config', toml], { VCTRAIN_EPOCHS: '' }).epochs, 7);
});

test('bad values and keys are one line naming the variable, or the file and key', () => {
  const base = { VCTRAIN_LISTEN: '127.0.0.1:7700', VCTRAIN_KEY_FILE: '/k', VCTRAIN_SHARD: '0/2' };
  usage(() => parse([], { ...base, VCTRAIN_EPOCHS: 'ten' }), /VCTRAIN_EPOCHS/);
  usage(() => parse([], { ...base, VCTRAIN_RESUME: 'maybe' }), /VCTRAIN_RESUME must be true or false/);
  const typo = write('typo.toml', 'epoch = 3\n');
  usage(() => parse(['--config', typo], base), /typo\.toml: unknown key "epoch"/);
  const broken = write('broken.toml', 'epochs = [1,\n');
  usage(() => parse(['--config', broken], base), /broken\.toml: not valid TOML/);
  const brokenJson = write('broken.json', '{"epochs": }');
  usage(() => parse(['--config', brokenJson], base), /broken\.json: not valid JSON/);
  usage(() => parse(['--config', path.join(tmp, 'none.toml')], base), /none\.toml: cannot read it \(ENOENT\)/);
  usage(() => parse([], {}), /--listen is required/);
  assert.equal(envName('key-file'), 'VCTRAIN_KEY_FILE');
});

test('worker --help names flags, VCTRAIN_* variables and --config', () => {
  const help = execFileSync(process.execPath, [BIN, 'worker', '--help'], { encoding: 'utf8' });
  assert.match(help, /--config FILE/);
  assert.match(help, /VCTRAIN_KEY_FILE/);
  assert.match(help, /flag > environment > config file > default/);
});

test('vctrain@.service: every VCTRAIN_ variable names a worker flag; systemd-analyze verify is silent on it', (t) => {
  const unit = fs.readFileSync(path.join(__dirname, '../../firmware-notes/vctrain@.service'), 'utf8');
  const names = [...unit.matchAll(/^Environment=(VCTRAIN_\w+)=/gm)].map((m) => m[1]);
  assert.ok(names.length >= 4);
  const known = new Set([...Object.keys(WORKER.flags).map(envName), 'VCTRAIN_CONFIG']);
  for (const n of names) assert.ok(known.has(n), `${n} is no worker flag`);
  for (const want of ['Type=exec', 'StateDirectory=', 'LoadCredential=cluster.key:']) assert.ok(unit.includes(want), want);
  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => fs.existsSync(p));
  if (!analyze) {
    t.skip('systemd-analyze is not installed here (the unit\'s text was checked above)');
    return;
  }
  const dir = fs.mkdtempSync(path.join(tmp, 'unit-'));
  fs.copyFileSync(path.join(__dirname, '../../firmware-notes/vctrain@.service'), path.join(dir, 'vctrain@.service'));
  fs.symlinkSync('vctrain@.service', path.join(dir, 'vctrain@vct0.service'));
  const r = spawnSync(analyze, ['verify', path.join(dir, 'vctrain@vct0.service')], { encoding: 'utf8' });
  // verify exits 0 even for unknown keys and bad values; it only complains. Any line naming the unit is a fault.
  const complaints = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('vctrain@'));
  assert.deepEqual(complaints, []);
  assert.equal(r.status, 0);
});

test('a worker configured only by a file and one only by VCTRAIN_* variables join the same cluster', async () => {
  const data = writeTinyMnist(path.join(tmp, 'data'), 40, 10);
  const key = path.join(tmp, 'cluster.key');
  generateKeyFile(key);
  const [pa, pb] = await freeUdpPorts(2);
  const outA = path.join(tmp, 'a'), outB = path.join(tmp, 'b');
  const common = { 'key-file': key, data, epochs: 40, batch: 16, device: 'cpu', threads: 1, gossip: 'local', 'gossip-interval': 300 };
  const conf = write('a.toml', Object.entries({ ...common, listen: `127.0.0.1:${pa}`, peers: [`127.0.0.1:${pb}`], shard: '0/2', out: outA, log: 'json' })
    .map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n') + '\n');
  const envB: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries({ ...common, listen: `127.0.0.1:${pb}`, peers: `127.0.0.1:${pa}`, shard: '1/2', out: outB, log: 'json' })) envB[envName(k)] = String(v);
  // No VCTRAIN_* of the test's own environment may leak into either worker.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VCTRAIN_')));
  const run = (args: string[], env: NodeJS.ProcessEnv) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [BIN, 'worker', ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 150_000);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  const [a, b] = await Promise.all([run(['--config', conf], {}), run([], envB)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  for (const [name, r, shard] of [['file', a, '0/2'], ['env', b, '1/2']] as const) {
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; shard?: string; message?: string });
    assert.equal(events.find((e) => e.event === 'start')?.shard, shard, `${name} worker's shard`);
    assert.ok(events.some((e) => e.event === 'done'), `${name} worker did not finish`);
    // Its own log says when the peer joined; the once-a-second member counts of the progress lines can
    // miss a short run's whole meeting on a loaded machine.
    assert.ok(events.some((e) => e.event === 'log' && / joined /.test(e.message ?? '')), `${name} worker never had its peer as a member`);
  }
  // Each wrote where its own source said.
  assert.ok(fs.existsSync(path.join(outA, 'metrics.csv')) && fs.existsSync(path.join(outB, 'metrics.csv')));
});
