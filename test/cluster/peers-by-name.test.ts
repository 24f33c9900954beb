// --peers by host name: a board given only names for its peer finds it (each datagram to a seed
// goes through dns.lookup, i.e. getaddrinfo: /etc/hosts, or avahi's .local names on Raspberry Pi OS),
// and two names for the same board make one member, not two: members are keyed by board id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generateKeyFile } from '../../src/sync/crypto';
import { freeUdpPorts } from '../../src/sync/udp';
import { BIN } from './cli-run';
import { writeTinyMnist } from './tiny-data';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vct-names-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function worker(args: string[]): Promise<{ code: number | null; events: { event: string; peers?: number; message?: string }[]; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VCTRAIN_')));
  const c = spawn(process.execPath, [BIN, 'worker', ...args, '--log', 'json'], { env: clean, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => c.kill('SIGKILL'), 150_000);
  return new Promise((resolve) => c.on('close', (code) => {
    clearTimeout(timer);
    resolve({ code, stderr, events: stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) });
  }));
}

test('a board that knows its peer only by two host names joins it once', async () => {
  // Two names for this machine: localhost and its host name when that resolves (it does on a Pi and
  // in most containers), else localhost's address written out.
  const host = os.hostname();
  const second = await lookup(host, { family: 4 }).then(() => host, () => '127.0.0.1');
  const data = writeTinyMnist(path.join(tmp, 'data'), 40, 10);
  const key = path.join(tmp, 'cluster.key');
  generateKeyFile(key);
  const [pa, pb] = await freeUdpPorts(2);
  const common = ['--key-file', key, '--data', data, '--epochs', '40', '--batch', '16', '--device', 'cpu', '--threads', '1', '--gossip', 'local', '--gossip-interval', '300'];
  const [a, b] = await Promise.all([
    worker(['--listen', `127.0.0.1:${pa}`, '--peers', `localhost:${pb},${second}:${pb}`, '--shard', '0/2', '--out', path.join(tmp, 'a'), ...common]),
    // B names nobody: if A's names did not resolve, the two would never meet.
    worker(['--listen', `0.0.0.0:${pb}`, '--shard', '1/2', '--out', path.join(tmp, 'b'), ...common]),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  // Who joined, from each board's own log ("member ID at ADDR joined"): the progress lines sample the
  // member count once a second, and on a loaded machine these short runs can meet and part between two.
  const joined = (r: typeof a) => new Set(r.events.filter((e) => e.event === 'log' && / joined /.test(e.message ?? '')).map((e) => e.message!.split(' ')[1]));
  assert.equal(joined(a).size, 1, `A (peers localhost and ${second}) saw ${[...joined(a)].join(', ') || 'no member'} join, not one board once`);
  assert.equal(joined(b).size, 1, 'B never saw A');
  const most = (r: typeof a) => Math.max(...r.events.map((e) => e.peers ?? 0));
  assert.ok(most(a) <= 1, `A counted ${most(a)} members for one board`);
});
